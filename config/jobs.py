"""One way to send background work, and one sweeper that re-sends what the broker lost.

The database is the source of truth: a row says that work is wanted (a queued training run, a
project whose quality recomputation is queued) and when it was last sent. The broker message is
only a wake-up call. `enqueue_on_commit` sends it once the transaction that wrote the row commits
(never a message for a row that was rolled back); if the broker is down the request still
succeeds and the row stays queued. `jobs_resend_queued` (the Celery beat task
`preflab.sweep_queued_work`, `manage.py requeue_stale_runs`, and every worker start) re-sends
each piece of work still queued after `PREFLAB_REQUEUE_AFTER_SECONDS`; the workers' claims make a
duplicate message harmless (a run is claimed once; a recomputation with nothing new is skipped).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from celery import Task, current_app, shared_task
from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.db.models import Model, Q
from django.utils import timezone

logger = logging.getLogger(__name__)


def enqueue_on_commit(task: Task | str, *args: Any) -> None:
    """Send `task(*args)` to the broker after the current transaction commits (at once outside
    one). `task` is a Celery task or its registered name. A broker error is logged, never raised:
    the row that asked for the work stays queued and the sweeper sends it again."""
    name = task if isinstance(task, str) else task.name

    def send() -> None:
        try:
            if isinstance(task, str):
                current_app.send_task(task, args=args)
            else:
                task.delay(*args)
        except Exception:  # noqa: BLE001 - the broker's errors vary by transport
            logger.exception("could not queue %s%r; it stays queued in the database and the sweeper "
                             "will send it again", name, args)

    transaction.on_commit(send)


@dataclass(frozen=True)
class QueuedWork:
    """Rows of `model` matching `pending` wait for a worker; `sent_at` says when their message was
    last sent; `task` and `args(row)` make the message."""

    model: str
    pending: Q
    sent_at: str
    task: str
    args: Callable[[Model], tuple]


QUEUED_WORK: dict[str, QueuedWork] = {
    "training runs": QueuedWork(
        model="training.TrainingRun", pending=Q(status="queued", cancel_requested=False), sent_at="enqueued_at",
        task="training.execute_run", args=lambda run: (run.pk,),
    ),
    "quality recomputations": QueuedWork(
        model="labeling.QualityState", pending=Q(queued_at__isnull=False), sent_at="queued_at",
        task="labeling.recompute_quality", args=lambda state: (state.project_id,),
    ),
}


def requeue_after() -> timedelta:
    return timedelta(seconds=settings.REQUEUE_AFTER_SECONDS)


def jobs_resend_queued(*, older_than: timedelta | None = None) -> dict[str, list[int]]:
    """Send again every piece of work still queued whose message went out more than `older_than`
    ago (default PREFLAB_REQUEUE_AFTER_SECONDS): a message lost to a broker outage or a purge.
    Each row's send time is moved on with a conditional UPDATE (still older than the cutoff), so
    two sweepers never both send it. Returns the ids re-sent per kind of work."""
    now = timezone.now()
    cutoff = now - (requeue_after() if older_than is None else older_than)
    resent: dict[str, list[int]] = {}
    for kind, work in QUEUED_WORK.items():
        model = apps.get_model(work.model)
        ids = []
        for row in model.objects.filter(work.pending, **{f"{work.sent_at}__lt": cutoff}):
            with transaction.atomic():
                # "Still older than the cutoff", not "equal to what was read": a value written by
                # raw SQL may be stored in another text form on SQLite, and would never be equal.
                mine = model.objects.filter(work.pending, pk=row.pk, **{f"{work.sent_at}__lt": cutoff}).update(
                    **{work.sent_at: now}
                )
                if mine:
                    enqueue_on_commit(work.task, *work.args(row))
                    ids.append(row.pk)
        resent[kind] = ids
    return resent


@shared_task(name="preflab.sweep_queued_work", ignore_result=True)
def sweep_queued_work() -> dict[str, list[int]]:
    """The beat task (settings.CELERY_BEAT_SCHEDULE): runs left running by a dead worker go back
    to the queue, then queued work whose message was lost is sent again."""
    from training.services import runs_requeue_stale

    return {"stale runs requeued": runs_requeue_stale(), **jobs_resend_queued()}
