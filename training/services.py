"""The life of a training run: create and enqueue, claim (idempotent), report progress with a
heartbeat, finish, cancel, and requeue runs whose worker died."""

import logging
import socket
import traceback
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from config.errors import AppError
from config.jobs import enqueue_on_commit
from training.models import TrainingRun

MAX_LOG_CHARS = 200_000
logger = logging.getLogger(__name__)


class RunCancelled(Exception):
    """Raised inside a runner when an admin asked to cancel the run."""


class RunStateError(AppError):
    """A run asked for what its state does not allow (retry a run that has not failed)."""

    status = 409


def stale_after() -> timedelta:
    return timedelta(seconds=settings.RUN_STALE_SECONDS)


def _enqueue(run_id: int) -> None:
    from training.tasks import execute_run

    enqueue_on_commit(execute_run, run_id)


def run_create(*, kind: str, config: dict, inputs: dict, created_by=None) -> TrainingRun:
    """Make a queued run and send it to the `gpu` queue once the transaction commits."""
    with transaction.atomic():
        run = TrainingRun.objects.create(kind=kind, config=config, inputs=inputs, created_by=created_by)
        _enqueue(run.pk)
    return run


def run_claim(*, run_id: int, worker: str | None = None) -> TrainingRun | None:
    """Take the run for this worker with one conditional UPDATE: a queued run, or a running one
    whose heartbeat went stale (its worker died). A redelivered message for a run that is
    running fine, or finished, claims nothing and so does nothing."""
    now = timezone.now()
    claimable = Q(status=TrainingRun.Status.QUEUED, cancel_requested=False) | Q(
        status=TrainingRun.Status.RUNNING, heartbeat_at__lt=now - stale_after()
    )
    updated = TrainingRun.objects.filter(claimable, pk=run_id).update(
        status=TrainingRun.Status.RUNNING,
        worker=worker or socket.gethostname(),
        heartbeat_at=now,
        started_at=now,
        attempts=F("attempts") + 1,
    )
    return TrainingRun.objects.get(pk=run_id) if updated else None


def run_report(*, run_id: int, step: int, total_steps: int, metrics: dict | None = None) -> None:
    """Progress and heartbeat. Raises RunCancelled when an admin asked to stop."""
    run = TrainingRun.objects.only("metrics", "cancel_requested").get(pk=run_id)
    fields = {
        "step": step,
        "total_steps": total_steps,
        "progress": min(1.0, step / total_steps) if total_steps else 0.0,
        "heartbeat_at": timezone.now(),
    }
    if metrics:
        fields["metrics"] = [*run.metrics, {"step": step, **metrics}]
    TrainingRun.objects.filter(pk=run_id).update(**fields)
    if run.cancel_requested:
        raise RunCancelled()


def run_log(*, run_id: int, line: str) -> None:
    run = TrainingRun.objects.only("logs").get(pk=run_id)
    stamp = timezone.now().strftime("%H:%M:%S")
    logs = (run.logs + f"[{stamp}] {line}\n")[-MAX_LOG_CHARS:]
    TrainingRun.objects.filter(pk=run_id).update(logs=logs, heartbeat_at=timezone.now())


def run_finish(
    *, run_id: int, status: str, final_metrics: dict | None = None, artifact_path: str = "", error: str = ""
) -> TrainingRun:
    updates = {"status": status, "finished_at": timezone.now(), "error": error[-20_000:]}
    if final_metrics is not None:
        updates["final_metrics"] = final_metrics
    if artifact_path:
        updates["artifact_path"] = artifact_path
    if status == TrainingRun.Status.SUCCEEDED:
        updates["progress"] = 1.0
    TrainingRun.objects.filter(pk=run_id).update(**updates)
    run = TrainingRun.objects.get(pk=run_id)
    _notify_finished(run)
    return run


def _notify_finished(run: TrainingRun) -> None:
    """Tell whoever waits for runs (training.registry.register_finish_hook) that this one ended.
    A hook's failure is logged, never the run's: the run's outcome is already recorded."""
    from training.registry import finish_hooks

    for hook in finish_hooks():
        try:
            hook(run)
        except Exception:  # noqa: BLE001 - a waiter's bug must not fail the run that finished
            logger.exception("finish hook %r failed for run %s", hook, run.pk)


def run_cancel(*, run: TrainingRun) -> TrainingRun:
    """A queued run is cancelled at once; a running one stops at its next progress report."""
    with transaction.atomic():
        locked = TrainingRun.objects.select_for_update().get(pk=run.pk)
        cancelled_now = locked.status == TrainingRun.Status.QUEUED
        if cancelled_now:
            locked.status = TrainingRun.Status.CANCELLED
            locked.finished_at = timezone.now()
        if locked.status not in TrainingRun.FINISHED:
            locked.cancel_requested = True
        locked.save()
    if cancelled_now:
        _notify_finished(locked)
    return locked


def run_retry(*, run: TrainingRun) -> TrainingRun:
    """Queue a failed or cancelled run again. The same run (id, settings, inputs) resumes from its
    last checkpoint, so whatever names it still does: a round stopped on it reuses it once retried."""
    with transaction.atomic():
        locked = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if locked.status not in (TrainingRun.Status.FAILED, TrainingRun.Status.CANCELLED):
            raise RunStateError(f"run {locked.pk} is {locked.status}; only a failed or cancelled run can be retried")
        # The error is cleared for the new attempt; its first line stays in the log.
        first_line = (locked.error.strip().splitlines() or [""])[0][:500]
        note = f"retry: queued again; it was {locked.status}" + (f": {first_line}" if first_line else "")
        locked.status, locked.cancel_requested, locked.error = TrainingRun.Status.QUEUED, False, ""
        locked.finished_at, locked.enqueued_at = None, timezone.now()
        locked.save(update_fields=["status", "cancel_requested", "error", "finished_at", "enqueued_at"])
        _enqueue(locked.pk)
    run_log(run_id=locked.pk, line=note)
    locked.refresh_from_db()
    return locked


def runs_requeue_stale() -> list[int]:
    """Runs left 'running' by a worker that died go back to the queue (and resume from their
    last checkpoint). Called when a worker starts, by the beat task preflab.sweep_queued_work and
    by `manage.py requeue_stale_runs`; a queued run whose message was lost is re-sent by
    config.jobs.jobs_resend_queued."""
    cutoff = timezone.now() - stale_after()
    ids = []
    with transaction.atomic():
        stale = TrainingRun.objects.select_for_update(skip_locked=True).filter(
            status=TrainingRun.Status.RUNNING, heartbeat_at__lt=cutoff
        )
        for run in stale:
            run.status = TrainingRun.Status.QUEUED
            run.enqueued_at = timezone.now()
            run.save(update_fields=["status", "enqueued_at"])
            _enqueue(run.pk)
            ids.append(run.pk)
    return ids


class RunContext:
    """What a runner uses to report progress (and learn of a cancel) and to log."""

    def __init__(self, run_id: int):
        self.run_id = run_id

    def report(self, *, step: int, total_steps: int, metrics: dict | None = None) -> None:
        run_report(run_id=self.run_id, step=step, total_steps=total_steps, metrics=metrics)

    def log(self, line: str) -> None:
        run_log(run_id=self.run_id, line=line)


def run_execute(
    *, run_id: int, worker: str | None = None, runner: Callable | None = None, raise_errors: bool = False
) -> TrainingRun | None:
    """Claim the run and train it here, recording how it ended. None when the claim fails (a
    redelivered message, or a finished run). `runner` defaults to the one registered for the
    run's kind; the CLI passes its own (with progress bars) and raise_errors=True."""
    from training.registry import runner_for

    run = run_claim(run_id=run_id, worker=worker)
    if run is None:
        return None
    context = RunContext(run.pk)
    if run.attempts > 1:
        context.log(f"resuming (attempt {run.attempts})")
    try:
        outcome = (runner or runner_for(run.kind))(run, context)
    except RunCancelled:
        return run_finish(run_id=run.pk, status=TrainingRun.Status.CANCELLED)
    except Exception as error:  # noqa: BLE001 - any failure is recorded on the run, not lost
        if raise_errors:
            run_finish(run_id=run.pk, status=TrainingRun.Status.FAILED, error=f"{error}\n{traceback.format_exc()}")
            raise
        logger.exception("run %s failed", run.pk)
        return run_finish(run_id=run.pk, status=TrainingRun.Status.FAILED, error=f"{error}\n{traceback.format_exc()}")
    except BaseException as error:
        # Ctrl-C in the CLI ends the run as failed; a worker's own shutdown leaves it to be requeued.
        if raise_errors:
            run_finish(run_id=run.pk, status=TrainingRun.Status.FAILED, error=f"interrupted: {error!r}")
        raise
    return run_finish(
        run_id=run.pk,
        status=TrainingRun.Status.SUCCEEDED,
        final_metrics=outcome.get("metrics", {}),
        artifact_path=outcome.get("artifact_path", ""),
    )
