import json

import pytest

from labeling.models import Judgment
from labeling.services.ingestion import items_ingest
from labeling.services.judging import MAX_RATIONALE
from tests.factories import item


@pytest.fixture
def page(client, project, make_user):
    items_ingest(project=project, items=[item("p1")])
    client.force_login(make_user("ann"))
    task = client.post(f"/label/{project.slug}/next/").json()
    return client, task


@pytest.mark.parametrize("action", ["submit", "skip"])
def test_an_oversize_body_is_413_before_parsing(page, project, settings, monkeypatch, action):
    import labeling.views

    client, task = page
    monkeypatch.setattr(labeling.views, "json_body_parse", lambda *a, **kw: pytest.fail("parsed"))
    body = "{" + " " * settings.PAGE_MAX_BODY_BYTES  # not even JSON: the size is checked first
    response = client.post(f"/label/{project.slug}/{action}/", data=body, content_type="application/json")
    assert response.status_code == 413
    limit = 64 * 1024
    assert settings.PAGE_MAX_BODY_BYTES == limit
    assert response.json() == {"error": f"the body is {limit + 1} bytes, more than the limit of {limit} bytes "
                                        "(PREFLAB_PAGE_MAX_BODY_BYTES)"}
    assert Judgment.objects.count() == 0


def test_the_longest_rationale_fits_even_escaped(page, project):
    client, task = page
    # Every character an escaped surrogate pair (12 bytes of JSON each): the most a legal body holds.
    body = json.dumps({"assignment": task["assignment"], "winner": "tie", "active_ms": 900,
                       "rationale": "\U0001f600" * MAX_RATIONALE})
    assert len(body.encode()) > 60_000
    response = client.post(f"/label/{project.slug}/submit/", data=body, content_type="application/json")
    assert response.status_code == 200, response.content[:200]
    assert Judgment.objects.get().rationale == "\U0001f600" * MAX_RATIONALE


def test_the_limit_is_a_setting(page, project, settings):
    client, task = page
    settings.PAGE_MAX_BODY_BYTES = 40
    body = json.dumps({"assignment": task["assignment"], "winner": "tie", "rationale": "because"})
    response = client.post(f"/label/{project.slug}/submit/", data=body, content_type="application/json")
    assert response.status_code == 413 and "limit of 40 bytes" in response.json()["error"]
