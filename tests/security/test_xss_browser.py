"""Script in every field, in a real browser: items, names, reasons and settings whose every text
holds markup that would run if a page put it into the DOM unescaped, opened in headless chromium
on every page that shows them (labeling page, history, review pages, admin lists and forms).

The browser context ignores the Content-Security-Policy (bypass_csp), so this tests the escaping
and sanitising themselves, not the policy that would block inline script anyway. On each page:
nothing ran (window.__xss unset, no dialog), no payload element is in the DOM, and each field's
payload that the page shows is there as text (escaped, not dropped)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from crowd.services.judgments import judgments_record
from labeling.models import Assignment, Judgment, Project, Task
from labeling.quality.review import annotator_status_set, judgment_override
from labeling.quality.services import quality_recompute
from labeling.services.ingestion import items_ingest
from labeling.services.tokens import token_create
from tests.labeling.test_browser import chromium, log_in, wait_for_task  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCRIPT = "<script>window.__xss=1</script>"
LONG_TAIL = (f' {SCRIPT} <img src=x onerror="window.__xss=1"> "><svg onload=window.__xss=1> '
             "[x](javascript:window.__xss=1) <iframe srcdoc=\"<script>parent.__xss=1</script>\"></iframe> "
             "<img src=y onerror=alert(1)> <a href=\"javascript:window.__xss=1\">link</a>")


def pay(field: str) -> str:
    """Every payload, tagged with the field that holds it, for the long text fields."""
    return f"[{field}]{LONG_TAIL}"


def short(field: str) -> str:
    """For fields of at most 150 characters (ids, names)."""
    return f"[{field}] {SCRIPT}<img src=x onerror=window.__xss=1>"


# A payload that made it into the DOM as markup: any of these elements, or a javascript: link.
INJECTED = """() => document.querySelectorAll(
  "img[src='x'], img[src='y'], svg[onload], iframe[srcdoc], a[href^='javascript:' i], script:not([src])"
).length + [...document.querySelectorAll('script')].filter(s => s.textContent.includes('__xss')).length"""
# The page's text, form values included (the admin shows fields in inputs and textareas).
PAGE_TEXT = """() => document.body.innerText + '\\n' +
  [...document.querySelectorAll('input, textarea')].map(e => e.value).join('\\n')"""


def judge_as(task: Task, user, choice: str, rationale: str) -> Judgment:
    now = timezone.now()
    order = list(task.slots.order_by("position").values_list("sample_id", flat=True))
    assignment = Assignment.objects.create(task=task, annotator=user, status="submitted", served_at=now,
                                           lease_expires_at=now, shown_order=order)
    judgment = Judgment.objects.create(assignment=assignment, task=task, annotator=user, choice=choice,
                                       shown_order=order, response_ms=300, rationale=rationale)
    Task.objects.filter(pk=task.pk).update(judgment_count=task.judgment_count + 1)
    task.refresh_from_db()
    return judgment


@pytest.fixture
def hostile(make_project, make_user):
    """A project whose every text field holds the payloads, judged by annotators whose names do."""
    project = make_project("hostile", name=short("project-name"), judgments_per_task=5,
                           instructions=pay("instructions") + "\n\n**Read carefully.**")

    def sample(side: str) -> dict:
        return {"external_id": short(f"sample-id-{side}"), "text": pay(f"sample-text-{side}"),
                "model": short(f"model-{side}"), "adapter": short(f"adapter-{side}"),
                "metadata": {"note": pay(f"sample-meta-{side}")}}

    items_ingest(project=project, items=[
        {"external_id": short("prompt-id-chat"), "priority": 2,
         "prompt": [{"role": "system", "content": pay("system-turn")}, {"role": "user", "content": pay("user-turn")}],
         "samples": [sample("a"), sample("b")]},
        {"external_id": short("prompt-id-plain"), "priority": 1, "prompt": pay("prompt-text"),
         "metadata": {"tag": pay("prompt-meta")},
         "samples": [sample("c"), sample("d")]},
    ])
    users = get_user_model()
    evil = [users.objects.create_user(username=short(f"user-{i}"), password="x") for i in range(2)]
    root = make_user("root", is_staff=True, is_superuser=True)
    make_user("ann")
    tasks = list(Task.objects.filter(project=project).order_by("pk"))
    judgments = [judge_as(task, user, "a" if i else "b", pay(f"rationale-{i}"))
                 for task in tasks for i, user in enumerate(evil)]
    judgments_record(project=project, rows=[{"external_id": "crowd-1", "task": tasks[0].pk, "annotator": "w.1",
                                             "choice": "b", "seconds": 1, "rationale": pay("crowd-rationale")}])
    quality_recompute(project_id=project.pk, force=True)
    annotator_status_set(project=project, annotator_id=evil[1].pk, status="paused", actor=root,
                         reason=pay("pause-reason"))
    judgment_override(judgment_id=judgments[0].pk, project=project, decision="exclude", actor=root,
                      reason=pay("override-reason"))
    token_create(project=project, name=short("token-name"))
    return {"project": project, "evil": evil, "judgments": judgments}


def test_no_field_runs_script_on_any_page(live_server, chromium, hostile):  # noqa: F811
    context = chromium.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    problems: list[str] = []
    visited = 0

    def check(where: str, fields: tuple[str, ...] = ()) -> None:
        nonlocal visited
        visited += 1
        if page.evaluate("window.__xss") is not None:
            problems.append(f"{where}: script ran")
        injected = page.evaluate(INJECTED)
        if injected:
            problems.append(f"{where}: {injected} payload element(s) in the DOM")
        text = page.evaluate(PAGE_TEXT)
        for field in fields:
            if f"[{field}]" not in text:
                problems.append(f"{where}: {field} not shown")
            elif f"[{field}] {SCRIPT}" not in text:
                problems.append(f"{where}: {field} shown without its markup as text")

    project = hostile["project"]
    base = live_server.url

    # The checks catch a page that does put the payloads in as markup (served from this origin).
    page.route(f"{base}/control/", lambda route: route.fulfill(content_type="text/html",
                                                                   body=f"<body><p>{pay('control')}</p></body>"))
    page.goto(f"{base}/control/")
    page.wait_for_function("() => window.__xss === 1")
    check("control", ("control",))
    assert [p.split(": ", 1)[1] for p in problems] == [
        "script ran", "7 payload element(s) in the DOM", "control shown without its markup as text"], problems
    assert dialogs == ["1"], dialogs
    problems.clear(), dialogs.clear()
    visited = 0

    # The annotator: the project list, both tasks (chat first, then plain), a typed reason, history.
    log_in(page, live_server)
    check("project list", ("project-name",))
    page.goto(f"{base}/label/{project.slug}/")
    wait_for_task(page)
    check("labeling page, chat task", ("project-name", "instructions", "system-turn", "user-turn",
                                       "sample-text-a", "sample-text-b"))
    page.fill("#rationale", pay("typed-rationale"))
    page.click("[data-choose='0']")
    page.click("#submit")
    page.wait_for_function("() => document.querySelector('#task').innerText.includes('[prompt-text]')")
    check("labeling page, plain task", ("prompt-text", "sample-text-c", "sample-text-d"))
    page.goto(f"{base}/history/")
    check("history", ("project-name", "sample-text-a", "sample-text-b", "typed-rationale"))

    # Staff: the review pages.
    page.goto(f"{base}/logout/")
    page.click("button[type=submit]")
    log_in(page, live_server, "root")
    evil = hostile["evil"]
    for path, fields in (
        ("/review/", ("project-name",)),
        (f"/review/{project.slug}/", ("project-name", "user-0", "user-1")),
        (f"/review/{project.slug}/annotators/", ("user-0", "user-1")),
        (f"/review/{project.slug}/annotators/{evil[1].pk}/", ("user-1", "rationale-1")),
        (f"/review/{project.slug}/flagged/?queue=all", ("user-0", "rationale-0")),
        (f"/review/{project.slug}/audit/", ("user-1", "pause-reason", "override-reason")),
    ):
        page.goto(base + path)
        check(path, fields)

    # The admin: every list and the change form of an object of the hostile project.
    admin_pages = [
        ("labeling/project/", ("project-name",)),
        (f"labeling/project/{project.pk}/change/", ("project-name", "instructions")),
        ("labeling/prompt/", ("prompt-id-chat", "prompt-id-plain")),
        ("labeling/sample/", ("sample-id-a", "model-a", "adapter-a")),
        ("labeling/judgment/", ()),
        ("labeling/apitoken/", ("token-name",)),
        ("auth/user/", ("user-0", "user-1")),
        ("labeling/auditlog/", ("pause-reason",)),
        ("labeling/annotatorstatus/", ("user-1",)),
    ]
    from django.contrib.admin.sites import site

    for model in site._registry:
        meta = model._meta
        admin_pages.append((f"{meta.app_label}/{meta.model_name}/", ()))
        obj = _object_of(model, project)
        if obj is not None:
            admin_pages.append((f"{meta.app_label}/{meta.model_name}/{obj.pk}/change/", _fields_of(model, obj)))
    for path, fields in admin_pages:
        page.goto(f"{base}/admin/{path}")
        check(f"/admin/{path}", fields)

    context.close()
    assert not dialogs, dialogs
    assert not problems, "\n".join(problems)
    assert visited > 30


def _object_of(model, project: Project):
    """An object of the hostile project (the newest, so the payload ones), or any."""
    if model is Project:
        return project
    names = {f.name for f in model._meta.get_fields()}
    for path in ("project", "task__project", "prompt__project"):
        if path.split("__")[0] in names:
            return model.objects.filter(**{path: project}).order_by("-pk").first()
    return model.objects.order_by("-pk").first()


CHANGE_FORM_FIELDS = {  # what the change form of the object _object_of picks must show
    "labeling.prompt": ("prompt-id-plain", "prompt-text", "prompt-meta"),
    "labeling.sample": ("sample-id-d", "sample-text-d", "model-d", "adapter-d", "sample-meta-d"),
    "labeling.judgment": ("typed-rationale",),  # the newest: the one typed on the page
    "labeling.apitoken": ("token-name",),
    "labeling.annotatorstatus": ("pause-reason",),
    "labeling.auditlog": ("override-reason",),
}


def _fields_of(model, obj) -> tuple[str, ...]:
    return CHANGE_FORM_FIELDS.get(model._meta.label_lower, ())
