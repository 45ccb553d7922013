"""One way to enqueue (config.jobs.enqueue_on_commit) and a sweeper that re-sends queued work whose
message was lost: the database, not the broker, says what is queued."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from config.jobs import enqueue_on_commit, jobs_resend_queued, sweep_queued_work
from labeling.quality.models import QualityState
from labeling.quality.services import quality_enqueue
from training.models import TrainingRun
from training.services import run_cancel, run_claim, run_create

pytestmark = pytest.mark.django_db


class Broker:
    """Stands in for the broker: records what was sent, or fails like one that is down."""

    def __init__(self, monkeypatch):
        self.sent: list[tuple[str, tuple]] = []
        self.down = False
        monkeypatch.setattr("config.jobs.current_app.send_task", self.send_task)
        monkeypatch.setattr("training.tasks.execute_run.delay",
                            lambda *args: self.send_task("training.execute_run", args))

    def send_task(self, name: str, args: tuple = ()) -> None:
        if self.down:
            raise ConnectionError("broker unreachable")
        self.sent.append((name, tuple(args)))


@pytest.fixture
def broker(monkeypatch):
    return Broker(monkeypatch)


def age(model, pk: int, field: str, seconds: int) -> None:
    model.objects.filter(pk=pk).update(**{field: timezone.now() - timedelta(seconds=seconds)})


def test_a_queued_run_whose_message_was_lost_is_sent_again(broker, django_capture_on_commit_callbacks, settings):
    settings.REQUEUE_AFTER_SECONDS = 600
    broker.down = True  # the broker is down when the run's transaction commits
    with django_capture_on_commit_callbacks(execute=True):
        run = run_create(kind="reward", config={}, inputs={})
    assert broker.sent == [] and TrainingRun.objects.get(pk=run.pk).status == "queued"  # created, not refused

    broker.down = False
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_resend_queued()["training runs"] == []  # too recent: its message may still be on its way
    age(TrainingRun, run.pk, "enqueued_at", 601)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_resend_queued()["training runs"] == [run.pk]
    assert broker.sent == [("training.execute_run", (run.pk,))]
    run.refresh_from_db()
    assert timezone.now() - run.enqueued_at < timedelta(seconds=60)  # the clock restarts: one re-send per bound
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_resend_queued()["training runs"] == []
    assert run_claim(run_id=run.pk).status == "running"  # the re-sent message trains it


def test_only_runs_still_waiting_are_sent_again(broker, django_capture_on_commit_callbacks):
    waiting, running, cancelled, done = (TrainingRun.objects.create(kind="reward") for _ in range(4))
    run_claim(run_id=running.pk)
    run_cancel(run=cancelled)
    run_claim(run_id=done.pk)
    TrainingRun.objects.filter(pk=done.pk).update(status="succeeded")
    for run in (waiting, running, cancelled, done):
        age(TrainingRun, run.pk, "enqueued_at", 3600)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_resend_queued(older_than=timedelta(minutes=10))["training runs"] == [waiting.pk]
    assert broker.sent == [("training.execute_run", (waiting.pk,))]


def test_a_lost_quality_recomputation_keeps_its_flag_and_is_sent_again(
    broker, project, django_capture_on_commit_callbacks
):
    state = QualityState.objects.create(project=project, queued_at=timezone.now())
    broker.down = True
    with django_capture_on_commit_callbacks(execute=True):
        quality_enqueue(project_id=project.pk)
    state.refresh_from_db()
    assert broker.sent == [] and state.queued_at is not None  # still wanted: the database says so

    broker.down = False
    age(QualityState, state.pk, "queued_at", 3600)
    QualityState.objects.create(project=type(project).objects.create(slug="idle", name="Idle", kind="pairwise"))
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_resend_queued(older_than=timedelta(minutes=10))["quality recomputations"] == [state.pk]
    assert broker.sent == [("labeling.recompute_quality", (project.pk,))]  # not the project with nothing queued


def test_enqueue_waits_for_the_commit_and_sends_nothing_on_rollback(broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            enqueue_on_commit("labeling.recompute_quality", 1)
            assert broker.sent == []
    assert broker.sent == [("labeling.recompute_quality", (1,))]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            enqueue_on_commit("labeling.recompute_quality", 2)
            raise RuntimeError("rolled back")
    assert callbacks == [] and broker.sent == [("labeling.recompute_quality", (1,))]


def test_beat_task_and_command_run_the_sweeper(broker, django_capture_on_commit_callbacks, capsys):
    run = TrainingRun.objects.create(kind="reward")
    age(TrainingRun, run.pk, "enqueued_at", 3600)
    stale = TrainingRun.objects.create(kind="reward")
    run_claim(run_id=stale.pk)
    TrainingRun.objects.filter(pk=stale.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        result = sweep_queued_work()
    assert result == {"stale runs requeued": [stale.pk], "training runs": [run.pk], "quality recomputations": []}
    assert sorted(broker.sent) == sorted([("training.execute_run", (run.pk,)), ("training.execute_run", (stale.pk,))])

    age(TrainingRun, run.pk, "enqueued_at", 120)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("requeue_stale_runs", "--older-than", "60")
    out = capsys.readouterr().out
    assert f"sent again 1 queued training runs: [{run.pk}]" in out and "no lost quality recomputations" in out
