"""The page's progress counts the tasks left for an annotator up to PROGRESS_LEFT_CAP and then
says "more" (left_more): counting every open task of a big project on each page load was most of
the database's time under load (bench/README_load.md)."""

import pytest

from labeling.selectors import annotator_progress
from labeling.services.ingestion import items_ingest
from tests.factories import item

pytestmark = pytest.mark.django_db


def test_left_is_counted_up_to_the_cap(make_project, make_user, monkeypatch):
    project = make_project("big")
    items_ingest(project=project, items=[item(f"p{i}") for i in range(5)])
    annotator = make_user("ann")
    assert annotator_progress(project=project, annotator=annotator) == {"judged": 0, "left": 5, "skipped": 0}
    monkeypatch.setattr("labeling.selectors.PROGRESS_LEFT_CAP", 5)
    assert annotator_progress(project=project, annotator=annotator) == {"judged": 0, "left": 5, "skipped": 0}
    monkeypatch.setattr("labeling.selectors.PROGRESS_LEFT_CAP", 3)
    assert annotator_progress(project=project, annotator=annotator) == {
        "judged": 0, "left": 3, "skipped": 0, "left_more": True}


def test_the_page_shows_a_capped_count_with_a_plus(client, make_project, make_user, monkeypatch):
    project = make_project("big")
    items_ingest(project=project, items=[item(f"p{i}") for i in range(4)])
    client.force_login(make_user("ann"))
    monkeypatch.setattr("labeling.selectors.PROGRESS_LEFT_CAP", 2)
    data = client.post(f"/label/{project.slug}/next/", data="{}", content_type="application/json").json()
    assert data["progress"] == {"judged": 0, "left": 2, "skipped": 0, "left_more": True}
    script = client.get("/static/labeling/label.js")
    source = b"".join(script.streaming_content) if script.streaming else script.content
    assert b'counts.leftMore ? "+" : ""' in source and b"data.progress.left_more" in source
