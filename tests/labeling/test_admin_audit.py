"""Admin edits of projects and API tokens go to the audit log: who, what, the changed fields; never a token's secret."""

import json

import pytest

from labeling.models import ApiToken, AuditLog, Project
from labeling.quality.review_selectors import audit_rows
from labeling.services.tokens import token_create


@pytest.fixture
def boss(client, make_user):
    user = make_user("boss", is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


def project_form(**fields):
    form = {"name": "Alpha", "slug": "alpha", "kind": "pairwise", "ranking_k": 4, "judgments_per_task": 3,
            "lease_seconds": 600, "is_active": "on", "instructions": "", "quality_config": "{}"}
    form.update(fields)
    return form


def test_project_creation_change_and_deletion_are_audited(client, boss, make_user):
    ann = make_user("ann")
    assert client.post("/admin/labeling/project/add/", project_form()).status_code == 302
    project = Project.objects.get(slug="alpha")
    created = AuditLog.objects.get()
    assert (created.action, created.actor, created.project, created.target_type, created.target_id) == (
        "project_created", boss, project, "project", project.pk)
    assert created.before == {} and created.after["slug"] == "alpha" and created.after["annotators"] == []

    url = f"/admin/labeling/project/{project.pk}/change/"
    form = project_form(name="Alpha two", judgments_per_task=5, annotators=[ann.pk])
    assert client.post(url, form).status_code == 302
    changed = AuditLog.objects.latest("pk")
    assert changed.action == "project_changed" and changed.actor == boss
    assert changed.before == {"name": "Alpha", "judgments_per_task": 3, "annotators": []}
    assert changed.after == {"name": "Alpha two", "judgments_per_task": 5, "annotators": ["ann"]}
    rows = audit_rows(project=project)  # the review pages' audit log reads it
    assert rows[0].action == "Project changed (admin)" and "name: Alpha → Alpha two" in rows[0].changes

    assert client.post(url, form).status_code == 302  # saved unchanged: nothing to record
    assert AuditLog.objects.count() == 2

    response = client.post(f"/admin/labeling/project/{project.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not Project.objects.filter(pk=project.pk).exists()
    deleted = AuditLog.objects.latest("pk")
    assert (deleted.action, deleted.actor, deleted.target_id, deleted.project) == (
        "project_deleted", boss, project.pk, None)  # the log outlives the project
    assert deleted.before["slug"] == "alpha" and deleted.before["name"] == "Alpha two" and deleted.after == {}
    assert AuditLog.objects.count() == 3  # the earlier entries too


def test_api_token_revocation_and_deletion_are_audited_without_the_secret(client, boss, project):
    token, raw_key = token_create(project=project, name="ci")
    url = f"/admin/labeling/apitoken/{token.pk}/change/"
    assert client.post(url, {"revoked": "on"}).status_code == 302
    revoked = AuditLog.objects.get()
    assert (revoked.action, revoked.actor, revoked.project, revoked.target_type, revoked.target_id) == (
        "api_token_changed", boss, project, "api_token", token.pk)
    assert revoked.before == {"revoked": False} and revoked.after == {"revoked": True}

    other, other_key = token_create(project=project, name="old")
    response = client.post("/admin/labeling/apitoken/", {"action": "delete_selected", "_selected_action": [other.pk],
                                                         "post": "yes"})
    assert response.status_code == 302 and not ApiToken.objects.filter(pk=other.pk).exists()
    deleted = AuditLog.objects.latest("pk")
    assert deleted.action == "api_token_deleted" and deleted.target_id == other.pk and deleted.actor == boss
    assert deleted.before == {"name": "old", "project": project.slug, "revoked": False} and deleted.after == {}

    logged = json.dumps([[e.before, e.after, e.reason] for e in AuditLog.objects.all()])
    for secret in (raw_key, other_key, token.key_hash, other.key_hash):
        assert secret not in logged


def test_admin_edits_do_not_make_the_quality_decisions_stale(client, boss, project):
    from labeling.quality.services import quality_is_stale, quality_recompute

    quality_recompute(project_id=project.pk)
    url = f"/admin/labeling/project/{project.pk}/change/"
    assert client.post(url, project_form(name="Renamed", slug=project.slug, judgments_per_task=2)).status_code == 302
    assert AuditLog.objects.get().action == "project_changed"
    assert not quality_is_stale(project=project)  # a new name changes nothing the quality pass reads
