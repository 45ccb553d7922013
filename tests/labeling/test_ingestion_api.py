import json

import pytest
from rest_framework.test import APIClient

from labeling.models import Prompt, Sample, Task, TaskSample
from tests.factories import item

URL = "/api/v1/projects/{}/items/"


def post(client, slug, body, **extra):
    return client.post(URL.format(slug), data=json.dumps(body), content_type="application/json", **extra)


def test_creates_prompts_samples_and_pair_tasks(token_client, project):
    response = post(token_client, project.slug, [item("p1"), item("p2", n_samples=3)])
    assert response.status_code == 201, response.content
    assert response.json() == {"prompts_created": 2, "samples_created": 5, "tasks_created": 1 + 3, "duplicates": []}
    task = Task.objects.filter(prompt__external_id="p2").first()
    assert task.judgments_wanted == project.judgments_per_task
    assert list(TaskSample.objects.filter(task=task).values_list("position", flat=True)) == [0, 1]


def test_ranking_project_groups_samples_by_k(make_project, db):
    from labeling.services.tokens import token_create

    project = make_project("rank", kind="ranking", ranking_k=3)
    _, key = token_create(project=project, name="t")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = post(client, "rank", [item("p1", n_samples=3), item("p2", n_samples=4)])
    assert response.status_code == 201
    sizes = sorted(Task.objects.get(pk=t).slots.count() for t in Task.objects.values_list("pk", flat=True))
    # 3 samples: one task of 3. 4 samples: a task of 3, and the leftover ranked with 2 earlier ones.
    assert sizes == [3, 3, 3]


def test_repost_is_idempotent_and_reports_duplicates(token_client, project):
    body = [item("p1"), item("p2")]
    assert post(token_client, project.slug, body).status_code == 201
    again = post(token_client, project.slug, body)
    assert again.status_code == 200
    assert again.json()["duplicates"] == ["p1", "p2"]
    assert again.json()["samples_created"] == 0
    assert Prompt.objects.count() == 2 and Sample.objects.count() == 4 and Task.objects.count() == 2


def test_new_sample_for_known_prompt_is_paired_with_existing_ones(token_client, project):
    post(token_client, project.slug, [item("p1")])
    grown = item("p1", n_samples=3)
    response = post(token_client, project.slug, [grown])
    assert response.json()["samples_created"] == 1
    assert response.json()["tasks_created"] == 2
    assert Task.objects.count() == 3


def test_one_bad_item_rejects_the_request_and_names_each_field(token_client, project):
    bad_text = item("p2")
    bad_text["samples"][1]["text"] = ""
    no_prompt = item("p3")
    del no_prompt["prompt"]
    response = post(token_client, project.slug, [item("p1"), bad_text, no_prompt, item("p1")])
    assert response.status_code == 400
    errors = response.json()["errors"]
    expected = {"index": 1, "external_id": "p2", "field": "samples[1].text", "message": "must be a non-empty string"}
    assert expected in errors
    assert any(e["index"] == 2 and e["field"] == "prompt" for e in errors)
    assert any(e["index"] == 3 and "twice" in e["message"] for e in errors)
    assert "nothing was stored" in response.json()["detail"]
    assert Prompt.objects.count() == 0 and Sample.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"not": "a list"}, "JSON list"),
        ([], "empty"),
        (["text"], "must be an object"),
        ([item("p1", n_samples=1)], "at least 2 samples"),
        ([{**item("p1"), "priority": "high"}], "whole number"),
        ([{**item("p1"), "prompt": [{"role": "robot", "content": "hi"}]}], "system, user or assistant"),
        ([{**item("p1"), "samples": [{"external_id": "x", "text": "t"}, {"external_id": "x", "text": "u"}]}], "twice"),
    ],
)
def test_bad_shapes_get_400_with_a_message(token_client, project, body, fragment):
    response = post(token_client, project.slug, body)
    assert response.status_code == 400
    assert fragment in json.dumps(response.json())
    assert Prompt.objects.count() == 0


def test_malformed_json_is_a_400(token_client, project):
    response = token_client.post(URL.format(project.slug), data="[{", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_too_many_items_is_a_413_naming_the_limit(token_client, project, settings):
    settings.INGEST_MAX_ITEMS = 3
    response = post(token_client, project.slug, [item(f"p{i}") for i in range(4)])
    assert response.status_code == 413
    assert "at most 3 items" in response.json()["detail"]
    assert Prompt.objects.count() == 0


def test_oversize_body_is_a_413(token_client, project, settings):
    settings.INGEST_MAX_BODY_BYTES = 100
    response = post(token_client, project.slug, [item("p1")])
    assert response.status_code == 413
    assert "100 bytes" in response.json()["detail"]


def test_chat_prompt_is_stored_as_turns(token_client, project):
    turns = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]
    assert post(token_client, project.slug, [item("c1", prompt=turns)]).status_code == 201
    prompt = Prompt.objects.get(external_id="c1")
    assert prompt.messages == turns and prompt.text == "Hi?"


def test_token_of_another_project_is_refused(token_client, make_project):
    make_project("other")
    response = post(token_client, "other", [item("p1")])
    assert response.status_code == 403
    assert Prompt.objects.count() == 0


def test_missing_or_unknown_token_is_401(project):
    client = APIClient()
    assert post(client, project.slug, [item("p1")]).status_code in (401, 403)
    client.credentials(HTTP_AUTHORIZATION="Token nope")
    response = post(client, project.slug, [item("p1")])
    assert response.status_code == 401
    assert "Unknown or revoked token" in response.json()["detail"]


def test_unknown_project_for_staff_is_404(db, django_user_model):
    admin = django_user_model.objects.create_superuser("boss", "b@example.com", "pw")
    client = APIClient()
    client.force_authenticate(admin)
    assert post(client, "nope", [item("p1")]).status_code == 404


def test_schema_and_docs_are_served(client, db):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/projects/{slug}/items/" in schema.content
    assert client.get("/api/docs/").status_code == 200
