from datetime import timedelta

import pytest
from django.utils import timezone

from training.models import TrainingRun
from training.services import (
    RunCancelled,
    run_cancel,
    run_claim,
    run_finish,
    run_report,
    runs_requeue_stale,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    return TrainingRun.objects.create(kind="reward", config={"lr": 1e-4})


def test_claim_is_idempotent(run):
    assert run_claim(run_id=run.pk, worker="w1").status == "running"
    assert run_claim(run_id=run.pk, worker="w2") is None  # a redelivered message does nothing
    run_finish(run_id=run.pk, status="succeeded")
    assert run_claim(run_id=run.pk, worker="w3") is None


def test_stale_running_run_can_be_reclaimed(run):
    run_claim(run_id=run.pk, worker="w1")
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    again = run_claim(run_id=run.pk, worker="w2")
    assert again.worker == "w2" and again.attempts == 2


def test_report_records_progress_and_metrics(run):
    run_claim(run_id=run.pk)
    run_report(run_id=run.pk, step=5, total_steps=20, metrics={"loss": 0.6})
    run_report(run_id=run.pk, step=10, total_steps=20)
    run.refresh_from_db()
    assert run.progress == 0.5 and run.step == 10 and run.metrics == [{"step": 5, "loss": 0.6}]


def test_cancel_queued_is_immediate_and_running_stops_at_next_report(run):
    other = TrainingRun.objects.create(kind="reward")
    assert run_cancel(run=other).status == "cancelled"
    assert run_claim(run_id=other.pk) is None
    run_claim(run_id=run.pk)
    run_cancel(run=run)
    with pytest.raises(RunCancelled):
        run_report(run_id=run.pk, step=1, total_steps=2)


def test_requeue_stale_sends_the_run_again(run, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr("training.tasks.execute_run.delay", lambda run_id: sent.append(run_id))
    run_claim(run_id=run.pk)
    assert runs_requeue_stale() == []  # fresh heartbeat: left alone
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert runs_requeue_stale() == [run.pk]
    assert sent == [run.pk]
    run.refresh_from_db()
    assert run.status == "queued"
