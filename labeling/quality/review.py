"""Manual quality decisions: include/exclude overrides on judgments and pause/ban of annotators.
Each is reversible and writes an AuditLog row (who, when, what, before/after, why)."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from labeling.models import Judgment, Project
from labeling.quality.models import AnnotatorStats, AnnotatorStatus, AuditLog
from labeling.quality.services import quality_enqueue

OVERRIDES = ("include", "exclude", "")


class ReviewError(Exception):
    """The decision is refused; the message says why."""


def audit_record(
    *, project: Project, actor: AbstractBaseUser | None, action: str, target_type: str, target_id: int,
    before: dict[str, Any], after: dict[str, Any], reason: str = "",
) -> AuditLog:
    return AuditLog.objects.create(
        project=project, actor=actor, action=action, target_type=target_type, target_id=target_id,
        before=before, after=after, reason=reason,
    )


def judgment_override(
    *, judgment_id: int, project: Project, decision: str, actor: AbstractBaseUser, reason: str = ""
) -> Judgment:
    """Force a judgment into ("include") or out of ("exclude") the clean data, or clear the override
    ("") so the filters decide again. An included-by-hand judgment counts with weight 1."""
    if decision not in OVERRIDES:
        raise ReviewError(f"decision must be one of {OVERRIDES}")
    with transaction.atomic():
        judgment = Judgment.objects.select_for_update().get(pk=judgment_id, task__project=project)
        before = {"override": judgment.override, "included": judgment.included, "weight": judgment.weight}
        if decision == judgment.override:
            return judgment
        judgment.override = decision
        judgment.included = decision == "include" or (decision != "exclude" and not judgment.quality_reasons)
        if decision == "include":
            judgment.weight = 1.0
        else:
            stats = AnnotatorStats.objects.filter(project=project, annotator_id=judgment.annotator_id).first()
            judgment.weight = stats.weight if stats else 1.0
        judgment.save(update_fields=["override", "included", "weight"])
        audit_record(
            project=project, actor=actor, action="judgment_override", target_type="judgment", target_id=judgment.pk,
            before=before, after={"override": decision, "included": judgment.included, "weight": judgment.weight},
            reason=reason,
        )
    return judgment


def annotator_status_set(
    *, project: Project, annotator_id: int, status: str, actor: AbstractBaseUser, reason: str = ""
) -> AnnotatorStatus:
    """Pause (no new tasks), ban (no tasks; judgments left out of the clean data) or reinstate
    ("active") an annotator in one project. A change of ban queues a recomputation."""
    if status not in AnnotatorStatus.Status.values:
        raise ReviewError(f"status must be one of {AnnotatorStatus.Status.values}")
    with transaction.atomic():
        row, _ = AnnotatorStatus.objects.select_for_update().get_or_create(project=project, annotator_id=annotator_id)
        before = row.status
        if before == status:
            return row
        row.status, row.reason, row.updated_by = status, reason, actor
        row.save()
        audit_record(
            project=project, actor=actor, action="annotator_status", target_type="user", target_id=annotator_id,
            before={"status": before}, after={"status": status}, reason=reason,
        )
        if AnnotatorStatus.Status.BANNED in (before, status):
            quality_enqueue(project_id=project.pk)
    return row
