"""Record judgments: idempotent submit, and undo that withdraws instead of deleting."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from config.errors import AppError
from labeling.models import Assignment, Judgment, Project, Task, TaskSample
from labeling.quality.pipeline import withdrawn_decision
from labeling.quality.services import quality_note_judgment

MAX_RATIONALE = 5000
MAX_ACTIVE_MS = 24 * 3600 * 1000
MAX_ID = 2**63 - 1  # the largest value of a database id column


class JudgmentError(AppError):
    """The submission is refused; the message says what to fix. `status` is the HTTP status the
    pages and the API answer with: 400 for a bad answer, 409 when the task moved on without it."""

    status = 400


class LateSubmitError(JudgmentError):
    """The annotator's lease expired and the task's quota was filled meanwhile (another annotator
    took the slot): the answer is not recorded, so a task never gets more judgments than wanted."""

    status = 409


def is_id(value: Any) -> bool:
    """A database id as JSON sends it: a whole number in range; not true/false, not 130.0."""
    return type(value) is int and 0 < value <= MAX_ID


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "a number out of range"
    names = {float: "a decimal number", str: "a string", list: "a list", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class Answer:
    choice: str = ""
    ranking: list[list[int]] | None = None
    rationale: str = ""
    active_ms: int | None = None


def answer_parse(*, project: Project, sample_ids: list[int], data: dict[str, Any]) -> Answer:
    """Check a submitted answer against the task's samples (canonical order) and normalise it.

    Pairwise: {"winner": <sample id> | "tie" | "both_bad"}, stored as a / b / tie / both_bad with
    a = the task's first sample. Ranking: {"ranking": [[id], [id, id], ...]}, best first, every
    sample exactly once; samples in one inner list are tied."""
    rationale = data.get("rationale") or ""
    if not isinstance(rationale, str) or len(rationale) > MAX_RATIONALE:
        raise JudgmentError(f"rationale must be text of at most {MAX_RATIONALE} characters")
    active_ms = data.get("active_ms")
    if active_ms is not None and (
        not isinstance(active_ms, int) or isinstance(active_ms, bool) or not 0 <= active_ms <= MAX_ACTIVE_MS
    ):
        raise JudgmentError("active_ms must be a whole number of milliseconds, at least 0")
    if project.kind == Project.Kind.PAIRWISE:
        winner = data.get("winner")
        if isinstance(winner, str) and winner in (Judgment.Choice.TIE, Judgment.Choice.BOTH_BAD):
            return Answer(choice=winner, rationale=rationale, active_ms=active_ms)
        if not is_id(winner) or winner not in sample_ids:
            raise JudgmentError(f'winner must be one of the sample ids {sample_ids}, "tie" or "both_bad"')
        choice = Judgment.Choice.A if winner == sample_ids[0] else Judgment.Choice.B
        return Answer(choice=choice, rationale=rationale, active_ms=active_ms)
    ranking = data.get("ranking")
    if not isinstance(ranking, list) or not all(isinstance(group, list) and group for group in ranking):
        raise JudgmentError("ranking must be a list of non-empty lists of sample ids, best first")
    for group_no, group in enumerate(ranking):
        for place, sample_id in enumerate(group):
            if not is_id(sample_id):
                raise JudgmentError(
                    f"ranking[{group_no}][{place}] must be a sample id (a whole number), not {_kind(sample_id)}"
                )
    flat = [sample_id for group in ranking for sample_id in group]
    if len(flat) != len(sample_ids) or set(flat) != set(sample_ids):
        raise JudgmentError(f"ranking must place each of the samples {sorted(sample_ids)} exactly once")
    return Answer(ranking=ranking, rationale=rationale, active_ms=active_ms)


def task_sample_ids(*, task: Task) -> list[int]:
    return list(TaskSample.objects.filter(task=task).order_by("position").values_list("sample_id", flat=True))


def _late_submit_check(*, task: Task, assignment: Assignment, now: datetime) -> None:
    """An expired lease no longer holds a slot: accept its answer only while the task still has
    room for it next to the live judgments and the other annotators' open leases."""
    others_open = (
        Assignment.objects.filter(task_id=task.pk, status=Assignment.Status.OPEN, lease_expires_at__gt=now)
        .exclude(pk=assignment.pk)
        .count()
    )
    if task.judgment_count + others_open >= task.judgments_wanted:
        raise LateSubmitError(
            f"your time for this task ran out at {assignment.lease_expires_at:%H:%M:%S} UTC and other annotators "
            "have taken the judgments it needs, so this answer was not recorded; here is your next task"
        )


def judgment_submit(
    *, assignment: Assignment, annotator: AbstractBaseUser, data: dict[str, Any], response_ms: int | None = None
) -> Judgment:
    """Record the answer for this assignment. A second submit (double click, retry) returns the
    judgment already recorded instead of making another.

    ``response_ms``: the time the annotator took, when a client outside this server measured it
    (the crowd API); by default it is measured here, from serving the task to this submit.

    A submit after the lease expired is still recorded if the task has room for it; if its slot
    went to another annotator and the quota is full, it raises LateSubmitError (a 409), so a task
    never ends with more judgments than it wants."""
    if assignment.annotator_id != annotator.pk:
        raise JudgmentError("this assignment belongs to another annotator")
    project = assignment.task.project
    answer = answer_parse(project=project, sample_ids=task_sample_ids(task=assignment.task), data=data)
    with transaction.atomic():
        # The task row first, as leasing does (no deadlock), so no lease of this task is handed
        # out between the quota check below and the judgment.
        task = Task.objects.select_for_update().only("judgment_count", "judgments_wanted").get(pk=assignment.task_id)
        locked = Assignment.objects.select_for_update().get(pk=assignment.pk)
        if locked.status == Assignment.Status.SUBMITTED:
            return Judgment.objects.get(assignment=locked, withdrawn_at__isnull=True)
        if locked.status == Assignment.Status.SKIPPED:
            raise JudgmentError("this task was skipped; ask for the next task")
        now = timezone.now()  # read under the locks: a lease made meanwhile is already committed
        if locked.lease_expires_at <= now:
            _late_submit_check(task=task, assignment=locked, now=now)
        judgment = Judgment.objects.create(
            assignment=locked,
            task_id=locked.task_id,
            annotator_id=locked.annotator_id,
            choice=answer.choice,
            ranking=answer.ranking,
            rationale=answer.rationale,
            shown_order=locked.shown_order,
            response_ms=(
                response_ms if response_ms is not None else max(0, int((now - locked.served_at).total_seconds() * 1000))
            ),
            active_ms=answer.active_ms,
        )
        locked.status = Assignment.Status.SUBMITTED
        locked.save(update_fields=["status"])
        Task.objects.filter(pk=locked.task_id).update(judgment_count=F("judgment_count") + 1)
    # Outside the transaction above, so the per-project counter row is not locked while it runs.
    quality_note_judgment(project=project)
    return judgment


def judgment_undo_last(*, project: Project, annotator: AbstractBaseUser) -> Assignment | None:
    """Withdraw the annotator's latest live judgment in this project and lease its task back to
    them, so the page shows it again. The withdrawn judgment stays in the database."""
    now = timezone.now()
    with transaction.atomic():
        judgment = (
            Judgment.objects.select_for_update()
            .filter(task__project=project, annotator=annotator, withdrawn_at__isnull=True)
            .order_by("-created_at", "-pk")
            .first()
        )
        if judgment is None:
            return None
        judgment.withdrawn_at = now
        # Out of the clean data in the database too, not only in the exports; the recomputation
        # reads live judgments only, so it never puts it back.
        judgment.included, judgment.quality_reasons = withdrawn_decision(judgment.quality_reasons)
        judgment.save(update_fields=["withdrawn_at", "included", "quality_reasons"])
        Task.objects.filter(pk=judgment.task_id).update(judgment_count=F("judgment_count") - 1)
        assignment = judgment.assignment
        assignment.status = Assignment.Status.OPEN
        assignment.served_at = now
        assignment.lease_expires_at = now + project.lease_duration
        assignment.save(update_fields=["status", "served_at", "lease_expires_at"])
    return assignment

