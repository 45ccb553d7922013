import json

import pytest

from labeling.models import Judgment
from labeling.rendering import render_markdown
from labeling.services.ingestion import items_ingest
from tests.factories import item


@pytest.fixture
def annotator_client(client, project, make_user):
    items_ingest(project=project, items=[item("p1"), item("p2")])
    user = make_user("ann")
    client.force_login(user)
    return client


def post(client, path, body=None):
    return client.post(path, data=json.dumps(body or {}), content_type="application/json")


def test_login_required(client, project):
    response = client.get(f"/label/{project.slug}/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_next_submit_flow_returns_the_next_task(annotator_client, project):
    first = post(annotator_client, f"/label/{project.slug}/next/").json()
    assert first["done"] is False and 'data-sample-id="' in first["html"]
    second = post(
        annotator_client, f"/label/{project.slug}/submit/",
        {"assignment": first["assignment"], "winner": first["shown_order"][1], "active_ms": 900},
    ).json()
    assert second["assignment"] != first["assignment"]
    assert first["progress"] == {"judged": 0, "open": 2} and second["progress"] is None  # the page counts
    done = post(annotator_client, f"/label/{project.slug}/skip/", {"assignment": second["assignment"]}).json()
    assert done["done"] is True and done["progress"]["judged"] == 1
    undone = post(annotator_client, f"/label/{project.slug}/undo/").json()
    assert undone["assignment"] == first["assignment"]
    assert Judgment.objects.get().withdrawn_at is not None


def test_bad_submissions_are_400_with_a_message(annotator_client, project):
    task = post(annotator_client, f"/label/{project.slug}/next/").json()
    bad = post(annotator_client, f"/label/{project.slug}/submit/", {"assignment": task["assignment"], "winner": 0})
    assert bad.status_code == 400 and "winner must be one of" in bad.json()["error"]
    not_json = annotator_client.post(f"/label/{project.slug}/submit/", data="{", content_type="application/json")
    assert not_json.status_code == 400 and "JSON" in not_json.json()["error"]
    assert post(annotator_client, f"/label/{project.slug}/submit/", {"assignment": 10**9}).status_code == 404
    assert Judgment.objects.count() == 0


def test_project_membership_is_enforced(client, make_project, make_user):
    closed = make_project("closed")
    closed.annotators.add(make_user("insider"))
    client.force_login(make_user("outsider"))
    assert client.get("/label/closed/").status_code == 403
    assert b"closed" not in client.get("/").content


def test_annotator_cannot_reach_admin(client, make_user):
    client.force_login(make_user("ann"))
    assert client.get("/admin/").status_code == 302


def test_reviewer_gets_admin(client, make_user):
    from django.contrib.auth.models import Group

    reviewer = make_user("rev", is_staff=True)
    reviewer.groups.add(Group.objects.get(name="reviewers"))
    client.force_login(reviewer)
    assert client.get("/admin/labeling/judgment/").status_code == 200


def test_annotator_history_shows_only_own_judgments(annotator_client, project, make_user, client):
    task = post(annotator_client, f"/label/{project.slug}/next/").json()
    post(annotator_client, f"/label/{project.slug}/submit/", {"assignment": task["assignment"], "winner": "tie"})
    page = annotator_client.get("/history/")
    assert page.status_code == 200 and b"Tie" in page.content


def test_model_output_is_rendered_without_raw_html():
    html = render_markdown("**ok** <script>alert(1)</script> <img src=x onerror=alert(1)> [x](javascript:alert(1))")
    assert "<strong>ok</strong>" in html
    assert "<script" not in html and "<img" not in html and "javascript:" not in html
