"""The rounds API (list, start on the workers, one round, retry) and the schedule trigger."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from labeling.models import Judgment
from labeling.services.tokens import token_create
from rounds.models import Round
from rounds.services import round_create, rounds_start_due

pytestmark = pytest.mark.django_db
ROUNDS = "/api/v1/projects/{}/rounds/"


@pytest.fixture
def sent(monkeypatch) -> list:
    """Tasks sent by name through config.jobs.enqueue_on_commit (no broker)."""
    calls: list = []
    monkeypatch.setattr("config.jobs.current_app.send_task", lambda name, args: calls.append((name, *args)))
    return calls


@pytest.fixture
def post(django_capture_on_commit_callbacks):
    """POST a JSON body, then run what the request queued for after its commit."""
    def send(client, url, body=None):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, data=json.dumps(body) if body is not None else None,
                               content_type="application/json")
    return send


def _client(project) -> APIClient:
    _, key = token_create(project=project, name="loop")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_start_lists_and_shows_rounds_through_the_workers(project, sent, post):
    client = _client(project)
    reply = post(client, ROUNDS.format(project.slug), {"config": {"generate": {"k": 3}}})
    assert reply.status_code == 202, reply.content
    body = reply.json()
    assert body["number"] == 1 and body["trigger"] == "api" and body["config"]["generate"]["k"] == 3
    assert [s["name"] for s in body["steps"]] == ["quality", "snapshot", "reward", "ppo", "generate", "enqueue"]
    assert sent == [("rounds.advance", body["id"])]  # queued, not run in the request
    busy = post(client, ROUNDS.format(project.slug))
    assert busy.status_code == 409 and "already has round" in busy.json()["detail"]

    Round.objects.filter(pk=body["id"]).update(status="succeeded")
    again = post(client, ROUNDS.format(project.slug))  # no config: the last round's settings
    assert again.status_code == 202 and again.json()["config"]["generate"]["k"] == 3
    listed = client.get(ROUNDS.format(project.slug)).json()
    assert listed["count"] == 2 and [r["number"] for r in listed["results"]] == [2, 1]
    assert set(listed["results"][0]["lineage"]) >= {"dataset", "reward_model", "policy", "generation_batch"}
    one = client.get(ROUNDS.format(project.slug) + "1/")
    assert one.status_code == 200 and one.json()["id"] == body["id"]
    assert client.get(ROUNDS.format(project.slug) + "9/").status_code == 404


@pytest.mark.parametrize("body, words", [
    ({"config": {"nonsense": {}}}, "unknown round setting"),
    ({"config": {"ppo": {"steps": 3}}}, "unknown ppo setting"),
    ({"config": []}, '"config" must be an object'),
    ({"config": {"enqueue": {"prioritise": "loudness"}}}, "prioritise must be false, true, or one of"),
    ({"other": 1}, "at most a \"config\""),
    ([1, 2], "must be an object"),
])
def test_bad_start_bodies_are_a_400_and_start_nothing(project, sent, post, body, words):
    reply = post(_client(project), ROUNDS.format(project.slug), body)
    assert reply.status_code == 400 and words in reply.json()["detail"]
    assert not Round.objects.exists() and sent == []


def test_retry_resumes_a_failed_round_on_the_workers_and_refuses_others(project, sent, post):
    client = _client(project)
    rnd = round_create(project=project)
    url = ROUNDS.format(project.slug) + f"{rnd.number}/retry/"
    refused = post(client, url)
    assert refused.status_code == 409 and "not failed" in refused.json()["detail"]
    step = rnd.steps.get(name="reward")
    step.status, step.error = "failed", "boom"
    step.save()
    rnd.steps.filter(position__lt=step.position).update(status="succeeded")
    Round.objects.filter(pk=rnd.pk).update(status="failed", current_step="reward")
    reply = post(client, url)
    assert reply.status_code == 202 and reply.json()["status"] == "running"
    assert sent == [("rounds.advance", rnd.pk)]
    assert rnd.steps.get(name="reward").status == "pending"


def test_another_projects_token_and_anonymous_are_refused(project, make_project, post):
    other = make_project("other")
    assert _client(other).get(ROUNDS.format(project.slug)).status_code == 403
    assert post(_client(other), ROUNDS.format(project.slug)).status_code == 403
    assert APIClient().get(ROUNDS.format(project.slug)).status_code in (401, 403)
    assert not Round.objects.exists()


def test_schedule_starts_the_next_round_hours_after_the_last_with_new_clean_labels(labeled_project, monkeypatch):
    project = labeled_project
    last = round_create(project=project)
    finished = timezone.now() - timezone.timedelta(hours=5)
    Round.objects.filter(pk=last.pk).update(status="succeeded", finished_at=finished)
    Judgment.objects.filter(task__project=project).update(created_at=last.created_at - timezone.timedelta(hours=1))
    monkeypatch.setattr("rounds.services.round_advance", lambda *, round_id: Round.objects.get(pk=round_id))
    assert rounds_start_due(every=0, hours=4) == []  # no new clean label: nothing to learn from
    Judgment.objects.filter(pk=Judgment.objects.filter(task__project=project).first().pk).update(
        created_at=timezone.now())
    assert rounds_start_due(every=0, hours=6) == []  # not yet due
    assert rounds_start_due(every=0, hours=0) == []  # off
    (started,) = rounds_start_due(every=0, hours=4)
    assert started.trigger == "schedule" and started.number == 2 and started.config == last.config
