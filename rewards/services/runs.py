"""Reward-model training runs: create one for a frozen dataset (queued for a worker, or run in
this process by the CLI)."""

import functools
import socket
from dataclasses import replace
from typing import Any

from rewards.models import PreferenceDataset, RewardModel
from rewards.selectors import reward_model_active
from training.artifacts import artifact_materialize
from training.models import TrainingRun
from training.services import run_create, run_execute

DEFAULT_CONFIG = {"save_steps": 50}


class RunConfigError(ValueError):
    """The training settings are not valid RewardConfig settings."""


def reward_run_config(*, base_model: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    from rewards.engine import RewardConfig
    from rewards.engine.model import init_adapter_meta

    values = {**DEFAULT_CONFIG, **(config or {}), "base_model": base_model}
    values.pop("output_dir", None)  # every run writes to ARTIFACT_DIR/runs/<id>
    try:
        checked = RewardConfig(**values)
        if checked.init_adapter:  # refuse a mismatched start here, not in the worker
            init_adapter_meta(replace(checked, init_adapter=str(artifact_materialize(checked.init_adapter))))
    except (TypeError, ValueError, OSError) as exc:
        raise RunConfigError(f"bad training settings: {exc}") from None
    return values


def reward_run_settings(
    *, base_model: str = "", config: dict[str, Any] | None = None, fine_tune_from: RewardModel | None = None,
) -> dict[str, Any]:
    """The checked settings of a reward run (RunConfigError names the problem); call it before
    snapshotting so a bad request leaves nothing behind. ``fine_tune_from`` supplies the base
    model and the adapter to start from; without it and without ``base_model`` the run uses the
    offline default base (``reward_base_model``)."""
    config = dict(config or {})
    if fine_tune_from is not None:
        if base_model and base_model != fine_tune_from.base_model:
            raise RunConfigError(f"reward model {fine_tune_from.pk} was trained on {fine_tune_from.base_model!r}, "
                                 f"not {base_model!r}; leave the base model out to use its own")
        base_model = fine_tune_from.base_model
        config["init_adapter"] = fine_tune_from.adapter_path
    else:
        base_model = reward_base_model(base_model)
    return reward_run_config(base_model=base_model, config=config)


def reward_base_model(value: str | None) -> str:
    """The base a new reward model trains on: ``value`` (a local folder or a hub id, checked so an
    unreachable hub fails within seconds), or the offline all-MiniLM-L6-v2 folder that ``make setup``
    prepares. RunConfigError names the fix."""
    from policy.services.models_prep import ModelPrepError, resolve_base_model

    try:
        return resolve_base_model(value or None, kind="reward")
    except ModelPrepError as exc:
        raise RunConfigError(str(exc)) from None


def reward_run_create(
    *, dataset: PreferenceDataset, base_model: str = "", config: dict[str, Any] | None = None,
    created_by=None, enqueue: bool = True, fine_tune_from: RewardModel | None = None,
    min_heldout: int | None = None,
) -> TrainingRun:
    """A reward run on this dataset; sent to the `gpu` queue unless enqueue is False. With
    ``fine_tune_from`` the run continues that model's adapter (same base) and records it as parent.
    ``min_heldout``: held-out comparisons the model needs to be activated automatically (None: the
    setting, ``registry.min_heldout_default()``), recorded in the run's inputs."""
    from rewards.services.registry import min_heldout_default

    values = reward_run_settings(base_model=base_model, config=config, fine_tune_from=fine_tune_from)
    active = reward_model_active(project=dataset.project)
    inputs = {"dataset": dataset.pk, "dataset_hash": dataset.content_hash, "project": dataset.project.slug,
              "active_model": active.pk if active else None,
              "fine_tuned_from": fine_tune_from.pk if fine_tune_from else None,
              "min_heldout": min_heldout_default() if min_heldout is None else int(min_heldout)}
    if enqueue:
        return run_create(kind=TrainingRun.Kind.REWARD, config=values, inputs=inputs, created_by=created_by)
    return TrainingRun.objects.create(kind=TrainingRun.Kind.REWARD, config=values, inputs=inputs,
                                      created_by=created_by)


def reward_run_execute_here(*, run: TrainingRun, progress: bool = True) -> TrainingRun:
    """Claim and train a queued run in this process, recording the outcome as a worker would."""
    from rewards.runner import reward_runner

    finished = run_execute(
        run_id=run.pk,
        worker=f"cli@{socket.gethostname()}",
        runner=functools.partial(reward_runner, progress=progress),
        raise_errors=True,
    )
    return finished or TrainingRun.objects.get(pk=run.pk)
