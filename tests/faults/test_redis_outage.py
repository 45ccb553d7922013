"""Redis goes away while the service is used, and comes back empty.

A private redis-server (tests/faults/services.py; never the shared one) is the broker of this
process and of the worker. A training run is queued while Redis is up (its message then dies with
Redis, which persists nothing); Redis is killed; items are pushed through the ingestion API and
judgments submitted on the labeling page, whose quality recomputation cannot be sent: every
request is acknowledged (2xx) and stored. Redis restarts empty, a worker starts, and the beat task
(`preflab.sweep_queued_work`, sent through the broker as beat sends it) re-sends what the
database says is still queued: the run trains and registers its model, the recomputation runs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from labeling.models import Judgment, Prompt
from labeling.quality.models import QualityState
from rewards.models import RewardModel
from rewards.services.project_training import project_training_start
from tests.celery_worker import _reset_pools, start_worker, stop_worker
from tests.faults.http import items
from tests.faults.services import PrivateRedis
from tests.requirements_check import skip_or_fail
from tests.rewards_db.conftest import learnable_project
from training.models import TrainingRun

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]

REWARD = {"batch_size": 4, "learning_rate": 0.02, "precision": "fp32", "max_length": 32, "device": "cpu",
          "max_steps": 6}
# A request that enqueues while the broker is down waits for Celery's few quick publish retries
# (about a second), no more: it must not hang on the broker. Generous for a busy machine.
SLOW_REQUEST_S = 10.0


@pytest.fixture(autouse=True)
def _artifacts(settings, tmp_path):
    settings.ARTIFACT_DIR = tmp_path / "artifacts"  # the worker's PREFLAB_ARTIFACT_DIR (tests/celery_worker.py)
    settings.TORCH_THREADS = 1


@pytest.fixture
def redis(tmp_path, transactional_db):
    """A private Redis, and this process's Celery app sending to it."""
    from config.celery import app

    server = PrivateRedis(tmp_path / "redis")
    if server.binary is None:
        skip_or_fail("no redis-server binary to start a private Redis")
    server.start()
    previous = app.conf.broker_url
    app.conf.broker_url = server.url
    _reset_pools()
    yield server
    server.stop()
    _reset_pools()
    app.conf.broker_url = previous


def _wait(condition, what: str, worker, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}; worker log:\n{Path(worker.log_path).read_text()[-4000:]}")


def test_the_service_keeps_accepting_without_redis_and_the_work_runs_once_it_is_back(
    redis, project, annotators, make_user, tiny_gpt2_path, token_client, client, tmp_path
):
    from config.celery import app

    project.quality_config = {"recompute_every": 2}
    project.save()
    learnable_project(project, annotators, n_prompts=8)
    started = project_training_start(project=project, base_model=tiny_gpt2_path, config=REWARD, min_heldout=0,
                                     eval_fraction=0.25)
    run = started.run
    assert TrainingRun.objects.get(pk=run.pk).status == "queued"  # its message is in Redis, no worker yet
    QualityState.objects.get_or_create(project=project)

    redis.stop()  # killed: the run's message is gone with it
    prompts_before, judgments_before = Prompt.objects.count(), Judgment.objects.count()
    slowest = 0.0
    for batch in range(3):
        start = time.monotonic()
        response = token_client.post(f"/api/v1/projects/{project.slug}/items/", items(f"outage{batch}", 5),
                                     format="json")
        slowest = max(slowest, time.monotonic() - start)
        assert response.status_code == 201, response.content
    client.force_login(make_user("pageuser"))
    task = client.post(f"/label/{project.slug}/next/", data="{}", content_type="application/json").json()
    submitted = 0
    while not task["done"] and submitted < 6:
        answer = {"assignment": task["assignment"], "winner": task["shown_order"][submitted % 2]}
        start = time.monotonic()
        response = client.post(f"/label/{project.slug}/submit/", data=answer, content_type="application/json")
        slowest = max(slowest, time.monotonic() - start)
        assert response.status_code == 200, response.content
        submitted += 1
        task = response.json()
    assert submitted == 6
    assert Prompt.objects.count() == prompts_before + 15
    assert Judgment.objects.count() == judgments_before + 6
    state = QualityState.objects.get(project=project)
    assert state.queued_at is not None  # wanted, and the database says so
    assert slowest < SLOW_REQUEST_S, f"a request took {slowest:.1f} s while the broker was down"
    assert TrainingRun.objects.get(pk=run.pk).status == "queued"

    redis.start()  # the same port, empty
    _reset_pools()  # this process reconnects on its next send
    worker = start_worker(tmp_path, extra_env={"CELERY_BROKER_URL": redis.url, "PREFLAB_REQUEUE_AFTER_SECONDS": "1"})
    try:
        time.sleep(1.1)  # older than PREFLAB_REQUEUE_AFTER_SECONDS
        app.send_task("preflab.sweep_queued_work")  # what beat sends every PREFLAB_SWEEP_EVERY_SECONDS
        finished = _wait(lambda: TrainingRun.objects.filter(pk=run.pk, status__in=TrainingRun.FINISHED).first(),
                         "the training run", worker)
        assert finished.status == "succeeded", finished.error
        model = RewardModel.objects.get(run=run)
        assert model.is_active
        computed = QualityState.objects.filter(project=project, queued_at__isnull=True, computed_at__isnull=False)
        if state.computed_at is not None:  # the training start's in-process pass
            computed = computed.filter(computed_at__gt=state.computed_at)
        _wait(computed.exists, "the quality recomputation", worker)
        assert Judgment.objects.filter(task__project=project, quality_reasons__isnull=False).count() >= 6
        log = Path(worker.log_path).read_text()
        assert "preflab.sweep_queued_work" in log and "labeling.recompute_quality" in log
    finally:
        stop_worker(worker)


def test_a_recomputation_queued_by_judgments_is_sent_again_by_the_sweeper(make_project, monkeypatch,
                                                                          django_capture_on_commit_callbacks):
    """The flag is set by raw SQL as judgments come in (labeling/quality/services.py). On SQLite it
    was stored as text in another form than the ORM's ("+00:00" at the end), so the sweeper's claim
    never matched it and a recomputation lost with the broker was never sent again."""
    from datetime import timedelta

    from config.jobs import jobs_resend_queued
    from labeling.quality.services import quality_note_judgment

    sent, down = [], [True]

    def send_task(name, args=()):
        if down[0]:
            raise ConnectionError("broker unreachable")
        sent.append((name, tuple(args)))

    monkeypatch.setattr("config.jobs.current_app.send_task", send_task)
    project = make_project("swept", quality_config={"recompute_every": 2})
    QualityState.objects.create(project=project)
    with django_capture_on_commit_callbacks(execute=True):
        quality_note_judgment(project=project)
        quality_note_judgment(project=project)  # the second queues one: the broker is down
    assert QualityState.objects.get(project=project).queued_at is not None and sent == []
    down[0] = False
    time.sleep(0.01)
    with django_capture_on_commit_callbacks(execute=True):
        resent = jobs_resend_queued(older_than=timedelta(0))
    assert resent["quality recomputations"] == [QualityState.objects.get(project=project).pk]
    assert sent == [("labeling.recompute_quality", (project.pk,))]
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_resend_queued(older_than=timedelta(seconds=60))["quality recomputations"] == []  # once per bound
