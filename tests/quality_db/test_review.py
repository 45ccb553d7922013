import re
from xml.etree import ElementTree

import pytest

from labeling.models import AnnotatorStatus, AuditLog, Judgment
from labeling.quality.review import annotator_status_set, judgment_override
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
    assert "csrfmiddlewaretoken" in flagged and "position_bias" in flagged
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
    assert "judgment_override" in audit and "annotator_status" in audit and "boss" in audit


def test_review_pages_refused_to_annotators(planted, client, make_user):
    project, users = planted
    judgment = Judgment.objects.first()
    client.force_login(users["good0"])
    for url in review_urls(project, judgment, users["lefty"]):
        assert client.get(url).status_code == 403, url
    base = f"/review/{project.slug}"
    assert client.post(f"{base}/judgments/{judgment.pk}/override/", {"decision": "exclude"}).status_code == 403
    assert client.post(f"{base}/annotators/{users['good0'].pk}/status/", {"status": "active"}).status_code == 403
    assert "/review/" not in client.get("/").content.decode()
    client.logout()
    response = client.get(f"{base}/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert not AuditLog.objects.exists()
