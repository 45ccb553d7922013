"""Judgments from external and simulated crowds: bulk, all-or-nothing, idempotent by the
client's external_id.

Each row is recorded the way the annotator page records an answer: an Assignment for the worker
(the samples "shown" in the task's canonical order, as the API lists them) and
labeling.services.judging.judgment_submit, which checks the answer, stores the Judgment, counts
it on the task and notes it for the quality recomputation. So these judgments go through the same
quality filters, exports and training sets as the browser's.

Quotas: a task takes no more judgments than it wants. The judgments it has and the open leases
of browser annotators (each holds a slot) count; rows past that are refused, naming the task."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from crowd.models import ExternalJudgment, ExternalWorker
from crowd.services.workers import WORKER_ID, WORKER_ID_RULE, workers_ensure
from labeling.models import Assignment, Judgment, Project, Task, TaskSample
from labeling.quality.models import AnnotatorStatus
from labeling.services.ingestion import MAX_ID_LENGTH, IngestionError
from labeling.services.judging import (
    MAX_ACTIVE_MS,
    MAX_RATIONALE,
    JudgmentError,
    answer_parse,
    is_id,
    judgment_submit,
)

CHOICES = tuple(Judgment.Choice.values)  # a, b, tie, both_bad
FIELDS = ("external_id", "task", "annotator", "choice", "ranking", "seconds", "rationale")
MAX_SECONDS = MAX_ACTIVE_MS // 1000


class CrowdError(IngestionError):
    """The request is refused as a whole, nothing stored; `errors` names each bad row and field
    ({"index", "external_id", "field", "message"}), like ingestion's. The API answers it with the
    same error shape and status (400, or 413 for too many rows)."""


@dataclass
class CrowdResult:
    judgments_created: int = 0
    annotators_created: int = 0
    created: list[dict[str, Any]] = field(default_factory=list)  # [{"external_id", "judgment_id"}]
    duplicates: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "judgments_created": self.judgments_created,
            "annotators_created": self.annotators_created,
            "created": self.created,
            "duplicates": self.duplicates,
        }


def _error(index: int, row: Any, field_name: str, message: str) -> dict[str, Any]:
    external_id = row.get("external_id") if isinstance(row, dict) else None
    return {
        "index": index,
        "external_id": external_id if isinstance(external_id, str) else None,
        "field": field_name,
        "message": message,
    }


def _check_row(index: int, row: Any, project: Project, errors: list[dict[str, Any]]) -> None:
    """The row's shape, without the database."""
    if not isinstance(row, dict):
        errors.append(_error(index, row, "", 'must be an object {"external_id", "task", "annotator", "choice" or '
                                              '"ranking", "seconds"?, "rationale"?}'))
        return
    for key in sorted(set(row) - set(FIELDS)):
        errors.append(_error(index, row, key, f"unknown field; the fields are {', '.join(FIELDS)}"))
    external_id = row.get("external_id")
    if not isinstance(external_id, str) or not external_id.strip():
        errors.append(_error(index, row, "external_id", "must be a non-empty string"))
    elif len(external_id) > MAX_ID_LENGTH:
        errors.append(_error(index, row, "external_id", f"must be at most {MAX_ID_LENGTH} characters"))
    if not is_id(row.get("task")):
        errors.append(_error(index, row, "task", "must be a task id (a whole number) from the task list"))
    annotator = row.get("annotator")
    if not isinstance(annotator, str) or not WORKER_ID.match(annotator):
        errors.append(_error(index, row, "annotator", f"must be the worker's id: {WORKER_ID_RULE}"))
    pairwise = project.kind == Project.Kind.PAIRWISE
    wanted, other = ("choice", "ranking") if pairwise else ("ranking", "choice")
    if other in row:
        errors.append(_error(index, row, other, f"this is a {project.kind} project: send {wanted!r}, not {other!r}"))
    elif wanted not in row:
        errors.append(_error(index, row, wanted, "is required"))
    elif pairwise and (not isinstance(row["choice"], str) or row["choice"] not in CHOICES):
        errors.append(_error(index, row, "choice", f"must be one of {', '.join(CHOICES)} (a: the first sample listed)"))
    seconds = row.get("seconds")
    if "seconds" in row and (
        isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= MAX_SECONDS
    ):
        errors.append(_error(index, row, "seconds", f"must be a number of seconds from 0 to {MAX_SECONDS}"))
    rationale = row.get("rationale", "")
    if not isinstance(rationale, str) or len(rationale) > MAX_RATIONALE:
        errors.append(_error(index, row, "rationale", f"must be text of at most {MAX_RATIONALE} characters"))


def validate_rows(*, project: Project, rows: Any) -> list[dict[str, Any]]:
    """Every problem with the request's shape (empty when all is well). CrowdError for a body that
    is not a non-empty list, or (413) one of more than settings.CROWD_MAX_JUDGMENTS rows."""
    if not isinstance(rows, list):
        raise CrowdError("The body must be a JSON list of judgments.")
    limit = settings.CROWD_MAX_JUDGMENTS
    if len(rows) > limit:
        raise CrowdError(f"Too many judgments: {len(rows)}. Send at most {limit} per request.", status=413)
    if not rows:
        raise CrowdError("The list of judgments is empty.")
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        _check_row(index, row, project, errors)
        external_id = row.get("external_id") if isinstance(row, dict) else None
        if isinstance(external_id, str):
            if external_id in seen:
                errors.append(_error(index, row, "external_id", "appears twice in this request"))
            seen.add(external_id)
    return errors


def _refuse(errors: list[dict[str, Any]]) -> CrowdError:
    rows = len({e["index"] for e in errors})
    return CrowdError(f"{rows} judgment(s) are invalid; nothing was stored.", errors)


def judgments_record(*, project: Project, rows: Any) -> CrowdResult:
    """Record a batch of judgments atomically. Raises CrowdError, storing nothing (no judgment, no
    worker), on any bad row; rows whose external_id is already stored are listed as duplicates and
    create nothing."""
    errors = validate_rows(project=project, rows=rows)
    try:
        return _store(project, rows, errors)
    except IntegrityError:
        # A concurrent request stored some of the same ids (or the same worker's answer to the
        # same task) first: a second pass sees them as duplicates, or names the row.
        return _store(project, rows, errors)


def _task_facts(project: Project, task_ids: set[int], now) -> tuple[dict[int, Task], dict[int, list[int]], Counter]:
    """The project's tasks among these ids (row-locked, in id order, so concurrent requests cannot
    both fill the last slot), their sample ids in canonical order, and their open leases."""
    tasks = {task.pk: task for task in Task.objects.select_for_update().filter(project=project, pk__in=task_ids)
             .order_by("pk").only("pk", "judgment_count", "judgments_wanted")}
    samples: dict[int, list[int]] = {}
    for task_id, sample_id in (TaskSample.objects.filter(task_id__in=tasks).order_by("task_id", "position")
                               .values_list("task_id", "sample_id")):
        samples.setdefault(task_id, []).append(sample_id)
    leases = Counter(dict(
        Assignment.objects.filter(task_id__in=tasks, status=Assignment.Status.OPEN, lease_expires_at__gt=now)
        .values("task_id").annotate(n=Count("pk")).values_list("task_id", "n")
    ))
    return tasks, samples, leases


def _worker_blocks(project: Project, worker_ids: set[str]) -> tuple[dict[str, str], set[tuple[str, int]]]:
    """For workers already known: a reviewer's pause or ban ({worker id: status}), and the tasks
    they already answered ({(worker id, task id)})."""
    users = dict(ExternalWorker.objects.filter(project=project, worker_id__in=worker_ids)
                 .values_list("user_id", "worker_id"))
    statuses = {
        users[user_id]: status
        for user_id, status in AnnotatorStatus.objects.filter(project=project, annotator_id__in=users)
        .exclude(status=AnnotatorStatus.Status.ACTIVE).values_list("annotator_id", "status")
    }
    answered = {
        (users[user_id], task_id)
        for user_id, task_id in Assignment.objects.filter(annotator_id__in=users, task__project=project)
        .values_list("annotator_id", "task_id")
    }
    return statuses, answered


@transaction.atomic
def _store(project: Project, rows: list[dict[str, Any]], shape_errors: list[dict[str, Any]]) -> CrowdResult:
    """Check the well-shaped rows against the database (under row locks), then record them all,
    or raise CrowdError naming every bad row: the shape errors and these together."""
    result = CrowdResult()
    now = timezone.now()
    bad = {error["index"] for error in shape_errors}
    good = [(index, row) for index, row in enumerate(rows) if index not in bad]
    stored = set(ExternalJudgment.objects.filter(project=project, external_id__in=[r["external_id"] for _, r in good])
                 .values_list("external_id", flat=True))
    fresh = [(index, row) for index, row in good if row["external_id"] not in stored]
    result.duplicates = [row["external_id"] for _, row in good if row["external_id"] in stored]
    tasks, samples, leases = _task_facts(project, {row["task"] for _, row in fresh}, now)
    statuses, answered = _worker_blocks(project, {row["annotator"] for _, row in fresh})

    errors: list[dict[str, Any]] = list(shape_errors)
    taken: Counter = Counter()  # slots this request fills, per task
    for index, row in fresh:
        task_id, worker = row["task"], row["annotator"]
        task = tasks.get(task_id)
        if task is None:
            errors.append(_error(index, row, "task", f"there is no task {task_id} in project {project.slug!r}"))
            continue
        if "ranking" in row:
            try:
                answer_parse(project=project, sample_ids=samples.get(task_id, []), data={"ranking": row["ranking"]})
            except JudgmentError as exc:
                errors.append(_error(index, row, "ranking", f"{exc} (ids from task {task_id}'s samples)"))
        if worker in statuses:
            errors.append(_error(index, row, "annotator", f"worker {worker!r} is {statuses[worker]} in this project by "
                                 "a reviewer; their judgments are not taken (see /review/)"))
        if (worker, task_id) in answered:
            errors.append(_error(index, row, "task", f"worker {worker!r} already answered task {task_id} (each worker "
                                 "judges a task once)"))
            continue
        answered.add((worker, task_id))
        if task.judgment_count + leases[task_id] + taken[task_id] >= task.judgments_wanted:
            errors.append(_error(
                index, row, "task",
                f"task {task_id} already has the {task.judgments_wanted} judgment(s) it wants "
                f"({task.judgment_count} recorded, {leases[task_id]} held by annotators working on it, "
                f"{taken[task_id]} earlier in this request); it is no longer open",
            ))
            continue
        taken[task_id] += 1
    if errors:
        raise _refuse(sorted(errors, key=lambda error: error["index"]))  # stable: fields keep their order

    workers = {row["annotator"] for _, row in fresh}
    users, result.annotators_created = workers_ensure(project=project, worker_ids=workers)
    for _, row in fresh:
        judgment = _record(project, row, users[row["annotator"]], samples[row["task"]], now)
        ExternalJudgment.objects.create(project=project, external_id=row["external_id"], judgment=judgment)
        result.created.append({"external_id": row["external_id"], "judgment_id": judgment.pk})
    result.judgments_created = len(result.created)
    return result


def _record(project: Project, row: dict[str, Any], user, sample_ids: list[int], now) -> Judgment:
    """One row through the page's path: an assignment showing the samples in canonical order (as
    listed), then judgment_submit with the worker's own time."""
    seconds = row.get("seconds")
    ms = round(seconds * 1000) if seconds is not None else 0
    assignment = Assignment.objects.create(
        task_id=row["task"], annotator=user, status=Assignment.Status.OPEN,
        served_at=now - timedelta(milliseconds=ms), lease_expires_at=now + project.lease_duration,
        shown_order=sample_ids,
    )
    data: dict[str, Any] = {"rationale": row.get("rationale", "")}
    if "ranking" in row:
        data["ranking"] = row["ranking"]
    else:
        choice = row["choice"]
        data["winner"] = {"a": sample_ids[0], "b": sample_ids[1]}.get(choice, choice)
    if seconds is not None:
        data["active_ms"] = ms
    return judgment_submit(assignment=assignment, annotator=user, data=data, response_ms=ms)
