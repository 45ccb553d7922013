"""Who may reach what: every URL pattern the site has (walked from django.urls.get_resolver(), so
a new one is covered, and fails here until it has an expectation) called as seven roles against
project A, each outcome checked against the table below; and no answer carries the other
project's data.

Roles: anonymous; an annotator on A's list; an annotator not on it (on project B's); a staff
reviewer (the reviewers group); a superuser; an API token of A; an API token of B.
Outcomes: "ok" (served, or refused for a reason past authorization: a 400, 405, 409, a redirect
that is not to a login page), "login" (401, or a redirect to a login page), "403", "404".
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from labeling.models import Project, Task
from labeling.services.ingestion import items_ingest
from labeling.services.roles import REVIEWERS
from labeling.services.tokens import token_create
from tests.factories import item
from tests.rewards_db.conftest import judge

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "member", "outsider", "reviewer", "superuser", "token_a", "token_b")
A_SECRET, B_SECRET = "alphasecret7f3a", "bravosecret9c1e"

# Profiles: one outcome per role, in ROLES' order.
PUBLIC = dict.fromkeys(ROLES, "ok")
API = {"anonymous": "login", "member": "403", "outsider": "403", "reviewer": "ok", "superuser": "ok",
       "token_a": "ok", "token_b": "403"}
SIGNED_IN = {"anonymous": "login", "member": "ok", "outsider": "ok", "reviewer": "ok", "superuser": "ok",
             "token_a": "login", "token_b": "login"}
# Labeling a project: its annotators only (staff too label only where listed); anyone else gets
# the same 404 as for a slug that does not exist.
ANNOTATOR_OF_A = {"anonymous": "login", "member": "ok", "outsider": "404", "reviewer": "404", "superuser": "404",
                  "token_a": "login", "token_b": "login"}
STAFF = {"anonymous": "login", "member": "403", "outsider": "403", "reviewer": "ok", "superuser": "ok",
         "token_a": "login", "token_b": "login"}
# Starting and stopping work on the workers takes a permission reviewers do not have.
OPERATOR = {**STAFF, "reviewer": "403"}

# Every URL outside the admin, by name and method. Bodies: JSON {} for the API and the label page's
# endpoints, an empty form for the staff pages' POSTs.
EXPECTED: dict[tuple[str, str], dict[str, str]] = {
    ("login", "GET"): PUBLIC,
    ("logout", "GET"): PUBLIC,
    ("schema", "GET"): PUBLIC,
    ("api-docs", "GET"): PUBLIC,
    ("labeling:favicon", "GET"): PUBLIC,
    ("api-project", "GET"): API,
    ("api-items", "POST"): API,
    ("api-export", "GET"): API,
    ("api-crowd-tasks", "GET"): API,
    ("api-crowd-judgments", "POST"): API,
    ("api-rounds", "GET"): API,
    ("api-rounds", "POST"): API,
    ("api-round", "GET"): API,
    ("api-round-retry", "POST"): API,
    # A project's token scores the models trained on its project; staff any.
    ("api-reward-score", "POST"): API,
    ("labeling:project-list", "GET"): SIGNED_IN,
    ("labeling:history", "GET"): SIGNED_IN,
    ("labeling:label", "GET"): ANNOTATOR_OF_A,
    ("labeling:next", "POST"): ANNOTATOR_OF_A,
    ("labeling:submit", "POST"): ANNOTATOR_OF_A,
    ("labeling:skip", "POST"): ANNOTATOR_OF_A,
    ("labeling:undo", "POST"): ANNOTATOR_OF_A,
    ("labeling:revisit", "POST"): ANNOTATOR_OF_A,
    ("quality:projects", "GET"): STAFF,
    ("quality:dashboard", "GET"): STAFF,
    ("quality:recompute", "POST"): STAFF,
    ("quality:honeypots", "POST"): STAFF,
    ("quality:annotators", "GET"): STAFF,
    ("quality:annotator", "GET"): STAFF,
    ("quality:annotator-status", "POST"): STAFF,
    ("quality:flagged", "GET"): STAFF,
    ("quality:override", "POST"): STAFF,
    ("quality:audit", "GET"): STAFF,
    ("training:runs", "GET"): STAFF,
    ("training:run", "GET"): STAFF,
    ("training:run-live", "GET"): STAFF,
    ("training:run-cancel", "POST"): OPERATOR,
    ("training:run-retry", "POST"): OPERATOR,
    ("rounds:projects", "GET"): STAFF,
    ("rounds:list", "GET"): STAFF,
    ("rounds:start", "POST"): OPERATOR,
    ("rounds:round", "GET"): STAFF,
    ("rounds:round-live", "GET"): STAFF,
    ("rounds:retry", "POST"): OPERATOR,
}

# The admin (GET only: a POST there changes data): non-staff are sent to its login page. The
# reviewers group may view these models (labeling/services/roles.py); every other model's pages,
# and every add and delete page, are a 403 for them. A superuser gets every page except the add
# page of records only the service makes, and the delete page of records the lineage needs.
REVIEWER_VIEWS = {"labeling.project", "labeling.prompt", "labeling.sample", "labeling.task", "labeling.tasksample",
                  "labeling.assignment", "labeling.judgment", "labeling.annotatorstats", "labeling.annotatorstatus",
                  "labeling.qualitysnapshot", "labeling.auditlog"}
SUPERUSER_ADDS = {"auth.user", "auth.group", "labeling.project"}
SUPERUSER_KEEPS = {"labeling.prompt", "labeling.sample", "labeling.task", "labeling.assignment", "labeling.judgment",
                   "labeling.auditlog", "training.trainingrun", "rewards.preferencedataset", "rewards.rewardmodel",
                   "policy.policymodel", "rounds.round"}
ADMIN_SITE = {  # the site's own pages: (reviewer, superuser)
    "admin:index": ("ok", "ok"),
    "admin:login": ("ok", "ok"),
    "admin:logout": ("ok", "ok"),
    "admin:password_change": ("ok", "ok"),
    "admin:password_change_done": ("ok", "ok"),
    "admin:jsi18n": ("ok", "ok"),
    "admin:app_list": ("ok", "ok"),  # called for the labeling app, where reviewers see models
    "admin:autocomplete": ("403", "403"),  # called without its parameters: refused before any data
    "admin:view_on_site": ("404", "404"),  # a project has no public page
    "admin:catch_all": ("404", "404"),
}


def _admin_expected(name: str) -> dict[str, str]:
    outsiders = {"anonymous": "login", "member": "login", "outsider": "login", "token_a": "login", "token_b": "login"}
    if name in ADMIN_SITE:
        reviewer, superuser = ADMIN_SITE[name]
        if name in ("admin:login", "admin:logout"):  # the login form; logout sends non-staff to the index
            outsiders = dict.fromkeys(outsiders, "ok")
        return {**outsiders, "reviewer": reviewer, "superuser": superuser}
    match = re.fullmatch(r"admin:(\w+?)_(\w+)_(changelist|add|change|delete|history|redirect|password_change)", name)
    assert match, f"an admin URL this table has no rule for: {name}"
    app, model, action = match.groups()
    label = f"{app}.{model}"
    viewing = action in ("changelist", "change", "history", "redirect")
    superuser = "403" if (action == "add" and label not in SUPERUSER_ADDS) or (
        action == "delete" and label in SUPERUSER_KEEPS) else "ok"
    # <model>/<id>/ only redirects to the change page, which decides.
    reviewer = "ok" if action == "redirect" or (viewing and label in REVIEWER_VIEWS) else "403"
    return {**outsiders, "reviewer": reviewer, "superuser": superuser}


def url_patterns() -> list[tuple[str, str]]:
    """(route, name) of every pattern; an admin pattern without a name gets a descriptive one."""
    found: list[tuple[str, str]] = []

    def walk(patterns, prefix: str, namespace: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                inner = ":".join(part for part in (namespace, entry.namespace) if part)
                walk(entry.url_patterns, prefix + str(entry.pattern), inner)
            else:
                assert isinstance(entry, URLPattern)
                route = prefix + str(entry.pattern)
                name = entry.name
                if name is None and namespace == "admin":  # the catch-all, and <model>/<id>/ redirecting to change
                    parts = route.split("/")
                    name = "catch_all" if "(?P<url>" in route else f"{parts[1]}_{parts[2]}_redirect"
                found.append((route, f"{namespace}:{name}" if namespace else str(name)))

    walk(get_resolver().url_patterns, "", "")
    return found


@pytest.fixture
def world(make_project, make_user):
    """Projects A and B with items and judgments, the people and tokens, and objects of A that the
    URLs name."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    from crowd.services.judgments import judgments_record
    from labeling.quality.services import quality_recompute
    from policy.models import PolicyModel
    from rewards.models import PreferenceDataset, RewardModel
    from rounds.services import round_create
    from training.models import TrainingRun

    member, outsider = make_user("member"), make_user("outsider")
    reviewer = make_user("reviewer", is_staff=True)
    reviewer.groups.add(Group.objects.get(name=REVIEWERS))
    superuser = make_user("root", is_staff=True, is_superuser=True)
    projects = {}
    for slug, secret, annotator in (("alpha", A_SECRET, member), ("bravo", B_SECRET, outsider)):
        project = make_project(slug, name=slug.title(), judgments_per_task=3)
        project.annotators.add(annotator)
        items_ingest(project=project, items=[
            item(f"{slug}-p{i}", prompt=f"Prompt {secret} {i}", metadata={"note": secret}) for i in range(3)])
        task = Task.objects.filter(project=project).order_by("pk").first()
        judgment = judge(task, annotator, "a", rationale=f"Because {secret}")
        RewardModel.objects.create(name=f"rm-{slug}", project=project, base_model="none", adapter_path="/nonexistent")
        round_create(project=project)
        projects[slug] = {"project": project, "judgment": judgment, "token": token_create(project=project, name="t")[1]}
    run = TrainingRun.objects.create(kind=TrainingRun.Kind.REWARD)
    # One row of every model the admin shows, so each change page is about a real object of A.
    a = projects["alpha"]["project"]
    task = Task.objects.filter(project=a).order_by("pk").last()
    judgments_record(project=a, rows=[{"external_id": "x1", "task": task.pk, "annotator": "w1", "choice": "a"}])
    quality_recompute(project_id=a.pk, force=True)
    PreferenceDataset.objects.create(project=a, content_hash="0" * 64)
    PolicyModel.objects.create(name="p", project=a, base_model="none", adapter_path="/nonexistent",
                               kind=PolicyModel.Kind.PPO)
    AccessAttempt.objects.create(username="someone", ip_address="127.0.0.1", user_agent="ua", failures_since_start=1)
    for model in (AccessLog, AccessFailureLog):
        model.objects.create(username="someone", ip_address="127.0.0.1", user_agent="ua")
    return {"a": projects["alpha"], "b": projects["bravo"], "member": member, "outsider": outsider,
            "reviewer": reviewer, "superuser": superuser, "run": run}


def _admin_object_id(label: str, a: Project) -> str:
    """The id of an object of project A for an admin change page, where the model has one."""
    from django.apps import apps

    model = apps.get_model(label)
    if model is Project:
        return str(a.pk)
    fields = {f.name for f in model._meta.get_fields()}
    for path in ("project", "task__project", "prompt__project", "assignment__task__project"):
        if path.split("__")[0] in fields:
            obj = model.objects.filter(**{path: a}).first()
            if obj is not None:
                return str(obj.pk)
    obj = model.objects.first()
    return str(obj.pk) if obj is not None else "999999"


def concrete_url(route: str, name: str, world) -> str:
    a = world["a"]
    project = a["project"]
    if name.startswith("admin:"):
        label = None
        match = re.match(r"admin/(\w+)/(\w+)/<path:object_id>", route)
        if match:
            label = f"{match.group(1)}.{match.group(2)}"
        replacements = {
            r"\^\(\?P<app_label>[^)]*\)/\$": "labeling/",
            r"\(\?P<url>\.\*\)\$": "no-such-page/",
            r"<(?:\w+:)?content_type_id>": str(_content_type_of_project()),
            r"<path:object_id>": _admin_object_id(label, project) if label else str(project.pk),
            r"<id>": str(world["member"].pk),  # a user's password form
        }
        for pattern, value in replacements.items():
            route = re.sub(pattern, value, route)
    else:
        from rewards.models import RewardModel

        pk = world["run"].pk if name.startswith("training:") else RewardModel.objects.get(project=project).pk
        values = {"slug": project.slug, "number": "1", "pk": str(pk), "user_id": str(world["member"].pk),
                  "judgment_id": str(a["judgment"].pk)}
        route = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)], route)
    assert "<" not in route and "(" not in route, route
    return "/" + route.lstrip("^").rstrip("$")


def _content_type_of_project() -> int:
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(Project).pk


def client_for(role: str, world) -> Client:
    client = Client()
    if role in ("member", "outsider", "reviewer", "superuser"):
        client.force_login(world[role])
    elif role in ("token_a", "token_b"):
        client.defaults["HTTP_AUTHORIZATION"] = f"Token {world[role[-1]]['token']}"
    return client


def outcome(response) -> str:
    status = response.status_code
    if status >= 500:
        return f"{status}"
    if status == 401:
        return "login"
    if status in (301, 302) and urlsplit(response["Location"]).path in ("/login/", "/admin/login/"):
        return "login"
    if status in (403, 404):
        return str(status)
    return "ok"


def body_text(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode("utf-8", errors="replace")


def call(client: Client, method: str, url: str, name: str):
    if method == "GET":
        return client.get(url)
    if name.startswith(("api-", "labeling:")):
        return client.post(url, data=json.dumps({} if "score" not in name else []), content_type="application/json")
    return client.post(url, data={})


def test_every_url_has_an_expectation():
    missing = []
    for route, name in url_patterns():
        if name.startswith("admin:"):
            _admin_expected(name)  # raises for an admin URL of a kind the rule does not know
        elif not any(key[0] == name for key in EXPECTED):
            missing.append(f"{route} ({name})")
    assert not missing, f"URL patterns with no expectation in EXPECTED: {missing}"


def test_roles_by_endpoints_on_project_a(world, settings):
    settings.AXES_ENABLED = False  # the admin's login page is called by seven roles; no lockout bookkeeping
    wrong, leaks, seen = [], [], 0
    shown = {"a": set(), "b": set()}  # roles that saw each project's data somewhere: the markers do render
    clients = {role: client_for(role, world) for role in ROLES}  # no call logs out (logout is a GET here)
    for route, name in url_patterns():
        cases = ([("GET", _admin_expected(name))] if name.startswith("admin:")
                 else [(method, expected) for (key, method), expected in EXPECTED.items() if key == name])
        url = concrete_url(route, name, world)
        for method, expected in cases:
            for role in ROLES:
                response = call(clients[role], method, url, name)
                seen += 1
                got = outcome(response)
                if got != expected[role]:
                    wrong.append(f"{method} {url} as {role}: expected {expected[role]}, got {got} "
                                 f"({response.status_code})")
                text = body_text(response)
                shown["a"].update([role] if A_SECRET in text else [])
                shown["b"].update([role] if B_SECRET in text else [])
                # A's credentials never see B's data, nor B's credentials A's; and a page about A
                # (its slug in the URL) shows no other project's data, whoever asks.
                if role in ("member", "token_a") or (world["a"]["project"].slug in url and "admin" not in url):
                    if B_SECRET in text:
                        leaks.append(f"{method} {url} as {role} shows project B's data")
                if role in ("outsider", "token_b") and A_SECRET in text:
                    leaks.append(f"{method} {url} as {role} shows project A's data")
    assert not wrong, "\n".join(wrong)
    assert not leaks, "\n".join(leaks)
    assert seen > 7 * 150
    assert {"member", "token_a", "reviewer", "superuser"} <= shown["a"], shown
    assert "outsider" in shown["b"], shown  # B's annotator, in their history


def test_an_annotator_cannot_tell_a_forbidden_project_from_a_missing_one(world):
    client = client_for("outsider", world)
    for suffix, method in (("", "GET"), ("next/", "POST"), ("submit/", "POST")):
        forbidden = call(client, method, f"/label/alpha/{suffix}", "labeling:")
        missing = call(client, method, f"/label/no-such-project/{suffix}", "labeling:")
        assert forbidden.status_code == missing.status_code == 404, suffix
        # the same answer but for the path it names (and the logout form's CSRF token, masked anew each time)
        assert _comparable(forbidden, "/label/alpha/") == _comparable(missing, "/label/no-such-project/"), suffix


def _comparable(response, path: str) -> str:
    text = response.content.decode().replace(path, "/label/?/")
    return re.sub(r'name="csrfmiddlewaretoken" value="\w+"', "", text)
