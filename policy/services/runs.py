"""Policy runs (SFT, PPO, generation): check the settings, resolve what the project supplies
(prompts, the active reward model, the active policy to start from), then queue the run for a
`gpu` worker or execute it in this process (the CLI)."""

from __future__ import annotations

import functools
import socket
from pathlib import Path
from typing import Any

from labeling.models import Project
from policy.models import PolicyModel
from policy.selectors import policy_active, prompts_for_generation
from rewards.models import RewardModel
from rewards.selectors import reward_model_active
from training.artifacts import artifact_exists
from training.models import TrainingRun
from training.services import run_create, run_execute


class PolicyRunError(ValueError):
    """A run that cannot be made as asked; the message says what to fix."""


def base_model_or_default(value: str = "") -> str:
    """``value`` checked (a missing local folder is refused), or the prepared offline policy base;
    PolicyRunError naming the fix."""
    from policy.services.models_prep import ModelPrepError, resolve_base_model

    try:
        return resolve_base_model(value or None)
    except ModelPrepError as exc:
        raise PolicyRunError(str(exc)) from None


def _checked(config_class: Any, values: dict[str, Any]) -> dict[str, Any]:
    values = {k: v for k, v in values.items() if k != "output_dir"}  # runs write to ARTIFACT_DIR/runs/<id>
    try:
        config_class(**values)
    except (TypeError, ValueError) as exc:
        raise PolicyRunError(f"bad settings: {exc}") from None
    return values


def _create(kind: str, config: dict, inputs: dict, *, enqueue: bool, created_by=None) -> TrainingRun:
    if enqueue:
        return run_create(kind=kind, config=config, inputs=inputs, created_by=created_by)
    return TrainingRun.objects.create(kind=kind, config=config, inputs=inputs, created_by=created_by)


def _base_for(start: PolicyModel | None, base_model: str) -> str:
    if start is not None:
        if base_model and base_model != start.base_model:
            raise PolicyRunError(f"policy {start.pk} was trained on {start.base_model!r}, not {base_model!r}; "
                                 "leave the base model out to use its own")
        return start.base_model
    return base_model_or_default(base_model)


def ppo_run_create(
    *, project: Project, config: dict[str, Any] | None = None, reward_model: RewardModel | None = None,
    heldout_reward_model: RewardModel | None = None, start: PolicyModel | None = None, from_active: bool = True,
    prompt_ids: list[int] | None = None, enqueue: bool = True, created_by=None,
) -> TrainingRun:
    """PPO on the project's prompts against its active reward model (or the one given), starting
    from its active policy (or ``start``; a fresh adapter when there is none)."""
    from policy.engine import PPOConfig

    reward_model = reward_model or reward_model_active(project=project)
    if reward_model is None:
        raise PolicyRunError(f"project {project.slug!r} has no active reward model; train one first "
                             "(manage.py train_reward --project ...)")
    if start is None and from_active:
        start = policy_active(project=project)
    values = dict(config or {})
    values["base_model"] = _base_for(start, values.get("base_model", ""))
    values["init_adapter"] = start.adapter_path if start else values.get("init_adapter", "")
    if start is not None and not values.get("value_init_adapter"):
        value = f"{start.adapter_path.rstrip('/')}/value"  # a storage key, or an older row's path
        values["value_init_adapter"] = value if artifact_exists(f"{value}/adapter_config.json") else ""
    values = _checked(PPOConfig, values)
    ids = prompt_ids or [p.pk for p in prompts_for_generation(project=project, strategy="all")]
    if not ids:
        raise PolicyRunError(f"project {project.slug!r} has no prompts to train on")
    inputs = {"project": project.slug, "project_id": project.pk, "reward_model": reward_model.pk,
              "heldout_reward_model": heldout_reward_model.pk if heldout_reward_model else None,
              "start_policy": start.pk if start else None, "prompt_ids": ids}
    return _create(TrainingRun.Kind.PPO, values, inputs, enqueue=enqueue, created_by=created_by)


def sft_run_create(
    *, project: Project, data_path: str, config: dict[str, Any] | None = None, enqueue: bool = True, created_by=None,
) -> TrainingRun:
    """SFT of a fresh adapter (or config's init_adapter) on a JSONL file, registered for the project."""
    from policy.engine import SFTConfig, SFTDataError, read_sft_file

    values = dict(config or {})
    values["base_model"] = base_model_or_default(values.get("base_model", ""))
    values = _checked(SFTConfig, values)
    try:
        examples = read_sft_file(data_path)
    except SFTDataError as exc:
        raise PolicyRunError(str(exc)) from None
    inputs = {"project": project.slug, "project_id": project.pk, "data_path": str(Path(data_path).resolve()),
              "examples": len(examples)}
    return _create(TrainingRun.Kind.SFT, values, inputs, enqueue=enqueue, created_by=created_by)


def generation_run_create(
    *, project: Project, k: int = 2, prompts: str = "fewest", limit: int | None = None,
    prompt_ids: list[int] | None = None, policies: list[PolicyModel | None] | None = None,
    compare_previous: bool = False, config: dict[str, Any] | None = None, base_model: str = "",
    enqueue: bool = True, created_by=None,
) -> TrainingRun:
    """Sample k completions per chosen prompt from each policy (default: the active one, or the
    base when there is none; with compare_previous also its parent, side by side) and put them
    into the labeling queue."""
    from policy.engine import GenerationConfig

    if k < 1:
        raise PolicyRunError("k must be at least 1")
    if policies is None:
        active = policy_active(project=project)
        policies = [active]
        if compare_previous:
            if active is None or active.parent is None:
                raise PolicyRunError("compare_previous needs an active policy with a parent (vN against vN-1)")
            policies.append(active.parent)
    bases = {p.base_model for p in policies if p is not None}
    if len(bases) > 1:
        raise PolicyRunError(f"policies on different bases cannot share a batch: {sorted(bases)}")
    base = bases.pop() if bases else base_model_or_default(base_model)
    if base_model and base_model != base:
        raise PolicyRunError(f"the policies were trained on {base!r}, not {base_model!r}")
    try:
        chosen = prompts_for_generation(project=project, strategy=prompts, limit=limit, prompt_ids=prompt_ids)
    except ValueError as exc:
        raise PolicyRunError(str(exc)) from None
    if not chosen:
        raise PolicyRunError(f"project {project.slug!r} has no prompts to generate for")
    values = _checked(GenerationConfig, dict(config or {}))
    inputs = {"project": project.slug, "project_id": project.pk, "base_model": base, "k": k,
              "policies": [p.pk if p else None for p in policies], "prompt_ids": [p.pk for p in chosen]}
    return _create(TrainingRun.Kind.GENERATE, values, inputs, enqueue=enqueue, created_by=created_by)


def policy_run_execute_here(*, run: TrainingRun, progress: bool = True) -> TrainingRun:
    """Claim and execute a queued run in this process, recording the outcome as a worker would."""
    from policy.runner import RUNNERS

    finished = run_execute(run_id=run.pk, worker=f"cli@{socket.gethostname()}",
                           runner=functools.partial(RUNNERS[run.kind], progress=progress), raise_errors=True)
    return finished or TrainingRun.objects.get(pk=run.pk)
