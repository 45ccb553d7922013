"""Reviewers (and admins) cannot rewrite history through the Django admin: judgments,
assignments, prompts, samples and a task's membership are read-only; the changes that are
allowed (a task's priority and gold answer, include/exclude of a judgment) go through services
that validate them and write the audit log."""

from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Group

from labeling.models import ApiToken, Assignment, AuditLog, Judgment, Prompt, Sample, Task, TaskSample
from labeling.services.assignment import assignment_next
from labeling.services.ingestion import items_ingest
from labeling.services.judging import judgment_submit
from labeling.services.roles import REVIEWERS, roles_ensure
from labeling.services.tokens import token_create
from tests.factories import item


class _FormFields(HTMLParser):
    """The values a browser would post back from the admin's change form, as rendered."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "checkbox"):
            self.data[name] = attrs.get("value") or ""
        elif tag == "input" and name and "checked" in attrs:
            self.data[name] = "on"
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in attrs:
            self.data[self._select] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data


def form_data(client, url: str) -> dict[str, str]:
    response = client.get(url)
    assert response.status_code == 200, url
    parser = _FormFields()
    parser.feed(response.content.decode())
    parser.data.pop("csrfmiddlewaretoken", None)
    return parser.data


@pytest.fixture
def labeled(make_project, make_user):
    """Two projects; in `proj` one pairwise task judged by `ann` (chose "a")."""
    project, other = make_project("proj"), make_project("other")
    items_ingest(project=project, items=[item("p1")])
    items_ingest(project=other, items=[item("secret", prompt="Other project's confidential prompt")])
    ann = make_user("ann")
    assignment = assignment_next(project=project, annotator=ann)
    first = TaskSample.objects.get(task=assignment.task, position=0).sample_id
    judgment = judgment_submit(assignment=assignment, annotator=ann, data={"winner": first})
    assert judgment.choice == "a"
    return project, other, judgment


@pytest.fixture(params=["reviewer", "superuser"])
def staff_client(request, client, make_user):
    roles_ensure()
    if request.param == "reviewer":
        user = make_user("rev", is_staff=True)
        user.groups.add(Group.objects.get(name=REVIEWERS))
    else:
        user = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(user)
    client.user = user
    return client


def test_judgment_change_and_add_are_refused_and_leave_the_row(staff_client, labeled, make_user):
    _, _, judgment = labeled
    intruder = make_user("intruder")
    url = f"/admin/labeling/judgment/{judgment.pk}/change/"
    assert staff_client.get(url).status_code == 200  # still visible
    response = staff_client.post(url, {
        "annotator": intruder.pk, "choice": "b", "rationale": "rewritten", "task": judgment.task_id,
        "assignment": judgment.assignment_id, "shown_order": "[]", "response_ms": 1,
    })
    assert response.status_code == 403
    judgment.refresh_from_db()
    assert (judgment.annotator.username, judgment.choice, judgment.rationale) == ("ann", "a", "")
    assert staff_client.post("/admin/labeling/judgment/add/", {"choice": "b"}).status_code == 403
    assert Judgment.objects.count() == 1


def test_assignment_prompt_and_sample_are_read_only(staff_client, labeled, make_user):
    project, other, judgment = labeled
    assignment = judgment.assignment
    response = staff_client.post(
        f"/admin/labeling/assignment/{assignment.pk}/change/",
        {"annotator": make_user("x").pk, "status": "open", "task": assignment.task_id},
    )
    assert response.status_code == 403
    assert Assignment.objects.get(pk=assignment.pk).status == "submitted"
    prompt = Prompt.objects.get(project=other)
    response = staff_client.post(f"/admin/labeling/prompt/{prompt.pk}/change/",
                                 {"project": project.pk, "external_id": "moved", "text": "x", "metadata": "{}"})
    assert response.status_code == 403
    prompt.refresh_from_db()
    assert (prompt.project_id, prompt.external_id) == (other.pk, "secret")
    sample = Sample.objects.filter(prompt__project=project).first()
    response = staff_client.post(f"/admin/labeling/sample/{sample.pk}/change/",
                                 {"prompt": prompt.pk, "external_id": "s0", "text": "rewritten"})
    assert response.status_code == 403
    sample.refresh_from_db()
    assert sample.prompt.project_id == project.pk and sample.text.startswith("Answer 0")


def test_task_membership_is_read_only_and_a_priority_change_is_audited(staff_client, labeled):
    project, other, judgment = labeled
    task = judgment.task
    slots_before = list(TaskSample.objects.filter(task=task).values_list("position", "sample_id"))
    foreign = Sample.objects.filter(prompt__project=other).first()
    url = f"/admin/labeling/task/{task.pk}/change/"
    data = form_data(staff_client, url)
    data.update({
        "project": str(other.pk), "prompt": str(foreign.prompt_id), "judgments_wanted": "9",
        "judgment_count": "0", "priority": "7", "reason": "urgent",
    })
    # try to swap a sample for the other project's, through the inline's fields
    data.update({"slots-0-sample": str(foreign.pk), "slots-TOTAL_FORMS": "3", "slots-2-sample": str(foreign.pk),
                 "slots-2-position": "2"})
    response = staff_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    task.refresh_from_db()
    assert (task.project_id, task.prompt.project_id, task.judgments_wanted, task.judgment_count) == (
        project.pk, project.pk, 2, 1)
    assert task.priority == 7
    assert list(TaskSample.objects.filter(task=task).values_list("position", "sample_id")) == slots_before
    entry = AuditLog.objects.get(action="task_update")
    assert (entry.actor, entry.project_id, entry.target_id, entry.before, entry.after, entry.reason) == (
        staff_client.user, project.pk, task.pk, {"priority": 0}, {"priority": 7}, "urgent")


def test_gold_answer_with_unknown_sample_ids_is_a_form_error(staff_client, labeled):
    _, other, judgment = labeled
    task = judgment.task
    url = f"/admin/labeling/task/{task.pk}/change/"
    foreign = Sample.objects.filter(prompt__project=other).first()
    mine = list(TaskSample.objects.filter(task=task).values_list("sample_id", flat=True))
    for answer, message in [
        (f'{{"ranking": [[{foreign.pk}], [{mine[0]}]]}}', "exactly once"),
        (f'{{"pairs": [[{mine[0]}, {foreign.pk}]]}}', "this task&#x27;s samples"),
        ('"left"', "gold choice must be one of"),
        ('{"whatever": 1}', "gold answer must be"),
    ]:
        data = form_data(staff_client, url)
        data.update({"is_gold": "on", "gold_answer": answer})
        response = staff_client.post(url, data)
        assert response.status_code == 200 and message in response.content.decode(), answer
    data = form_data(staff_client, url)
    data.update({"is_gold": "on", "gold_answer": ""})
    assert "needs a gold answer" in staff_client.post(url, data).content.decode()
    task.refresh_from_db()
    assert not task.is_gold and task.gold_answer is None
    assert not AuditLog.objects.exists()
    # a valid one is stored and audited
    data = form_data(staff_client, url)
    data.update({"is_gold": "on", "gold_answer": f'{{"pairs": [[{mine[1]}, {mine[0]}]]}}'})
    assert staff_client.post(url, data).status_code == 302
    task.refresh_from_db()
    assert task.is_gold and task.gold_answer == {"pairs": [[mine[1], mine[0]]]}
    entry = AuditLog.objects.get(action="task_update")
    assert entry.before == {"is_gold": False, "gold_answer": None} and entry.after["is_gold"] is True


def test_priority_in_the_list_view_goes_through_the_audited_service(staff_client, labeled):
    _, _, judgment = labeled
    task = judgment.task
    response = staff_client.post(f"/admin/labeling/task/?project__id__exact={task.project_id}", {
        "form-TOTAL_FORMS": "1", "form-INITIAL_FORMS": "1", "form-MIN_NUM_FORMS": "0", "form-MAX_NUM_FORMS": "1000",
        "form-0-id": str(task.pk), "form-0-priority": "3", "_save": "Save",
    })
    assert response.status_code == 302
    assert Task.objects.get(pk=task.pk).priority == 3
    assert AuditLog.objects.get(action="task_update").after == {"priority": 3}


def test_include_exclude_actions_go_through_the_audited_override(staff_client, labeled):
    project, _, judgment = labeled
    response = staff_client.post("/admin/labeling/judgment/", {
        "action": "exclude_judgments", "_selected_action": [str(judgment.pk)],
    })
    assert response.status_code == 302
    judgment.refresh_from_db()
    assert judgment.override == "exclude" and not judgment.included
    entry = AuditLog.objects.get(action="judgment_override")
    assert entry.actor == staff_client.user and entry.after["override"] == "exclude"
    assert (judgment.annotator.username, judgment.choice) == ("ann", "a")  # nothing else changed


def test_a_token_cannot_be_moved_to_another_project(client, labeled, make_user):
    project, other, _ = labeled
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    token, _ = token_create(project=project, name="ci")
    url = f"/admin/labeling/apitoken/{token.pk}/change/"
    data = form_data(client, url)
    data.update({"project": str(other.pk), "name": "renamed", "revoked": "on"})
    assert client.post(url, data).status_code == 302
    token = ApiToken.objects.get(pk=token.pk)
    assert (token.project_id, token.name, token.revoked) == (project.pk, "ci", True)
