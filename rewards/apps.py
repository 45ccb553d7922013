from django.apps import AppConfig


def _reward_runner(run, context) -> dict:
    """Imports torch only when a run starts, so web processes and commands start fast."""
    from rewards.runner import reward_runner

    return reward_runner(run, context)


class RewardsConfig(AppConfig):
    name = "rewards"

    def ready(self) -> None:
        from training.registry import register_runner

        register_runner("reward", _reward_runner)
