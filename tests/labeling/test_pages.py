import json
import re

import pytest
from django.db.models import F

from labeling.models import Assignment, Judgment, Project, Sample, Task
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
    assert first["progress"] == {"judged": 0, "left": 2, "skipped": 0} and second["progress"] is None  # the page counts
    done = post(annotator_client, f"/label/{project.slug}/skip/", {"assignment": second["assignment"]}).json()
    assert done["done"] is True and done["progress"] == {"judged": 1, "left": 0, "skipped": 1}
    assert done["status"] == "active"
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
    # 404, as for a project that does not exist: a 403 would tell which slugs exist
    forbidden, unknown = client.get("/label/closed/"), client.get("/label/nowhere/")
    assert forbidden.status_code == unknown.status_code == 404
    def page(response, slug):  # the page, less the per-request CSRF token
        return re.sub(r'value="[^"]*"', "", response.content.decode()).replace(f"/label/{slug}/", "/label/X/")

    assert page(forbidden, "closed") == page(unknown, "nowhere")
    for action in ("next", "submit", "skip", "undo"):
        assert client.post(f"/label/closed/{action}/").status_code == 404
        assert client.post(f"/label/nowhere/{action}/").status_code == 404
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
    other = make_user("other")
    client.force_login(other)
    assert b"Tie" not in client.get("/history/").content


def test_model_output_is_rendered_without_raw_html():
    html = render_markdown("**ok** <script>alert(1)</script> <img src=x onerror=alert(1)> [x](javascript:alert(1))")
    assert "<strong>ok</strong>" in html
    assert "<script" not in html and "<img" not in html and "javascript:" not in html


def history_rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [" ".join(row.split()) for row in body.split("<tr>")[1:]]


@pytest.mark.parametrize("shown_first", ["s0", "s1"])
def test_history_shows_the_side_the_annotator_picked_not_the_canonical_letter(
    annotator_client, project, shown_first
):
    """The left answer picked is "Left better" whichever canonical slot (a/b) it holds."""
    task = post(annotator_client, f"/label/{project.slug}/next/").json()
    assignment = Assignment.objects.get(pk=task["assignment"])
    by_external = dict(assignment.task.samples.values_list("external_id", "pk"))
    order = [by_external[shown_first], *(pk for ext, pk in by_external.items() if ext != shown_first)]
    Assignment.objects.filter(pk=assignment.pk).update(shown_order=order)
    post(annotator_client, f"/label/{project.slug}/submit/",
         {"assignment": assignment.pk, "winner": order[0], "rationale": "clearer & shorter"})
    judgment = Judgment.objects.get()
    assert judgment.choice == ("a" if shown_first == "s0" else "b")  # stored canonically
    [row] = history_rows(annotator_client.get("/history/").content.decode())
    assert "Left better" in row and "A better" not in row and "B better" not in row
    left_text = Sample.objects.get(pk=order[0]).text
    right_text = Sample.objects.get(pk=order[1]).text
    assert row.index(left_text) < row.index(right_text)  # in the order shown
    left_cell = '<span class="shown-label">Left</span><span class="shown-mark">better</span>'
    assert f'{left_cell} <div class="answer-text">{left_text}' in row
    assert "clearer &amp; shorter" in row


def test_history_shows_a_ranking_in_the_numbers_shown(client, make_project, make_user):
    ranks = make_project("ranks", kind=Project.Kind.RANKING, ranking_k=3, judgments_per_task=1)
    items_ingest(project=ranks, items=[item("r", n_samples=3)])
    client.force_login(make_user("ann"))
    task = post(client, "/label/ranks/next/").json()
    shown = task["shown_order"]
    post(client, "/label/ranks/submit/",
         {"assignment": task["assignment"], "ranking": [[shown[2]], [shown[0], shown[1]]]})
    [row] = history_rows(client.get("/history/").content.decode())
    assert "3 &gt; 1 = 2" in row and "ranking" not in row


def test_progress_counts_what_is_left_for_this_annotator(annotator_client, project, make_user):
    from django.test import Client

    first = post(annotator_client, f"/label/{project.slug}/next/").json()
    assert first["progress"] == {"judged": 0, "left": 2, "skipped": 0}
    post(annotator_client, f"/label/{project.slug}/submit/", {"assignment": first["assignment"], "winner": "tie"})
    # Another annotator still has both tasks left (judgments_per_task=2); this one has one.
    client = Client()
    client.force_login(make_user("second"))
    assert post(client, f"/label/{project.slug}/next/").json()["progress"] == {"judged": 0, "left": 2, "skipped": 0}
    assert post(annotator_client, f"/label/{project.slug}/next/").json()["progress"]["left"] == 1


def test_skipped_task_can_be_revisited(annotator_client, project):
    first = post(annotator_client, f"/label/{project.slug}/next/").json()
    second = post(annotator_client, f"/label/{project.slug}/skip/", {"assignment": first["assignment"]}).json()
    assert second["assignment"] != first["assignment"]
    again = post(annotator_client, f"/label/{project.slug}/revisit/").json()
    assert again["assignment"] == first["assignment"] and again["shown_order"] == first["shown_order"]
    assert again["progress"] == {"judged": 0, "left": 2, "skipped": 0}
    post(annotator_client, f"/label/{project.slug}/submit/", {"assignment": first["assignment"], "winner": "tie"})
    # The task the revisit came in front of is still leased to this annotator and comes next.
    assert post(annotator_client, f"/label/{project.slug}/next/").json()["assignment"] == second["assignment"]
    nothing = post(annotator_client, f"/label/{project.slug}/revisit/")
    assert nothing.status_code == 409 and "No skipped task" in nothing.json()["error"]


def test_skipped_task_finished_by_others_is_not_revisited(annotator_client, project, make_user):
    from labeling.services.assignment import assignment_revisit

    first = post(annotator_client, f"/label/{project.slug}/next/").json()
    post(annotator_client, f"/label/{project.slug}/skip/", {"assignment": first["assignment"]})
    Task.objects.filter(assignments__pk=first["assignment"]).update(judgment_count=F("judgments_wanted"))
    ann = Assignment.objects.get(pk=first["assignment"]).annotator
    assert assignment_revisit(project=project, annotator=ann) is None
    assert Assignment.objects.get(pk=first["assignment"]).status == "skipped"


def paused_notice(page: str) -> str:
    return re.search(r'<div id="paused-notice"[^>]*>', page).group(0)


def test_paused_annotator_sees_a_notice(annotator_client, project, make_user, django_user_model):
    from labeling.quality.review import annotator_status_set

    ann = django_user_model.objects.get(username="ann")
    assert "hidden" in paused_notice(annotator_client.get(f"/label/{project.slug}/").content.decode())
    annotator_status_set(project=project, annotator_id=ann.pk, status="paused", actor=make_user("boss"))
    page = annotator_client.get(f"/label/{project.slug}/").content.decode()
    assert "hidden" not in paused_notice(page) and "is paused" in page
    done = post(annotator_client, f"/label/{project.slug}/next/").json()
    assert done["done"] is True and done["status"] == "paused"
    assert post(annotator_client, f"/label/{project.slug}/revisit/").status_code == 409


def test_ranking_project_shows_ranking_instructions(client, make_project, make_user):
    make_project("ranks", kind=Project.Kind.RANKING, ranking_k=3)
    make_project("pairs")
    client.force_login(make_user("ann"))
    ranking_page = client.get("/label/ranks/").content.decode()
    assert "best first" in ranking_page and "Both bad" not in ranking_page and "both bad" not in ranking_page
    pair_page = client.get("/label/pairs/").content.decode()
    assert "<kbd>4</kbd> both bad" in pair_page and "<kbd>R</kbd>" in pair_page


def test_demo_ranking_project_has_ranking_instructions(db, settings, tmp_path):
    from labeling.services.demo import demo_ensure

    settings.VAR_DIR, settings.DEBUG = tmp_path, True  # demo mode
    demo_ensure()
    instructions = Project.objects.get(slug="demo-rankings").instructions
    assert "order" in instructions and "Both bad" not in instructions
    assert "Both bad" in Project.objects.get(slug="demo-pairs").instructions


def test_error_pages_are_styled(client, make_project, make_user):
    make_project("closed").annotators.add(make_user("insider"))
    client.force_login(make_user("outsider"))
    for path, code in (("/label/closed/", 404), ("/label/nowhere/", 404), ("/no/such/page/", 404),
                       ("/label/closed/next/", 405), ("/history/", 200)):
        response = client.get(path)
        assert response.status_code == code, path
        html = response.content.decode()
        assert 'href="/static/labeling/app.css"' in html and "favicon.svg" in html, path
        if code != 200:
            assert f'<p class="error-code">{code}</p>' in html, path
    assert client.get("/label/closed/next/")["Allow"] == "POST"
    assert "annotator" not in client.get("/label/closed/").content.decode()  # the same 404 as an unknown slug
    favicon = client.get("/favicon.ico")
    assert favicon.status_code == 301 and favicon["Location"].endswith("labeling/favicon.svg")
