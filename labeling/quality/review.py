"""Manual decisions: include/exclude overrides on judgments, pause/ban of annotators, and a task's
priority and gold answer. Each is validated, reversible and writes an AuditLog row (who, when,
what, before/after, why). The review pages and the Django admin change data only through these.
The admin's own edits of projects and API tokens are written to the same log (admin_edit_audit)."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from config.errors import AppError
from labeling.models import ApiToken, Judgment, Project, Task, TaskSample
from labeling.quality.models import AnnotatorStats, AnnotatorStatus, AuditLog
from labeling.quality.pipeline import include_and_weight
from labeling.quality.services import quality_enqueue
from labeling.services.judging import is_id

OVERRIDES = ("include", "exclude", "")


class ReviewError(AppError):
    """The decision is refused; the message says why (a 400). Raised under a review page's or the
    admin's form, config.errors.AppErrorMiddleware shows it as a flash message on that page."""

    status = 400


def audit_record(
    *, project: Project, actor: AbstractBaseUser | None, action: str, target_type: str, target_id: int,
    before: dict[str, Any], after: dict[str, Any], reason: str = "",
) -> AuditLog:
    return AuditLog.objects.create(
        project=project, actor=actor, action=action, target_type=target_type, target_id=target_id,
        before=before, after=after, reason=reason,
    )


# What the audit log records of a project or an API token changed in the admin: an allow-list, so a
# field added later is not logged unseen. A token's key hash is never recorded (nor its raw key,
# which is never stored).
ADMIN_AUDITED_FIELDS = {
    "project": ["slug", "name", "instructions", "kind", "ranking_k", "judgments_per_task", "lease_seconds",
                "is_active", "quality_config", "annotators"],
    "api_token": ["name", "project", "revoked"],
}


def _admin_target(obj: Project | ApiToken) -> tuple[str, Project]:
    return ("project", obj) if isinstance(obj, Project) else ("api_token", obj.project)


def admin_audit_fields(obj: Project | ApiToken) -> dict[str, Any]:
    """The audited fields of a project or an API token as the database holds them, as JSON
    (a project's annotators as sorted usernames, a token's project as its slug)."""
    kind, _ = _admin_target(obj)
    values: dict[str, Any] = {}
    for name in ADMIN_AUDITED_FIELDS[kind]:
        if name == "annotators":
            values[name] = sorted(obj.annotators.values_list("username", flat=True)) if obj.pk else []
        elif name == "project":
            values[name] = obj.project.slug
        else:
            values[name] = getattr(obj, name)
    return values


def admin_edit_audit(
    *, obj: Project | ApiToken, actor: AbstractBaseUser, before: dict[str, Any] | None, deleted: bool = False
) -> AuditLog | None:
    """Record an admin's creation (before None), change or deletion (deleted) of a project or an
    API token: who, which, and the fields that changed, before and after (all of them when made or
    deleted). Nothing is recorded for a save that changed nothing. A deleted project's entries
    stay, with no project (AuditLog.project is SET_NULL)."""
    kind, project = _admin_target(obj)
    now = {} if deleted else admin_audit_fields(obj)
    if before is None:
        action, before, after = "created", {}, now
    elif deleted:
        action, after = "deleted", {}
    else:
        changed = [name for name in now if before.get(name) != now[name]]
        if not changed:
            return None
        action, before, after = "changed", {n: before.get(n) for n in changed}, {n: now[n] for n in changed}
    return audit_record(project=project, actor=actor, action=f"{kind}_{action}", target_type=kind,
                        target_id=obj.pk, before=before, after=after, reason="admin")


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
        stats = AnnotatorStats.objects.filter(project=project, annotator_id=judgment.annotator_id).first()
        judgment.included, judgment.weight = include_and_weight(
            decision, bool(judgment.quality_reasons), stats.weight if stats else 1.0,
            withdrawn=judgment.withdrawn_at is not None,
        )
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


PRIORITY_RANGE = (-(2**31), 2**31 - 1)  # Task.priority is a 32-bit integer column
PAIRWISE_GOLD = ("a", "b", "tie", "both_bad")


def gold_answer_check(*, task: Task, answer: Any) -> None:
    """Refuse a gold answer that the quality pass could not score against this task: the forms
    are "a"|"b"|"tie"|"both_bad" or {"choice": ...} (pairwise), {"ranking": [[id], ...]} with each
    of the task's samples once, best first, or {"pairs": [[better id, worse id], ...]}; ids must be
    the task's own samples. Other keys (such as "honeypot") are kept as notes."""
    if answer is None:
        return
    sample_ids = list(TaskSample.objects.filter(task=task).order_by("position").values_list("sample_id", flat=True))
    if isinstance(answer, str) or (isinstance(answer, dict) and "choice" in answer):
        choice = answer if isinstance(answer, str) else answer["choice"]
        if choice not in PAIRWISE_GOLD:
            raise ReviewError(f"gold choice must be one of {', '.join(PAIRWISE_GOLD)}, not {choice!r}")
        if len(sample_ids) != 2:
            raise ReviewError(f"a choice fits pairwise tasks only; this task has {len(sample_ids)} samples: "
                              'give {"ranking": [[id], ...]} or {"pairs": [[better, worse], ...]}')
        return
    if not isinstance(answer, dict) or not ({"ranking", "pairs"} & answer.keys()):
        raise ReviewError('gold answer must be "a"/"b"/"tie"/"both_bad", {"choice": ...}, '
                          '{"ranking": [[id], ...]} or {"pairs": [[better, worse], ...]}')
    if "ranking" in answer:
        ranking = answer["ranking"]
        if not isinstance(ranking, list) or not all(isinstance(tier, list) and tier for tier in ranking):
            raise ReviewError("gold ranking must be a list of non-empty lists of sample ids, best first")
        flat = [sample_id for tier in ranking for sample_id in tier]
        if not all(is_id(s) for s in flat) or sorted(flat) != sorted(sample_ids):
            raise ReviewError(f"gold ranking must place each of this task's samples {sample_ids} exactly once")
    if "pairs" in answer:
        pairs = answer["pairs"]
        if not isinstance(pairs, list) or not pairs:
            raise ReviewError("gold pairs must be a non-empty list of [better id, worse id]")
        for pair in pairs:
            if (not isinstance(pair, list) or len(pair) != 2 or pair[0] == pair[1]
                    or not all(is_id(s) and s in sample_ids for s in pair)):
                raise ReviewError(
                    f"each gold pair must be [better id, worse id] from this task's samples {sample_ids}, not {pair!r}"
                )


def task_review_update(
    *, task_id: int, actor: AbstractBaseUser, priority: int, is_gold: bool, gold_answer: Any, reason: str = ""
) -> Task:
    """A reviewer's change to a task: its priority, or whether it is gold and its gold answer. The
    task's project, prompt and samples never change. Validated (a gold task needs an answer this
    task's samples can satisfy), audited with before and after, and a change of gold queues a
    quality recomputation so gold accuracy is not left stale."""
    if type(priority) is not int or not PRIORITY_RANGE[0] <= priority <= PRIORITY_RANGE[1]:
        raise ReviewError(f"priority must be a whole number from {PRIORITY_RANGE[0]} to {PRIORITY_RANGE[1]}")
    if is_gold and gold_answer is None:
        raise ReviewError("a gold task needs a gold answer")
    with transaction.atomic():
        task = Task.objects.select_for_update().select_related("project").get(pk=task_id)
        gold_answer_check(task=task, answer=gold_answer)
        before = {"priority": task.priority, "is_gold": task.is_gold, "gold_answer": task.gold_answer}
        after = {"priority": priority, "is_gold": bool(is_gold), "gold_answer": gold_answer}
        changed = [field for field in before if before[field] != after[field]]
        if not changed:
            return task
        for field in changed:
            setattr(task, field, after[field])
        task.save(update_fields=changed)
        audit_record(
            project=task.project, actor=actor, action="task_update", target_type="task", target_id=task.pk,
            before={f: before[f] for f in changed}, after={f: after[f] for f in changed}, reason=reason,
        )
        if {"is_gold", "gold_answer"} & set(changed):
            quality_enqueue(project_id=task.project_id)
    return task
