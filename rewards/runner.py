"""The `reward` runner: a TrainingRun's life inside the worker. Loads the frozen dataset, trains
with checkpoints (resuming from the last one when the run was redelivered), reports progress as
the heartbeat, evaluates on held-out data and registers the model."""

import math
import time
from pathlib import Path
from typing import Any

from django.conf import settings

from rewards.engine import RewardConfig, planned_steps, resume_step, train_reward_model
from rewards.models import PreferenceDataset
from rewards.services.registry import reward_model_register
from rewards.services.snapshot import dataset_elements
from training.artifacts import artifact_materialize, artifact_publish, run_key, run_local_dir
from training.writable import artifact_dir_ready, artifact_writes

DEFAULT_SAVE_STEPS = 50


def run_output_dir(run_id: int) -> Path:
    return run_local_dir(run_id)


def json_safe(value: Any) -> Any:
    """NaN and infinities become None (PostgreSQL's jsonb refuses them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def reward_config_for_run(run) -> tuple[RewardConfig, int]:
    """The engine config for a run, and the metrics window (the run's logging_steps). The engine
    itself logs every step, so every step can heartbeat and notice a cancel."""
    values = dict(run.config)
    values["output_dir"] = str(run_output_dir(run.pk))
    if values.get("init_adapter"):  # a storage key (or an older row's path): a local copy to start from
        values["init_adapter"] = str(artifact_materialize(values["init_adapter"]))
    if not values.get("threads"):
        values["threads"] = settings.TORCH_THREADS
    values.setdefault("save_steps", DEFAULT_SAVE_STEPS)
    window = int(values.get("logging_steps") or 10)
    values["logging_steps"] = 1
    return RewardConfig.from_dict(values), max(1, window)


class Reporter:
    """on_log hook: metrics averaged over each window of steps; a bare heartbeat in between,
    at most every `heartbeat_s` seconds. context.report raises RunCancelled on a cancel."""

    def __init__(self, context, total_steps: int, window: int, heartbeat_s: float):
        self.context, self.total, self.window, self.heartbeat_s = context, total_steps, window, heartbeat_s
        self.rows: list[dict[str, float]] = []
        self.last = time.monotonic()
        self.last_metrics: dict[str, float] = {}

    def __call__(self, row: dict[str, float]) -> None:
        self.rows.append(row)
        step = int(row["step"])
        if step % self.window == 0 or step >= self.total:
            self.last_metrics = json_safe(self._average())
            self.rows.clear()
            self.context.report(step=step, total_steps=self.total, metrics=self.last_metrics)
            self.last = time.monotonic()
        elif time.monotonic() - self.last >= self.heartbeat_s:
            self.context.report(step=step, total_steps=self.total)
            self.last = time.monotonic()

    def _average(self) -> dict[str, float]:
        out = {}
        for key in self.rows[0]:
            if key in ("step", "total_steps"):
                continue
            values = [r[key] for r in self.rows if isinstance(r.get(key), int | float) and not math.isnan(r[key])]
            if key in ("lr", "elements_per_second"):
                out[key] = self.rows[-1][key]
            elif values:
                out[key] = sum(values) / len(values)
        return out


def reward_runner(run, context, *, progress: bool = False) -> dict[str, Any]:
    """Train the run's reward model; returns {"metrics", "artifact_path"}."""
    dataset = PreferenceDataset.objects.select_related("project").get(pk=run.inputs["dataset"])
    config, window = reward_config_for_run(run)
    artifact_dir_ready(config.output_dir)  # a folder that cannot be written fails now, before any work
    train, heldout = dataset_elements(dataset)  # from the artifact storage: a snapshot made on any machine
    total = planned_steps(config, train)
    start = resume_step(config, train)
    if start:
        context.log(f"resuming after step {start} of {total}")
    context.log(f"dataset {dataset.pk} ({dataset.content_hash[:12]}): {len(train)} train, {len(heldout)} held-out "
                f"elements; base {config.base_model}; {total} steps")
    heartbeat_s = max(0.2, min(10.0, settings.RUN_STALE_SECONDS / 4))
    reporter = Reporter(context, total, window, heartbeat_s)
    with artifact_writes(config.output_dir):  # a full disk at a checkpoint or the final save: named, not registered
        result = train_reward_model(config, train, heldout or None, resume=True, progress=progress, on_log=reporter)
    metrics = json_safe({**result.metrics, **{f"train_{k}": v for k, v in reporter.last_metrics.items()
                                              if k in ("loss", "accuracy", "reward_gap")},
                         "resumed_from_step": start, "dataset": dataset.pk, "reward_offset": result.reward_offset})
    context.log(f"trained {result.steps} steps; held-out accuracy {metrics.get('eval_accuracy')}")
    key = artifact_publish(local_dir=config.output_dir, key=run_key(run.pk))  # before a row names it
    model = reward_model_register(
        run=run, dataset=dataset, base_model=config.base_model, adapter_path=key,
        metrics=metrics, offset=result.reward_offset, heldout=heldout,
    )
    metrics.update(reward_model=model.pk, activated=model.is_active)
    return {"metrics": metrics, "artifact_path": key}
