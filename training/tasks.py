import logging

from celery import shared_task
from celery.signals import worker_ready

from config.jobs import jobs_resend_queued
from training.services import run_execute, runs_requeue_stale

logger = logging.getLogger(__name__)


@shared_task(name="training.execute_run", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def execute_run(run_id: int) -> None:
    """Train one run. Late ack: a worker killed mid-run leaves the message to be redelivered, and
    the claim makes a redelivery of a healthy or finished run do nothing."""
    run_execute(run_id=run_id, worker=execute_run.request.hostname)


@worker_ready.connect
def _requeue_on_start(**_kwargs) -> None:
    requeued = runs_requeue_stale()
    if requeued:
        logger.warning("requeued runs left running by a lost worker: %s", requeued)
    resent = {kind: ids for kind, ids in jobs_resend_queued().items() if ids}
    if resent:
        logger.warning("sent again queued work whose message was lost: %s", resent)
