"""The crowd API: external and simulated workers list open tasks and post judgments, which go
through the page's judging service into quality, exports and training."""

import json

import pytest
from django.contrib.auth import get_user_model
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from crowd.models import ExternalJudgment, ExternalWorker
from labeling.models import Assignment, Judgment, Project, Task, TaskSample
from labeling.quality.models import AnnotatorStatus, QualityState
from labeling.quality.services import quality_recompute
from labeling.services.assignment import assignment_next
from labeling.services.ingestion import items_ingest
from labeling.services.tokens import token_create
from tests.factories import item

TASKS = "/api/v1/projects/{}/tasks/"
JUDGMENTS = "/api/v1/projects/{}/judgments/"


def post(client, slug, body, **extra):
    return client.post(JUDGMENTS.format(slug), data=json.dumps(body), content_type="application/json", **extra)


def client_for(project) -> APIClient:
    _, key = token_create(project=project, name="crowd")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def task_ids(project) -> list[int]:
    return list(Task.objects.filter(project=project).order_by("pk").values_list("pk", flat=True))


def canonical(task_id: int) -> list[int]:
    return list(TaskSample.objects.filter(task_id=task_id).order_by("position").values_list("sample_id", flat=True))


def row(external_id: str, task: int, annotator: str = "w1", **fields) -> dict:
    """A judgment row; choice "a" unless it names a choice or a ranking."""
    answer = {} if {"choice", "ranking"} & set(fields) else {"choice": "a"}
    return {"external_id": external_id, "task": task, "annotator": annotator, **answer, **fields}


def nothing_stored(users_before: int) -> bool:
    return (Judgment.objects.count() == 0 and Assignment.objects.count() == 0 and ExternalWorker.objects.count() == 0
            and ExternalJudgment.objects.count() == 0 and get_user_model().objects.count() == users_before)


@pytest.fixture
def pairs(project):
    """Five pairwise tasks, the third of higher priority."""
    items_ingest(project=project, items=[item(f"p{i}", priority=5 if i == 2 else 0) for i in range(5)])
    return project


# --- listing open tasks ---------------------------------------------------------------------

def test_open_tasks_are_paginated_in_queue_order_with_samples_in_canonical_order(token_client, pairs):
    seen, url, pages = [], TASKS.format(pairs.slug) + "?status=open&page_size=2", 0
    while url:
        body = token_client.get(url).json()
        assert set(body) == {"count", "next", "results"} and body["count"] == 5
        assert len(body["results"]) == (2 if body["next"] else 1)
        seen += body["results"]
        url, pages = body["next"], pages + 1
    assert pages == 3
    prioritised = Task.objects.get(project=pairs, prompt__external_id="p2").pk
    others = [pk for pk in task_ids(pairs) if pk != prioritised]
    assert [task["id"] for task in seen] == [prioritised, *others]
    first = seen[0]
    assert set(first) == {"id", "kind", "prompt", "samples"}
    assert first["kind"] == "pairwise" and first["prompt"] == "Say something useful."
    assert [s["id"] for s in first["samples"]] == canonical(prioritised)
    assert [(s["external_id"], s["text"]) for s in first["samples"]] == [("s0", "Answer 0 to p2"),
                                                                         ("s1", "Answer 1 to p2")]


def test_a_page_past_the_end_is_empty_and_chat_prompts_come_as_turns(token_client, project):
    turns = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]
    items_ingest(project=project, items=[item("chat", prompt=turns)])
    [task] = token_client.get(TASKS.format(project.slug)).json()["results"]
    assert task["prompt"] == turns
    late = token_client.get(TASKS.format(project.slug) + "?page=9").json()
    assert late == {"count": 1, "next": None, "results": []}


def test_a_task_with_the_judgments_it_wants_is_no_longer_open(token_client, pairs, make_user):
    first, second = task_ids(pairs)[:2]
    assert post(token_client, pairs.slug, [row("j1", first, "w1"), row("j2", first, "w2")]).status_code == 201
    # A browser annotator's open lease holds one of the second task's two slots.
    assert post(token_client, pairs.slug, [row("j3", second, "w1")]).status_code == 201
    Task.objects.filter(pk__in=[pk for pk in task_ids(pairs) if pk != second]).update(priority=-1)
    lease = assignment_next(project=pairs, annotator=make_user("browser"))
    assert lease.task_id == second
    listed = {t["id"] for t in token_client.get(TASKS.format(pairs.slug)).json()["results"]}
    assert listed == set(task_ids(pairs)) - {first, second}
    refused = post(token_client, pairs.slug, [row("j4", second, "w2")])
    assert refused.status_code == 400 and "1 held by annotators working on it" in refused.json()["errors"][0]["message"]


def test_annotator_parameter_leaves_out_what_that_worker_answered(token_client, pairs):
    first = task_ids(pairs)[0]
    post(token_client, pairs.slug, [row("j1", first, "w1")])
    mine = token_client.get(TASKS.format(pairs.slug) + "?annotator=w1").json()
    theirs = token_client.get(TASKS.format(pairs.slug) + "?annotator=w2").json()
    assert mine["count"] == 4 and first not in {t["id"] for t in mine["results"]}
    assert theirs["count"] == 5


@pytest.mark.parametrize("query, field", [
    ("status=done", "status"), ("page=0", "page"), ("page=abc", "page"), ("page=%C2%B2", "page"),
    ("page_size=1001", "page_size"), ("annotator=a%20b", "annotator"),
])
def test_bad_query_parameters_are_a_400_naming_them(token_client, pairs, query, field):
    response = token_client.get(TASKS.format(pairs.slug) + "?" + query)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field and response.json()["detail"].startswith(field)


# --- posting judgments ----------------------------------------------------------------------

def test_judgments_go_through_the_judging_service_as_browser_judgments_do(token_client, pairs):
    first = task_ids(pairs)[0]
    a, b = canonical(first)
    QualityState.objects.create(project=pairs)
    response = post(token_client, pairs.slug, [
        row("j1", first, "w1", choice="b", seconds=12.5, rationale="clearer"),
        row("j2", first, "vendor-7@x.org", choice="tie"),
    ])
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["judgments_created"] == 2 and body["annotators_created"] == 2 and body["duplicates"] == []
    j1 = Judgment.objects.get(external__external_id="j1")
    assert [c["external_id"] for c in body["created"]] == ["j1", "j2"] and body["created"][0]["judgment_id"] == j1.pk
    assert (j1.choice, j1.rationale, j1.response_ms, j1.active_ms) == ("b", "clearer", 12500, 12500)
    assert j1.shown_order == [a, b] and j1.assignment.status == Assignment.Status.SUBMITTED
    assert Task.objects.get(pk=first).judgment_count == 2
    assert QualityState.objects.get(project=pairs).new_judgments == 2  # noted for the recomputation
    worker = ExternalWorker.objects.get(project=pairs, worker_id="w1")
    assert worker.user == j1.annotator and worker.user.username == "crowd.proj.w1"
    assert not worker.user.has_usable_password()  # cannot log in


def test_a_repost_creates_nothing_and_lists_the_duplicates(token_client, pairs):
    first, second = task_ids(pairs)[:2]
    body = [row("j1", first, "w1"), row("j2", second, "w1")]
    assert post(token_client, pairs.slug, body).status_code == 201
    again = post(token_client, pairs.slug, [*body, row("j3", second, "w2")])
    assert again.status_code == 201
    assert again.json()["duplicates"] == ["j1", "j2"] and again.json()["judgments_created"] == 1
    only_old = post(token_client, pairs.slug, body)
    assert only_old.status_code == 200 and only_old.json()["judgments_created"] == 0
    assert Judgment.objects.count() == 3 and ExternalWorker.objects.count() == 2


def test_bad_rows_are_a_400_naming_each_row_and_field_and_nothing_is_stored(token_client, pairs):
    first = task_ids(pairs)[0]
    users = get_user_model().objects.count()
    response = post(token_client, pairs.slug, [
        row("ok", first, "w1"),
        row("j1", first, "w2", choice="left"),
        {"external_id": "j2", "task": True, "annotator": "w3", "choice": "a"},
        {"external_id": "j3", "task": first, "choice": "a"},
        row("j4", first, "has space"),
        {**row("j5", first, "w5"), "winner": 3},
        row("ok", first, "w6"),
        row("j7", first, "w7", ranking=[[1], [2]]),
        {**row("j8", first, "w8"), "seconds": -1, "rationale": 5},
        "not an object",
    ])
    assert response.status_code == 400
    body = response.json()
    assert "nothing was stored" in body["detail"]
    named = {(e["index"], e["field"]) for e in body["errors"]}
    assert named == {(1, "choice"), (2, "task"), (3, "annotator"), (4, "annotator"), (5, "winner"),
                     (6, "external_id"), (7, "ranking"), (8, "seconds"), (8, "rationale"), (9, "")}
    assert all(e["external_id"] == (None if e["index"] == 9 else f"j{e['index']}") for e in body["errors"]
               if e["index"] not in (0, 6))
    assert nothing_stored(users)


def test_rows_refused_by_the_database_checks_store_nothing_either(token_client, pairs, make_project):
    other = make_project("other")
    items_ingest(project=other, items=[item("q1")])
    foreign = Task.objects.get(project=other).pk
    first = task_ids(pairs)[0]
    users = get_user_model().objects.count()
    response = post(token_client, pairs.slug, [row("j0", first, "w1"), row("j1", foreign, "w1"),
                                               row("j2", 10**9, "w2")])
    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(1, "task"), (2, "task")]
    assert "no task" in response.json()["errors"][0]["message"]
    assert nothing_stored(users)


def test_another_projects_token_is_refused(pairs, make_project):
    other = make_project("other")
    stranger = client_for(other)
    first = task_ids(pairs)[0]
    assert stranger.get(TASKS.format(pairs.slug)).status_code == 403
    response = post(stranger, pairs.slug, [row("j1", first)])
    assert response.status_code == 403 and Judgment.objects.count() == 0
    # Its own project does not reach the other's tasks either.
    own = post(stranger, other.slug, [row("j1", first)])
    assert own.status_code == 400 and own.json()["errors"][0]["field"] == "task"
    assert APIClient().get(TASKS.format(pairs.slug)).status_code == 401


def test_quotas_a_full_task_refuses_the_rows_past_it(token_client, pairs):
    first = task_ids(pairs)[0]  # judgments_per_task = 2
    too_many = post(token_client, pairs.slug, [row("j1", first, "w1"), row("j2", first, "w2"),
                                               row("j3", first, "w3")])
    assert too_many.status_code == 400
    [error] = too_many.json()["errors"]
    assert (error["index"], error["field"], error["external_id"]) == (2, "task", "j3")
    assert "already has the 2 judgment(s) it wants" in error["message"] and Judgment.objects.count() == 0
    assert post(token_client, pairs.slug, [row("j1", first, "w1"), row("j2", first, "w2")]).status_code == 201
    late = post(token_client, pairs.slug, [row("j3", first, "w3")])
    assert late.status_code == 400 and "no longer open" in late.json()["errors"][0]["message"]
    assert Task.objects.get(pk=first).judgment_count == 2


def test_a_worker_judges_a_task_once(token_client, pairs):
    first = task_ids(pairs)[0]
    twice = post(token_client, pairs.slug, [row("j1", first, "w1"), row("j2", first, "w1", choice="b")])
    assert twice.status_code == 400 and twice.json()["errors"][0]["index"] == 1
    assert post(token_client, pairs.slug, [row("j1", first, "w1")]).status_code == 201
    again = post(token_client, pairs.slug, [row("j2", first, "w1", choice="b")])
    assert again.status_code == 400 and "already answered" in again.json()["errors"][0]["message"]


def test_paused_and_banned_workers_are_refused(token_client, pairs):
    first, second = task_ids(pairs)[:2]
    post(token_client, pairs.slug, [row("j1", first, "w1"), row("j2", first, "w2")])
    for worker in ("w1", "w2"):
        user = ExternalWorker.objects.get(worker_id=worker).user
        AnnotatorStatus.objects.create(project=pairs, annotator=user,
                                       status="paused" if worker == "w1" else "banned")
    response = post(token_client, pairs.slug, [row("j3", second, "w1"), row("j4", second, "w2")])
    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(0, "annotator"), (1, "annotator")]
    assert "paused" in response.json()["errors"][0]["message"]


def test_ranking_projects_take_rankings_of_sample_ids(make_project):
    project = make_project("rank", kind=Project.Kind.RANKING, ranking_k=3)
    client = client_for(project)
    items_ingest(project=project, items=[item("p1", n_samples=3)])
    [task] = client.get(TASKS.format("rank")).json()["results"]
    assert task["kind"] == "ranking"
    x, y, z = (s["id"] for s in task["samples"])
    bad = post(client, "rank", [row("j1", task["id"], "w1", choice="a"),
                                row("j2", task["id"], "w2", ranking=[[x], [y]]),
                                row("j3", task["id"], "w3", ranking=[[x], [y, 7.0]])])
    assert bad.status_code == 400
    assert [(e["index"], e["field"]) for e in bad.json()["errors"]] == [(0, "choice"), (1, "ranking"), (2, "ranking")]
    assert post(client, "rank", [row("j1", task["id"], "w1", ranking=[[z], [x, y]])]).status_code == 201
    assert Judgment.objects.get().ranking == [[z], [x, y]]


def test_too_many_rows_or_too_large_a_body_is_a_413(token_client, pairs, settings):
    first = task_ids(pairs)[0]
    settings.CROWD_MAX_JUDGMENTS = 1
    response = post(token_client, pairs.slug, [row("j1", first, "w1"), row("j2", first, "w2")])
    assert response.status_code == 413 and "at most 1" in response.json()["detail"]
    settings.CROWD_MAX_JUDGMENTS = 1000
    settings.INGEST_MAX_BODY_BYTES = 50
    response = post(token_client, pairs.slug, [row("j1", first, "w1")])
    assert response.status_code == 413 and "50 bytes" in response.json()["detail"]
    assert Judgment.objects.count() == 0


@pytest.mark.parametrize("body", [{}, [], "x", None])
def test_a_body_that_is_not_a_list_of_rows_is_a_400(token_client, pairs, body):
    response = post(token_client, pairs.slug, body)
    assert response.status_code == 400 and response.json()["detail"]


def test_strict_parser_applies(token_client, pairs):
    first = task_ids(pairs)[0]
    raw = f'[{{"external_id": "j1", "task": {first}, "annotator": "w1", "choice": "a", "rationale": "\\ud800"}}]'
    response = token_client.post(JUDGMENTS.format(pairs.slug), data=raw, content_type="application/json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "rationale"
    form = token_client.post(JUDGMENTS.format(pairs.slug), data="a=1",
                             content_type="application/x-www-form-urlencoded")
    assert form.status_code == 415


# --- the same pipeline as browser judgments ------------------------------------------------

def test_crowd_judgments_appear_in_the_exports(token_client, pairs):
    first = task_ids(pairs)[0]
    post(token_client, pairs.slug, [row("j1", first, "w1", choice="b", seconds=20),
                                    row("j2", first, "w2", choice="b", seconds=20)])
    pairs_rows = [json.loads(line) for line in
                  b"".join(token_client.get(f"/api/v1/projects/{pairs.slug}/export/?format=pairs")
                           .streaming_content).decode().splitlines()]
    [exported] = pairs_rows
    assert (exported["chosen_id"], exported["rejected_id"], exported["chosen_votes"]) == ("s1", "s0", 2)
    judgments = [json.loads(line) for line in
                 b"".join(token_client.get(f"/api/v1/projects/{pairs.slug}/export/?format=judgments")
                          .streaming_content).decode().splitlines()]
    assert {j["annotator"] for j in judgments} == {"crowd.proj.w1", "crowd.proj.w2"}
    assert all(j["response_ms"] == 20000 and j["choice"] == "b" for j in judgments)


def test_crowd_judgments_are_checked_by_the_quality_filters(token_client, pairs):
    first, second = task_ids(pairs)[:2]
    post(token_client, pairs.slug, [row("fast", first, "w1", seconds=0.5), row("slow", second, "w1", seconds=30)])
    quality_recompute(project_id=pairs.pk, force=True)
    fast, slow = (Judgment.objects.get(external__external_id=name) for name in ("fast", "slow"))
    assert fast.signals["too_fast"] is True and not fast.included
    assert slow.signals["too_fast"] is False and slow.included


def test_crowd_judgments_enter_the_training_snapshot(token_client, pairs):
    from rewards.services.snapshot import dataset_records, dataset_snapshot

    # Both workers agree, and pick the first sample half the time (no position bias to filter).
    rows = [row(f"j{pk}-{w}", pk, w, choice="ab"[n % 2], seconds=30)
            for n, pk in enumerate(task_ids(pairs)) for w in ("w1", "w2")]
    assert post(token_client, pairs.slug, rows).status_code == 201
    dataset = dataset_snapshot(project=pairs, seed=0, eval_fraction=0.0)
    records = dataset_records(dataset.path)
    assert sorted(r["judgment_id"] for r in records) == sorted(Judgment.objects.values_list("pk", flat=True))
    assert len(records) == 10


def test_the_schema_documents_both_operations_like_the_others():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, method, codes in (("/api/v1/projects/{slug}/tasks/", "get", {"400", "401", "403", "404"}),
                                ("/api/v1/projects/{slug}/judgments/", "post",
                                 {"400", "401", "403", "404", "413", "415"})):
        operation = schema["paths"][path][method]
        assert {"projectToken": []} in operation["security"]
        for code in codes:
            assert operation["responses"][code]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"}
    page = schema["components"]["schemas"]["CrowdTaskPage"]
    assert set(page["properties"]) == {"count", "next", "results"}


def test_a_login_user_with_the_workers_name_is_not_taken_over(token_client, pairs, make_user):
    person = make_user("crowd.proj.w1")
    post(token_client, pairs.slug, [row("j1", task_ids(pairs)[0], "w1")])
    worker = ExternalWorker.objects.get(worker_id="w1").user
    assert worker != person and worker.username == "crowd.proj.w1-2"
    assert Judgment.objects.get().annotator == worker and person.has_usable_password()
