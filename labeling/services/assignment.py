"""Hand out tasks to annotators under leases.

The next task is the highest-priority one that still needs judgments, that this annotator has
not judged or skipped, and whose open leases do not already fill its quota. Candidates are
taken with SELECT ... FOR UPDATE SKIP LOCKED, and the quota is re-counted after the lock (a
fresh statement sees every lease committed meanwhile), so two annotators never share a slot."""

import random

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from labeling.models import Assignment, Project, Task, TaskSample
from labeling.quality.config import quality_config
from labeling.quality.selectors import annotator_status_of

CANDIDATES_PER_TRY = 1
MAX_TRIES = 8


def _open_leases(task_ref: str | OuterRef, now) -> Subquery:
    leases = (
        Assignment.objects.filter(task=task_ref, status=Assignment.Status.OPEN, lease_expires_at__gt=now)
        .order_by()
        .values("task")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(leases, output_field=IntegerField()), Value(0))


def open_lease_count(*, task: Task, now=None) -> int:
    now = now or timezone.now()
    return Assignment.objects.filter(task=task, status=Assignment.Status.OPEN, lease_expires_at__gt=now).count()


def _current_assignment(project: Project, annotator: AbstractBaseUser, now) -> Assignment | None:
    """An unexpired open lease the annotator already holds (a reload or double click resumes it)."""
    return (
        Assignment.objects.filter(
            task__project=project, annotator=annotator, status=Assignment.Status.OPEN, lease_expires_at__gt=now
        )
        .select_related("task__prompt")
        .order_by("-served_at")
        .first()
    )


def _candidate_ids(project: Project, annotator: AbstractBaseUser, now, exclude: set[int], gold: bool) -> list[int]:
    mine = Assignment.objects.filter(task=OuterRef("pk"), annotator=annotator).exclude(
        status=Assignment.Status.OPEN, lease_expires_at__lte=now
    )
    query = (
        Task.objects.filter(project=project, is_gold=gold, judgment_count__lt=F("judgments_wanted"))
        .exclude(pk__in=exclude)
        .annotate(leased=_open_leases(OuterRef("pk"), now))
        .filter(judgment_count__lt=F("judgments_wanted") - F("leased"))
        .filter(~Exists(mine))
        .order_by("-priority", "id")
        .select_for_update(skip_locked=True, of=("self",))
        .values_list("pk", flat=True)[:CANDIDATES_PER_TRY]
    )
    return list(query)


def _lease(task: Task, annotator: AbstractBaseUser, project: Project, now) -> Assignment:
    sample_ids = list(TaskSample.objects.filter(task=task).order_by("position").values_list("sample_id", flat=True))
    random.shuffle(sample_ids)  # left/right and list order randomized per assignment, and recorded
    expires = now + project.lease_duration
    fields = {
        "status": Assignment.Status.OPEN, "served_at": now, "lease_expires_at": expires, "shown_order": sample_ids,
    }
    # An expired lease of this annotator on this task is reused: one row per (task, annotator).
    # Two statements at most, where update_or_create takes five (lock, savepoints, insert).
    if not Assignment.objects.filter(task=task, annotator=annotator).update(**fields):
        return Assignment.objects.create(task=task, annotator=annotator, **fields)
    return Assignment.objects.select_related("task__prompt").get(task=task, annotator=annotator)


def assignment_next(*, project: Project, annotator: AbstractBaseUser) -> Assignment | None:
    """Lease the next task to this annotator, or return None when nothing is left for them.

    Paused annotators keep an open lease but get no new task; banned ones get nothing. With
    probability = the project's gold rate, a gold task (admin gold or honeypot) the annotator
    has not seen is tried first; otherwise gold tasks are never served."""
    now = timezone.now()
    status = annotator_status_of(project=project, annotator=annotator)
    if status == "banned":
        return None
    current = _current_assignment(project, annotator, now)
    if current is not None or status == "paused":
        return current
    cfg = quality_config(project)
    gold_first = cfg["filters"]["gold"] and random.random() < float(cfg["gold_rate"])
    for gold in (True, False) if gold_first else (False,):
        assignment = _take(project, annotator, now, gold)
        if assignment is not None:
            return assignment
    return None


def _take(project: Project, annotator: AbstractBaseUser, now, gold: bool) -> Assignment | None:
    tried: set[int] = set()
    for _ in range(MAX_TRIES):
        try:
            with transaction.atomic():
                candidates = _candidate_ids(project, annotator, now, tried, gold)
                if not candidates:
                    return None
                for task_id in candidates:
                    tried.add(task_id)
                    task = Task.objects.select_related("prompt").get(pk=task_id)
                    # Re-count under the row lock: a fresh statement sees leases committed meanwhile.
                    if task.judgment_count + open_lease_count(task=task, now=now) >= task.judgments_wanted:
                        continue
                    return _lease(task, annotator, project, now)
        except IntegrityError:
            # The same annotator asked twice at once; the other request made the lease.
            current = _current_assignment(project, annotator, now)
            if current is not None:
                return current
    return None


def assignment_skip(*, assignment: Assignment) -> Assignment:
    """Give the task back; it is never served to this annotator again."""
    with transaction.atomic():
        locked = Assignment.objects.select_for_update().get(pk=assignment.pk)
        if locked.status == Assignment.Status.OPEN:
            locked.status = Assignment.Status.SKIPPED
            locked.save(update_fields=["status"])
    return locked

