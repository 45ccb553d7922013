import logging
import traceback

from celery import shared_task
from celery.signals import worker_ready

from training.models import TrainingRun
from training.registry import runner_for
from training.services import RunCancelled, run_claim, run_finish, run_log, run_report, runs_requeue_stale

logger = logging.getLogger(__name__)


class _Context:
    """What a runner uses to report progress (and learn of a cancel) and to log."""

    def __init__(self, run_id: int):
        self.run_id = run_id

    def report(self, *, step: int, total_steps: int, metrics: dict | None = None) -> None:
        run_report(run_id=self.run_id, step=step, total_steps=total_steps, metrics=metrics)

    def log(self, line: str) -> None:
        run_log(run_id=self.run_id, line=line)


@shared_task(name="training.execute_run", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def execute_run(run_id: int) -> None:
    """Train one run. Late ack: a worker killed mid-run leaves the message to be redelivered, and
    the claim makes a redelivery of a healthy or finished run do nothing."""
    run = run_claim(run_id=run_id, worker=execute_run.request.hostname)
    if run is None:
        return
    context = _Context(run.pk)
    if run.attempts > 1:
        context.log(f"resuming (attempt {run.attempts})")
    try:
        outcome = runner_for(run.kind)(run, context)
    except RunCancelled:
        run_finish(run_id=run.pk, status=TrainingRun.Status.CANCELLED)
    except Exception as error:  # noqa: BLE001 - any failure is recorded on the run, not lost
        logger.exception("run %s failed", run.pk)
        run_finish(run_id=run.pk, status=TrainingRun.Status.FAILED, error=f"{error}\n{traceback.format_exc()}")
    else:
        run_finish(
            run_id=run.pk,
            status=TrainingRun.Status.SUCCEEDED,
            final_metrics=outcome.get("metrics", {}),
            artifact_path=outcome.get("artifact_path", ""),
        )


@worker_ready.connect
def _requeue_on_start(**_kwargs) -> None:
    requeued = runs_requeue_stale()
    if requeued:
        logger.warning("requeued runs left running by a lost worker: %s", requeued)
