"""Reads of the crowd API: the open tasks, as external clients see them."""

from typing import Any

from django.db.models import Count, Exists, F, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from crowd.models import ExternalWorker
from labeling.models import Assignment, Project, Task, TaskSample


def tasks_open(*, project: Project, worker_id: str | None = None) -> QuerySet[Task]:
    """Tasks that still want judgments: fewer recorded than wanted, counting each unexpired open
    lease of a browser annotator as a slot taken. Gold tasks and honeypots are among them, as on
    the annotator page, and look the same. Highest priority first, then oldest.

    ``worker_id``: leave out the tasks this external worker already answered."""
    now = timezone.now()
    leases = (
        Assignment.objects.filter(task=OuterRef("pk"), status=Assignment.Status.OPEN, lease_expires_at__gt=now)
        .order_by().values("task").annotate(n=Count("pk")).values("n")
    )
    tasks = (
        Task.objects.filter(project=project, judgment_count__lt=F("judgments_wanted"))
        .annotate(leased=Coalesce(Subquery(leases, output_field=IntegerField()), Value(0)))
        .filter(judgment_count__lt=F("judgments_wanted") - F("leased"))
    )
    if worker_id:
        worker = ExternalWorker.objects.filter(project=project, worker_id=worker_id).values("user_id")
        tasks = tasks.exclude(Exists(Assignment.objects.filter(task=OuterRef("pk"), annotator_id__in=worker)))
    return tasks.order_by("-priority", "pk")


def tasks_with_samples(tasks: QuerySet[Task]) -> QuerySet[Task]:
    """The same tasks with their prompt and samples (in canonical order) fetched in bulk."""
    return tasks.select_related("prompt").prefetch_related(
        Prefetch("slots", queryset=TaskSample.objects.select_related("sample").order_by("position"))
    )


def task_as_listed(task: Task, *, kind: str) -> dict[str, Any]:
    """{"id", "kind", "prompt", "samples": [{"id", "external_id", "text"}]}: the prompt as it was
    pushed (a string, or chat turns), samples in the task's canonical order (position 0 is "a")."""
    return {
        "id": task.pk,
        "kind": kind,
        "prompt": task.prompt.messages or task.prompt.text,
        "samples": [
            {"id": slot.sample.pk, "external_id": slot.sample.external_id, "text": slot.sample.text}
            for slot in task.slots.all()
        ],
    }
