"""Which function trains each kind of run. Apps register their runner in AppConfig.ready(), so
training imports none of them (imports point one way: rewards and policy import training)."""

from collections.abc import Callable

_RUNNERS: dict[str, Callable] = {}


def register_runner(kind: str, runner: Callable) -> None:
    """runner(run, context) trains and returns {"metrics": {...}, "artifact_path": str}; the
    context is a training.services.RunContext (report progress, log)."""
    _RUNNERS[kind] = runner


def runner_for(kind: str) -> Callable:
    try:
        return _RUNNERS[kind]
    except KeyError:
        raise LookupError(f"no runner registered for {kind!r} runs; registered: {sorted(_RUNNERS)}") from None


_FINISH_HOOKS: list[Callable] = []


def register_finish_hook(hook: Callable) -> None:
    """hook(run) is called after a run reaches a terminal state (succeeded, failed, cancelled),
    e.g. by an app that waits for runs (rounds) without training importing it. Registered once."""
    if hook not in _FINISH_HOOKS:
        _FINISH_HOOKS.append(hook)


def finish_hooks() -> tuple[Callable, ...]:
    return tuple(_FINISH_HOOKS)
