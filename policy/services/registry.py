"""The policy registry: register what a run trained (once per run), and activate or deactivate
a policy (one active per project) with an audit note."""

from typing import Any

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from labeling.models import Project
from policy.models import PolicyModel
from training.lineage import activate_exclusively
from training.models import TrainingRun
from training.services import run_log


def _audit(model: PolicyModel, line: str) -> None:
    entry = f"[{timezone.now():%Y-%m-%d %H:%M:%S}] {line}\n"
    PolicyModel.objects.filter(pk=model.pk).update(note=Concat(F("note"), Value(entry)))
    model.note += entry
    if model.run_id:
        run_log(run_id=model.run_id, line=f"policy {model.pk}: {line}")


def policy_activate(*, model: PolicyModel, by: str = "admin", reason: str = "") -> PolicyModel:
    """Make this the project's active policy (the previous one is deactivated); audited."""
    return activate_exclusively(model, audit=_audit, by=by, reason=reason)


def policy_deactivate(*, model: PolicyModel, by: str = "admin", reason: str = "") -> PolicyModel:
    with transaction.atomic():
        PolicyModel.objects.filter(pk=model.pk).update(is_active=False)
        model.is_active = False
        _audit(model, f"deactivated by {by}" + (f": {reason}" if reason else ""))
    return model


def policy_register(
    *, run: TrainingRun | None, project: Project, kind: str, base_model: str, adapter_path: str,
    metrics: dict[str, Any], parent: PolicyModel | None = None, reward_model_id: int | None = None,
    activate: bool = True, name: str = "",
) -> PolicyModel:
    """Register a trained adapter; a resumed run finds the one it registered. A newly trained
    policy becomes the project's active one (admins can switch back), since PPO trains from the
    active policy and generation should sample the newest."""
    if run is not None:
        existing = PolicyModel.objects.filter(run=run).first()
        if existing is not None:
            return existing
    model = PolicyModel.objects.create(
        name=name or f"{project.slug} {kind} run {run.pk if run else 'offline'}", project=project, kind=kind,
        base_model=base_model, adapter_path=adapter_path, parent=parent, reward_model_id=reward_model_id,
        run=run, metrics=metrics,
    )
    if activate:
        policy_activate(model=model, by="auto", reason=f"newly trained {kind} policy")
    return model
