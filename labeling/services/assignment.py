"""Hand out tasks to annotators under leases.

The next task is the highest-priority one that still needs judgments, that this annotator has
not judged or skipped, and whose open leases do not already fill its quota. Candidates are
taken with SELECT ... FOR UPDATE SKIP LOCKED, and the quota is re-counted after the lock (a
fresh statement sees every lease committed meanwhile), so two annotators never share a slot."""

import random

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from labeling.models import Assignment, Project, Task, TaskSample
from labeling.quality.config import quality_config
from labeling.quality.selectors import annotator_status_of

MAX_TRIES = 8


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


# The hot path of every next/submit, written as SQL: compiling the same query through the ORM
# cost more CPU than running it (bench/http_profile.py).
_CANDIDATE_SQL = """
SELECT t.id FROM labeling_task t
WHERE t.project_id = %s AND t.is_gold = %s AND t.judgment_count < t.judgments_wanted {exclude}
  AND t.judgment_count + (
        SELECT COUNT(*) FROM labeling_assignment a
        WHERE a.task_id = t.id AND a.status = 'open' AND a.lease_expires_at > %s) < t.judgments_wanted
  AND NOT EXISTS (
        SELECT 1 FROM labeling_assignment m
        WHERE m.task_id = t.id AND m.annotator_id = %s AND NOT (m.status = 'open' AND m.lease_expires_at <= %s))
ORDER BY t.priority DESC, t.id
LIMIT 1 {lock}
"""
_QUOTA_SQL = """
SELECT t.judgment_count + (
         SELECT COUNT(*) FROM labeling_assignment a
         WHERE a.task_id = t.id AND a.status = 'open' AND a.lease_expires_at > %s) >= t.judgments_wanted
FROM labeling_task t WHERE t.id = %s
"""


def _candidate_id(project: Project, annotator: AbstractBaseUser, now, exclude: set[int], gold: bool) -> int | None:
    """The next task for this annotator, row-locked (skipping rows other requests hold)."""
    exclude_sql = f"AND t.id NOT IN ({', '.join(['%s'] * len(exclude))})" if exclude else ""
    lock = "FOR UPDATE OF t SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    with connection.cursor() as cursor:
        cursor.execute(
            _CANDIDATE_SQL.format(exclude=exclude_sql, lock=lock),
            [project.pk, gold, *sorted(exclude), now, annotator.pk, now],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _quota_full(task_id: int, now) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(_QUOTA_SQL, [now, task_id])
        return bool(cursor.fetchone()[0])


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
    gold_first = cfg.filters.gold and random.random() < cfg.gold_rate
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
                task_id = _candidate_id(project, annotator, now, tried, gold)
                if task_id is None:
                    return None
                tried.add(task_id)
                # Re-count under the row lock: a fresh statement sees leases committed meanwhile.
                if _quota_full(task_id, now):
                    continue
                return _lease(Task.objects.select_related("prompt").get(pk=task_id), annotator, project, now)
        except IntegrityError:
            # The same annotator asked twice at once; the other request made the lease.
            current = _current_assignment(project, annotator, now)
            if current is not None:
                return current
    return None


def assignment_skip(*, assignment: Assignment) -> Assignment:
    """Give the task back; it is not served to this annotator again unless they revisit it
    (assignment_revisit)."""
    with transaction.atomic():
        locked = Assignment.objects.select_for_update().get(pk=assignment.pk)
        if locked.status == Assignment.Status.OPEN:
            locked.status = Assignment.Status.SKIPPED
            locked.save(update_fields=["status"])
    return locked



def assignment_revisit(*, project: Project, annotator: AbstractBaseUser) -> Assignment | None:
    """Lease back the task this annotator skipped last, if it still needs judgments and its quota
    is not held by others' leases; the page then shows it again (in the order shown before).
    None when no skipped task can be revisited, or the annotator is paused or banned."""
    if annotator_status_of(project=project, annotator=annotator) != "active":
        return None
    now = timezone.now()
    candidates = (
        Assignment.objects.filter(
            task__project=project, annotator=annotator, status=Assignment.Status.SKIPPED,
            task__judgment_count__lt=F("task__judgments_wanted"),
        )
        .order_by("-served_at", "-pk")
        .values_list("pk", "task_id")[:MAX_TRIES]
    )
    for assignment_id, task_id in candidates:
        with transaction.atomic():
            Task.objects.select_for_update().filter(pk=task_id).first()
            locked = Assignment.objects.select_for_update().get(pk=assignment_id)
            if locked.status != Assignment.Status.SKIPPED or _quota_full(task_id, now):
                continue
            locked.status = Assignment.Status.OPEN
            locked.served_at = now  # the newest lease, so the page shows it before the one it replaced
            locked.lease_expires_at = now + project.lease_duration
            locked.save(update_fields=["status", "served_at", "lease_expires_at"])
        return Assignment.objects.select_related("task__prompt").get(pk=assignment_id)
    return None
