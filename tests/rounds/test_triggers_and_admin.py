"""Rounds without training: the threshold trigger (N new clean labels since the last succeeded
round), the sweeper that wakes a round whose run ended unnoticed, and the admin (lineage,
retry, start the next round through the rounds.advance task)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from labeling.models import Judgment
from rounds.models import Round, RoundStep
from rounds.services import round_create, rounds_start_due, rounds_sweep
from training.models import TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch) -> list:
    """Tasks sent by name through config.jobs.enqueue_on_commit (no broker)."""
    calls: list = []
    monkeypatch.setattr("config.jobs.current_app.send_task", lambda name, args: calls.append((name, *args)))
    return calls


def _succeeded_round(project) -> Round:
    rnd = round_create(project=project, config={"generate": {"k": 3}})
    Round.objects.filter(pk=rnd.pk).update(status="succeeded", current_step="", finished_at=timezone.now())
    rnd.steps.update(status="succeeded")
    return Round.objects.get(pk=rnd.pk)


def test_threshold_starts_the_next_round_after_n_new_clean_labels(labeled_project, monkeypatch):
    project = labeled_project  # 16 clean judgments
    assert rounds_start_due(every=1) == []  # a project that never ran a round is left alone
    last = _succeeded_round(project)
    Judgment.objects.filter(task__project=project).update(created_at=last.created_at - timezone.timedelta(hours=1))
    assert rounds_start_due(every=3) == []  # no new labels since
    fresh = list(Judgment.objects.filter(task__project=project).order_by("pk")[:3])
    Judgment.objects.filter(pk__in=[j.pk for j in fresh]).update(created_at=timezone.now())
    Judgment.objects.filter(pk=fresh[0].pk).update(included=False)  # not clean: does not count
    assert rounds_start_due(every=3) == []
    Judgment.objects.filter(pk=fresh[0].pk).update(included=True)
    assert rounds_start_due(every=0) == []  # off
    calls = []
    monkeypatch.setattr("rounds.services.round_advance", lambda *, round_id: calls.append(round_id) or
                        Round.objects.get(pk=round_id))
    (started,) = rounds_start_due(every=3)
    assert started.number == 2 and started.trigger == "threshold" and started.config == last.config
    assert not started.execute_here and calls == [started.pk]
    assert rounds_start_due(every=3) == []  # round 2 has not succeeded yet


def test_sweep_wakes_a_round_whose_run_ended_unnoticed(project, monkeypatch):
    rnd = round_create(project=project)
    run = TrainingRun.objects.create(kind="reward", status="running")
    step = rnd.steps.get(name="reward")
    RoundStep.objects.filter(pk=step.pk).update(status="waiting", run=run)
    calls = []
    monkeypatch.setattr("rounds.services.round_advance", lambda *, round_id: calls.append(round_id))
    assert rounds_sweep() == [] and calls == []  # still running
    TrainingRun.objects.filter(pk=run.pk).update(status="failed")
    assert rounds_sweep() == [rnd.pk] and calls == [rnd.pk]


def test_admin_shows_lineage_and_retries_or_starts_rounds_through_the_task(admin_client, project, sent,
                                                                          django_capture_on_commit_callbacks):
    failed = round_create(project=project)
    Round.objects.filter(pk=failed.pk).update(status="failed", current_step="ppo", error="step 4 (ppo) failed: x")
    failed.steps.filter(position__lt=3).update(status="succeeded")
    failed.steps.filter(name="ppo").update(status="failed", error="x")
    page = admin_client.get(f"/admin/rounds/round/{failed.pk}/change/").content.decode()
    assert "Lineage" in page and "generation batch" in page and "step 4 (ppo) failed: x" in page
    assert admin_client.get("/admin/rounds/round/add/").status_code == 403

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post("/admin/rounds/round/", {"action": "retry_rounds", "_selected_action": [failed.pk]})
    failed.refresh_from_db()
    assert failed.status == "running" and failed.steps.get(name="ppo").status == "pending"
    assert failed.steps.get(name="reward").status == "succeeded" and sent == [("rounds.advance", failed.pk)]

    page = admin_client.post("/admin/rounds/round/", {"action": "start_next_rounds", "_selected_action": [failed.pk]},
                             follow=True).content.decode()
    assert "already has round" in page and Round.objects.count() == 1  # one unfinished round at a time
    Round.objects.filter(pk=failed.pk).update(status="succeeded")
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post("/admin/rounds/round/", {"action": "start_next_rounds", "_selected_action": [failed.pk]})
    new = Round.objects.get(number=2)
    assert new.trigger == "admin" and new.created_by.is_superuser and sent[-1] == ("rounds.advance", new.pk)


def test_a_round_interrupted_mid_step_resumes_from_that_step(project):
    from rounds.services import RoundError, round_retry

    rnd = round_create(project=project)
    rnd.steps.filter(name="quality").update(status="succeeded", attempts=1)
    rnd.steps.filter(name="snapshot").update(status="running", attempts=1, started_at=timezone.now())
    Round.objects.filter(pk=rnd.pk).update(current_step="snapshot")
    with pytest.raises(RoundError, match="is running, not failed"):  # a live step is not taken over
        round_retry(round=rnd)
    rnd.steps.filter(name="snapshot").update(started_at=timezone.now() - timezone.timedelta(hours=1))
    rnd = round_retry(round=rnd)
    # The snapshot step ran again (nothing labeled: it fails, saying why); quality was not redone.
    steps = {s.name: s for s in rnd.steps.all()}
    assert steps["snapshot"].attempts == 2 and steps["quality"].attempts == 1
    assert rnd.status == "failed" and "no usable judgments" in rnd.error
