from django.apps import AppConfig


def _run_finished(run) -> None:
    from rounds.services import round_on_run_finished

    round_on_run_finished(run=run)


class RoundsConfig(AppConfig):
    """RLHF rounds. Imports labeling, rewards, policy and training; none of them imports rounds:
    training calls back through its finish-hook registry when a run ends."""

    name = "rounds"

    def ready(self) -> None:
        from training.registry import register_finish_hook

        register_finish_hook(_run_finished)
