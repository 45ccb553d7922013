from django.apps import AppConfig


def _runner(kind: str):
    """Imports torch only when a run starts, so web processes and commands start fast."""

    def run(run, context) -> dict:
        from policy.runner import RUNNERS

        return RUNNERS[kind](run, context)

    return run


class PolicyConfig(AppConfig):
    name = "policy"

    def ready(self) -> None:
        from training.registry import register_runner

        for kind in ("sft", "ppo", "generate"):
            register_runner(kind, _runner(kind))
