"""ReviewError is an AppError: one handler, and the review pages keep showing it as a flash message."""

import json

import pytest
from django.test import RequestFactory

import labeling.quality.views
from config.errors import AppError, AppErrorMiddleware, api_exception_handler
from labeling.models import Judgment
from labeling.quality.review import ReviewError, judgment_override
from labeling.services.assignment import assignment_next
from labeling.services.ingestion import items_ingest
from labeling.services.judging import judgment_submit
from tests.factories import item

HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"  # what a browser's form post accepts


@pytest.fixture
def judged(project, make_user, client):
    items_ingest(project=project, items=[item("p1")])
    ann = make_user("ann")
    judgment = judgment_submit(assignment=assignment_next(project=project, annotator=ann), annotator=ann,
                               data={"winner": "tie"})
    client.force_login(make_user("boss", is_staff=True))
    return judgment


def test_review_error_is_an_app_error_with_a_400(project, make_user):
    with pytest.raises(ReviewError) as raised:
        judgment_override(judgment_id=1, project=project, decision="maybe", actor=make_user("boss"))
    assert isinstance(raised.value, AppError) and raised.value.status == 400
    response = api_exception_handler(raised.value, {})
    assert response.status_code == 400 and "decision must be one of" in response.data["detail"]
    page_script = AppErrorMiddleware(lambda request: None).process_exception(
        RequestFactory().post("/x/", data="{}", content_type="application/json"), raised.value)
    assert json.loads(page_script.content) == {"error": raised.value.message}  # the annotator page's shape


def test_a_refused_review_form_shows_the_message_on_the_page_it_came_from(judged, project, client, monkeypatch):
    def refuse(**kwargs):
        raise ReviewError("this decision is refused for a reason")

    monkeypatch.setattr(labeling.quality.views, "judgment_override", refuse)
    flagged = f"http://testserver/review/{project.slug}/flagged/?queue=all"
    response = client.post(f"/review/{project.slug}/judgments/{judged.pk}/override/",
                           {"decision": "exclude", "next": flagged}, HTTP_ACCEPT=HTML, HTTP_REFERER=flagged)
    assert response.status_code == 302 and response["Location"] == flagged
    page = client.get(flagged).content.decode()
    assert '<ul class="messages">' in page and "this decision is refused for a reason" in page
    assert Judgment.objects.get().override == ""

    # No page of this site to go back to: the styled error page with the status and the message.
    response = client.post(f"/review/{project.slug}/judgments/{judged.pk}/override/", {"decision": "exclude"},
                           HTTP_ACCEPT=HTML, HTTP_REFERER="https://elsewhere.example/")
    html = response.content.decode()
    assert response.status_code == 400 and '<p class="error-code">400</p>' in html
    assert "this decision is refused for a reason" in html and 'href="/static/labeling/app.css"' in html
