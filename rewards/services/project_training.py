"""Train a project's reward model: the workflow behind `train_reward --project`, shared with
anything else that trains one (an RLHF round). Project lookup, the parent to fine-tune, the run
settings checked before anything is written, label quality brought up to date, the clean labels
frozen into a PreferenceDataset, and the TrainingRun on it (queued for a worker, or left for the
caller to run here)."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from labeling.models import Project
from rewards.models import PreferenceDataset, RewardModel
from rewards.selectors import reward_model_active
from training.models import TrainingRun


class ProjectTrainingError(Exception):
    """The request is refused; the message says why. Raised before any dataset or run is made,
    except for the snapshot's own refusal (nothing usable to freeze), which leaves nothing either."""


@dataclass(frozen=True)
class ProjectTraining:
    project: Project
    dataset: PreferenceDataset
    run: TrainingRun
    base_model: str
    parent: RewardModel | None  # the active model fine-tuned, if any


def _quiet(message: str) -> None:
    """The default `report`: say nothing."""


def project_for_training(*, slug: str) -> Project:
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise ProjectTrainingError(f"no project {slug!r}")
    return project


def project_snapshot(
    *, project: Project, seed: int = 0, eval_fraction: float = 0.1, report: Callable[[str], None] = _quiet,
) -> PreferenceDataset:
    """Bring the project's label quality up to date (reporting what the pass kept when one ran),
    then freeze its clean labels into a PreferenceDataset."""
    from labeling.quality.services import quality_ensure_current
    from rewards.services.snapshot import SnapshotError, dataset_snapshot

    refreshed = quality_ensure_current(project=project)
    if refreshed is not None:
        report(f"label quality brought up to date first: {refreshed.kept} of {refreshed.judgments} "
               f"live judgments kept, {refreshed.flagged} annotator(s) flagged "
               f"(python manage.py recompute_quality --project {project.slug} shows why)")
    try:
        return dataset_snapshot(project=project, seed=seed, eval_fraction=eval_fraction)
    except SnapshotError as exc:
        raise ProjectTrainingError(str(exc)) from None


def project_training_start(
    *,
    project: Project,
    base_model: str = "",
    config: dict[str, Any] | None = None,
    from_active: bool = False,
    min_heldout: int | None = None,
    eval_fraction: float = 0.1,
    seed: int = 0,
    enqueue: bool = True,
    created_by: Any = None,
    report: Callable[[str], None] = _quiet,
    dataset: PreferenceDataset | None = None,
) -> ProjectTraining:
    """Make a reward run on the project's clean labels; ProjectTrainingError names what is wrong.

    ``from_active``: fine-tune the project's active reward model (its base, adapter and head; it
    becomes the parent) instead of a fresh adapter on ``base_model`` (empty: the offline default).
    ``config``: RewardConfig settings. ``min_heldout``: held-out comparisons needed for automatic
    activation (None: the setting). The settings are checked before the snapshot, so a refused
    request leaves nothing behind. ``enqueue``: send the run to the `gpu` queue; otherwise the
    caller runs it (``runs.reward_run_execute_here``). ``report`` receives progress lines.
    ``dataset``: train on this frozen dataset of the project (an RLHF round froze it in an earlier
    step) instead of refreshing quality and taking a new snapshot."""
    from rewards.services.runs import RunConfigError, reward_run_create, reward_run_settings

    parent = None
    if from_active:
        parent = reward_model_active(project=project)
        if parent is None:
            raise ProjectTrainingError(f"project {project.slug!r} has no active reward model to fine-tune")
    if min_heldout is not None and min_heldout < 0:
        raise ProjectTrainingError("min_heldout must be 0 or more")
    run_settings = {"base_model": base_model or "", "config": dict(config or {}), "fine_tune_from": parent}
    try:
        # before the snapshot, so a refused request leaves nothing; resolves the default base
        run_settings["base_model"] = reward_run_settings(**run_settings)["base_model"]
    except RunConfigError as exc:
        raise ProjectTrainingError(str(exc)) from None
    if not base_model and parent is None:
        report(f"base model: {run_settings['base_model']} (the offline default)")
    if dataset is None:
        dataset = project_snapshot(project=project, seed=seed, eval_fraction=eval_fraction, report=report)
    elif dataset.project_id != project.pk:
        raise ProjectTrainingError(f"dataset {dataset.pk} is not project {project.slug!r}'s")
    report(f"dataset {dataset.pk} ({dataset.content_hash[:12]}): {json.dumps(dataset.stats)}")
    try:
        run = reward_run_create(dataset=dataset, enqueue=enqueue, min_heldout=min_heldout, created_by=created_by,
                                **run_settings)
    except RunConfigError as exc:
        raise ProjectTrainingError(str(exc)) from None
    return ProjectTraining(project=project, dataset=dataset, run=run, base_model=run_settings["base_model"],
                           parent=parent)
