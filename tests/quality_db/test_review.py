import re
from xml.etree import ElementTree

import pytest

from labeling.models import AnnotatorStatus, AuditLog, Judgment, Sample
from labeling.quality import svg
from labeling.quality.review import annotator_status_set, judgment_override
from labeling.quality.review_selectors import audit_changes, exclusion_summary
from labeling.quality.services import quality_recompute
from labeling.services.assignment import assignment_next
from labeling.services.ingestion import items_ingest
from tests.factories import item


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user("boss", is_staff=True, is_superuser=True))
    return client


def test_override_wins_over_filters_is_reversible_and_audited(planted, make_user):
    project, users = planted
    quality_recompute(project_id=project.pk)
    boss = make_user("boss", is_staff=True)
    flagged = Judgment.objects.filter(annotator=users["speedy"]).first()
    good = Judgment.objects.filter(annotator=users["good0"]).first()
    assert not flagged.included and good.included
    judgment_override(judgment_id=flagged.pk, project=project, decision="include", actor=boss, reason="looked fine")
    judgment_override(judgment_id=good.pk, project=project, decision="exclude", actor=boss)
    quality_recompute(project_id=project.pk)  # the filters run again; the overrides still win
    flagged.refresh_from_db(), good.refresh_from_db()
    assert flagged.included and flagged.weight == 1.0 and flagged.quality_reasons  # reasons kept for the record
    assert not good.included
    judgment_override(judgment_id=flagged.pk, project=project, decision="", actor=boss)
    judgment_override(judgment_id=good.pk, project=project, decision="", actor=boss)
    flagged.refresh_from_db(), good.refresh_from_db()
    assert not flagged.included and good.included
    entries = list(AuditLog.objects.filter(project=project).order_by("pk"))
    assert [(e.action, e.target_id, e.before["override"], e.after["override"]) for e in entries] == [
        ("judgment_override", flagged.pk, "", "include"),
        ("judgment_override", good.pk, "", "exclude"),
        ("judgment_override", flagged.pk, "include", ""),
        ("judgment_override", good.pk, "exclude", ""),
    ]
    assert entries[0].actor == boss and entries[0].reason == "looked fine" and entries[0].before["included"] is False
    assert Judgment.objects.filter(task__project=project).count() == 350  # nothing deleted


def test_pause_and_ban_are_reversible_and_audited(project, make_user):
    items_ingest(project=project, items=[item("p1"), item("p2")])
    ann, boss = make_user("ann"), make_user("boss", is_staff=True)
    lease = assignment_next(project=project, annotator=ann)
    annotator_status_set(project=project, annotator_id=ann.pk, status="paused", actor=boss, reason="check")
    assert assignment_next(project=project, annotator=ann).pk == lease.pk  # keeps the open lease only
    annotator_status_set(project=project, annotator_id=ann.pk, status="banned", actor=boss)
    assert assignment_next(project=project, annotator=ann) is None
    annotator_status_set(project=project, annotator_id=ann.pk, status="active", actor=boss)
    assert assignment_next(project=project, annotator=ann) is not None
    log = [(e.before["status"], e.after["status"]) for e in AuditLog.objects.order_by("pk")]
    assert log == [("active", "paused"), ("paused", "banned"), ("banned", "active")]
    assert AnnotatorStatus.objects.get().status == "active"


def test_paused_annotator_gets_no_new_task(project, make_user):
    items_ingest(project=project, items=[item("p1")])
    ann = make_user("ann")
    annotator_status_set(project=project, annotator_id=ann.pk, status="paused", actor=make_user("boss"))
    assert assignment_next(project=project, annotator=ann) is None


def test_ban_excludes_judgments_after_recompute(planted, make_user):
    project, users = planted
    annotator_status_set(project=project, annotator_id=users["good1"].pk, status="banned", actor=make_user("boss"))
    quality_recompute(project_id=project.pk)
    mine = Judgment.objects.filter(annotator=users["good1"])
    assert not mine.filter(included=True).exists()
    assert mine.first().quality_reasons[0]["filter"] == "banned"


def review_urls(project, judgment, user) -> list[str]:
    base = f"/review/{project.slug}"
    return ["/review/", f"{base}/", f"{base}/annotators/", f"{base}/annotators/?sort=speed&dir=desc",
            f"{base}/annotators/?sort=gold", f"{base}/annotators/?sort=bias", f"{base}/annotators/{user.pk}/",
            f"{base}/flagged/", f"{base}/flagged/?queue=all", f"{base}/audit/"]


def test_review_pages_render_for_staff(planted, admin_client):
    project, users = planted
    quality_recompute(project_id=project.pk)
    judgment = Judgment.objects.filter(annotator=users["lefty"]).first()
    annotator_status_set(project=project, annotator_id=users["lefty"].pk, status="paused",
                         actor=users["good0"], reason="<script>x</script>")
    for url in review_urls(project, judgment, users["lefty"]):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert b"<script>x" not in response.content
    dashboard = admin_client.get(f"/review/{project.slug}/").content.decode()
    assert dashboard.count("<svg") == 5 and "Krippendorff" in dashboard
    for chart in re.findall(r"<svg.*?</svg>", dashboard, flags=re.S):
        ElementTree.fromstring(chart)  # well-formed, server-side SVG
    assert "<script" not in dashboard  # no JavaScript charting
    flagged = admin_client.get(f"/review/{project.slug}/flagged/").content.decode()
    assert "csrfmiddlewaretoken" in flagged and "annotator&#x27;s position bias" in flagged
    assert 'href="/review/"' in admin_client.get("/").content.decode()  # the top bar links it


def test_review_forms_post(planted, admin_client):
    project, users = planted
    quality_recompute(project_id=project.pk)
    judgment = Judgment.objects.filter(annotator=users["lefty"]).first()
    base = f"/review/{project.slug}"
    response = admin_client.post(f"{base}/judgments/{judgment.pk}/override/",
                                 {"decision": "include", "reason": "ok", "next": f"{base}/flagged/"})
    assert response.status_code == 302 and response["Location"] == f"{base}/flagged/"
    judgment.refresh_from_db()
    assert judgment.override == "include" and judgment.included
    response = admin_client.post(f"{base}/annotators/{users['lefty'].pk}/status/", {"status": "banned"})
    assert response.status_code == 302
    assert AnnotatorStatus.objects.get(annotator=users["lefty"]).status == "banned"
    assert admin_client.post(f"{base}/recompute/").status_code == 302
    assert admin_client.post(f"{base}/honeypots/", {"count": 3}).status_code == 302
    assert project.tasks.filter(is_gold=True).count() == 3
    audit = admin_client.get(f"{base}/audit/").content.decode()
    assert "Judgment included/excluded by hand" in audit and "Annotator paused, banned or reinstated" in audit
    assert "boss" in audit and "lefty" in audit


def test_review_pages_refused_to_annotators(planted, client, make_user):
    project, users = planted
    judgment = Judgment.objects.first()
    client.force_login(users["good0"])
    for url in review_urls(project, judgment, users["lefty"]):
        assert client.get(url).status_code == 403, url
    refused = client.get("/review/").content.decode()
    assert '<p class="error-code">403</p>' in refused and "for staff" in refused  # the styled page, with why
    base = f"/review/{project.slug}"
    assert client.post(f"{base}/judgments/{judgment.pk}/override/", {"decision": "exclude"}).status_code == 403
    assert client.post(f"{base}/annotators/{users['good0'].pk}/status/", {"status": "active"}).status_code == 403
    assert "/review/" not in client.get("/").content.decode()
    client.logout()
    response = client.get(f"{base}/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert not AuditLog.objects.exists()


def test_dashboard_says_why_judgments_are_excluded(planted, admin_client, make_user):
    project, users = planted
    quality_recompute(project_id=project.pk)
    boss = make_user("boss2", is_staff=True)
    good = Judgment.objects.filter(annotator=users["good0"], included=True).first()
    judgment_override(judgment_id=good.pk, project=project, decision="exclude", actor=boss)
    undone = Judgment.objects.filter(annotator=users["good1"]).first()
    Judgment.objects.filter(pk=undone.pk).update(withdrawn_at=undone.created_at)

    summary = exclusion_summary(project=project)
    live = Judgment.objects.filter(task__project=project, withdrawn_at__isnull=True)
    assert summary.excluded == live.filter(included=False).count() > 0
    assert summary.included == live.filter(included=True).count()
    assert summary.withdrawn == 1
    by_label = {r.label: r.count for r in summary.reasons}
    assert by_label["excluded by a reviewer"] == 1
    assert by_label["annotator's position bias"] == live.filter(annotator=users["lefty"]).count()
    assert by_label["annotator too often too fast"] == live.filter(annotator=users["speedy"]).count()
    annotators = {a.username: a for a in summary.annotators}
    assert annotators["lefty"].excluded == 50 and annotators["good0"].excluded == 1
    assert [r.label for r in annotators["good0"].reasons] == ["excluded by a reviewer"]
    assert annotators["good1"].withdrawn == 1 and annotators["good1"].excluded == 0
    assert "good2" not in annotators  # nothing of theirs is left out

    page = admin_client.get(f"/review/{project.slug}/").content.decode()
    section = page.split('id="exclusions"', 1)[1].split("</section>", 1)[0]
    assert "Why judgments are excluded" in page
    assert f"<strong>{summary.excluded} excluded</strong>" in section and "1 withdrawn" in section
    assert "annotator&#x27;s position bias (50)" in section and "excluded by a reviewer (1)" in section
    assert f'href="/review/{project.slug}/annotators/{users["lefty"].pk}/">lefty</a>' in section


def test_ban_counts_as_a_reason_before_the_recomputation(project, make_user):
    items_ingest(project=project, items=[item("p1")])
    ann = make_user("ann")
    lease = assignment_next(project=project, annotator=ann)
    from labeling.services.judging import judgment_submit

    judgment_submit(assignment=lease, annotator=ann, data={"winner": "tie"})
    annotator_status_set(project=project, annotator_id=ann.pk, status="banned", actor=make_user("boss"))
    summary = exclusion_summary(project=project)
    assert summary.excluded == 1 and [(r.label, r.count) for r in summary.reasons] == [("annotator banned", 1)]


def test_audit_log_reads_as_names_and_changes(planted, admin_client):
    project, users = planted
    quality_recompute(project_id=project.pk)
    boss = users["good0"]
    flagged = Judgment.objects.filter(annotator=users["speedy"]).first()
    judgment_override(judgment_id=flagged.pk, project=project, decision="include", actor=boss, reason="fine")
    annotator_status_set(project=project, annotator_id=users["lefty"].pk, status="paused", actor=boss)
    page = admin_client.get(f"/review/{project.slug}/audit/").content.decode()
    body = page.split("<tbody>", 1)[1]
    assert "{" not in body and "&#x27;" not in body  # no Python dicts
    assert f"judgment {flagged.pk} by speedy" in body
    assert f'href="/review/{project.slug}/annotators/{users["lefty"].pk}/">lefty</a>' in body
    assert "override: none (the filters decide) → include" in body
    assert "in the clean data: no → yes" in body
    assert "status: active → paused" in body and "<td>good0</td>" in body


def test_audit_changes_are_readable():
    assert audit_changes({"priority": 0, "gold_answer": None}, {"priority": 5, "gold_answer": {"choice": "a"}}) == [
        "priority: 0 → 5", 'gold answer: none → {"choice": "a"}']
    assert audit_changes({"weight": 0.25, "included": True}, {"weight": 1.0, "included": True}) == [
        "weight: 0.25 → 1.00"]


def test_review_rows_say_what_the_annotator_saw(planted, admin_client):
    """lefty always picked the answer shown on the left; stored canonically that is sometimes "a",
    sometimes "b". The review pages say "Left better" every time."""
    project, users = planted
    quality_recompute(project_id=project.pk)
    lefty = Judgment.objects.filter(annotator=users["lefty"])
    assert {j.choice for j in lefty} == {"a", "b"}
    page = admin_client.get(f"/review/{project.slug}/annotators/{users['lefty'].pk}/").content.decode()
    body = page.split("<tbody>", 1)[1]
    assert body.count('<td class="answer-given">Left better</td>') == 50
    assert "A better" not in body and "B better" not in body and "Right better" not in body
    flagged = admin_client.get(f"/review/{project.slug}/flagged/").content.decode()
    assert "A better" not in flagged and "B better" not in flagged
    one = lefty.first()
    texts = [Sample.objects.get(pk=pk).text for pk in one.shown_order]
    row = body.split(f"<td>{one.pk}</td>", 1)[1].split("</tr>", 1)[0]
    assert row.index(texts[0]) < row.index(texts[1])


def test_review_posts_answer_get_with_a_styled_405(planted, admin_client):
    project, _ = planted
    response = admin_client.get(f"/review/{project.slug}/recompute/")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert '<p class="error-code">405</p>' in response.content.decode()


def test_response_time_chart_is_not_flattened_by_one_long_pause():
    times = [5 + i * 0.5 for i in range(40)] + [2 * 3600.0]  # 5..24.5 s, and one task left open 2 hours
    chart = str(svg.histogram(times, title="Response time", x_label="seconds", marker=3))
    ElementTree.fromstring(chart)
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([0-9.]+)"', chart)]
    assert sum(1 for h in heights if h > 0) >= 10  # the 40 ordinary times spread over many bars
    assert "clipped: 1 over" in chart and "up to 7,200)" in chart
    axis_end = max(float(x) for x in re.findall(r">≥([0-9.]+)<", chart))
    assert 24.5 <= axis_end < 100
    plain = str(svg.histogram([5 + i * 0.5 for i in range(40)], title="t", x_label="s"))
    assert "clipped" not in plain and "≥" not in plain  # nothing to clip, nothing said
