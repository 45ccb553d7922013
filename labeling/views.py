"""Annotator pages: server-rendered, with small JSON endpoints the page's script calls so the
next task appears without a full reload. A refused answer (JudgmentError, an AppError) becomes
{"error": message} with its status in config.errors.AppErrorMiddleware."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.templatetags.static import static

from labeling.api.parsers import JSONBodyError, json_body_parse
from labeling.display import judgments_as_shown
from labeling.http import method_not_allowed, require_POST
from labeling.models import Assignment, Project, Sample
from labeling.quality.selectors import annotator_status_of
from labeling.selectors import annotator_history, annotator_progress, projects_for_annotator
from labeling.services.assignment import assignment_next, assignment_revisit, assignment_skip
from labeling.services.judging import (
    JudgmentError,
    LateSubmitError,
    is_id,
    judgment_submit,
    judgment_undo_last,
)

ACCESS_CACHE_SECONDS = 5


def _project_for(request: HttpRequest, slug: str) -> Project:
    """The project, if this user may label it. Remembered for a few seconds per process: every
    next/submit asks, and a change of membership may take that long to apply."""
    key = f"labeling:access:{slug}:{request.user.pk}"
    project = cache.get(key)
    if project is None:
        project = projects_for_annotator(user=request.user).filter(slug=slug).first()
        if project is None:
            # The same 404 whether the project does not exist or is not theirs: a 403 would tell
            # an annotator which slugs exist.
            raise Http404("No such project, or you are not an annotator of it.")
        cache.set(key, project, ACCESS_CACHE_SECONDS)
    return project


def _task_data(
    request: HttpRequest, project: Project, assignment: Assignment | None, *, with_progress: bool = True
) -> dict:
    """The next task as JSON with its HTML. Progress is counted on page load, undo, revisit and at
    the end; after a submit or skip the page updates its own figures, which saves two queries per
    judgment. With no task, `status` says whether a reviewer paused (or banned) this annotator."""
    progress = annotator_progress(project=project, annotator=request.user) if with_progress or not assignment else None
    if assignment is None:
        status = annotator_status_of(project=project, annotator=request.user)
        return {"done": True, "progress": progress, "status": status}
    samples = {s.pk: s for s in Sample.objects.filter(pk__in=assignment.shown_order)}
    shown = [samples[sample_id] for sample_id in assignment.shown_order]
    html = render_to_string(
        "labeling/_task.html",
        {"project": project, "prompt": assignment.task.prompt, "samples": shown, "assignment": assignment},
    )
    return {
        "done": False,
        "assignment": assignment.pk,
        "kind": project.kind,
        "shown_order": assignment.shown_order,
        "html": html,
        "progress": progress,
    }


def _task_payload(
    request: HttpRequest, project: Project, assignment: Assignment | None, *, with_progress: bool = True
) -> JsonResponse:
    return JsonResponse(_task_data(request, project, assignment, with_progress=with_progress))


def _body_size_check(request: HttpRequest) -> None:
    """A 413 for a body over PAGE_MAX_BODY_BYTES, decided from the declared length before the body
    is read (and from the read length), so an oversize body is never parsed."""
    limit = settings.PAGE_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    size = declared if declared > limit else len(request.body)
    if size > limit:
        raise JudgmentError(
            f"the body is {size} bytes, more than the limit of {limit} bytes (PREFLAB_PAGE_MAX_BODY_BYTES)",
            status=413,
        )


def _body(request: HttpRequest) -> dict:
    """The JSON object the page sent, through the API's strict parser (named 400s, never a 500)."""
    _body_size_check(request)
    try:
        data = json_body_parse(request.body or b"{}")
    except JSONBodyError as exc:
        raise JudgmentError(f"the body must be JSON: {exc.message}") from None
    if not isinstance(data, dict):
        raise JudgmentError("the body must be a JSON object")
    return data


def _own_assignment(request: HttpRequest, project: Project, data: dict) -> Assignment:
    assignment_id = data.get("assignment")
    if not is_id(assignment_id):
        raise JudgmentError("assignment must be the id of the task shown (a whole number)")
    assignment = get_object_or_404(
        Assignment.objects.select_related("task"), pk=assignment_id, annotator=request.user, task__project=project,
    )
    # The request's own project object: its settings are validated once per request, whichever
    # service reads them (judging, then assignment for the next task).
    assignment.task.project = project
    return assignment


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on every page (the admin's too): the static SVG."""
    return HttpResponsePermanentRedirect(static("labeling/favicon.svg"))


class LogoutView(auth_views.LogoutView):
    """Django's logout, plus a page for GET: someone who types /logout/ gets a "Log out" button
    (a POST with the CSRF token) instead of a bare 405. Logging out on GET would let any page
    log its visitors out."""

    http_method_names = ["get", "post", "options"]

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return render(request, "registration/logout_confirm.html")

    def http_method_not_allowed(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return method_not_allowed(request, ["GET", "POST"])


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    projects = projects_for_annotator(user=request.user)
    return render(request, "labeling/project_list.html", {"projects": projects})


@login_required
def label_page(request: HttpRequest, slug: str) -> HttpResponse:
    project = _project_for(request, slug)
    status = annotator_status_of(project=project, annotator=request.user)
    return render(request, "labeling/label.html", {"project": project, "status": status})


@login_required
def history_page(request: HttpRequest) -> HttpResponse:
    judgments = judgments_as_shown(annotator_history(annotator=request.user))
    return render(request, "labeling/history.html", {"judgments": judgments})


@login_required
@require_POST
def next_task(request: HttpRequest, slug: str) -> JsonResponse:
    project = _project_for(request, slug)
    return _task_payload(request, project, assignment_next(project=project, annotator=request.user))


@login_required
@require_POST
def submit(request: HttpRequest, slug: str) -> JsonResponse:
    project = _project_for(request, slug)
    data = _body(request)
    try:
        judgment_submit(assignment=_own_assignment(request, project, data), annotator=request.user, data=data)
    except LateSubmitError as error:
        # Not recorded (the lease expired and the task is full): say so, and hand over the next task.
        following = _task_data(request, project, assignment_next(project=project, annotator=request.user))
        return JsonResponse({**following, "error": str(error)}, status=error.status)
    return _task_payload(
        request, project, assignment_next(project=project, annotator=request.user), with_progress=False
    )


@login_required
@require_POST
def skip(request: HttpRequest, slug: str) -> JsonResponse:
    project = _project_for(request, slug)
    assignment_skip(assignment=_own_assignment(request, project, _body(request)))
    return _task_payload(
        request, project, assignment_next(project=project, annotator=request.user), with_progress=False
    )


@login_required
@require_POST
def undo(request: HttpRequest, slug: str) -> JsonResponse:
    project = _project_for(request, slug)
    assignment = judgment_undo_last(project=project, annotator=request.user)
    if assignment is None:
        return JsonResponse({"error": "There is no judgment to undo."}, status=409)
    return _task_payload(request, project, assignment)


@login_required
@require_POST
def revisit(request: HttpRequest, slug: str) -> JsonResponse:
    project = _project_for(request, slug)
    assignment = assignment_revisit(project=project, annotator=request.user)
    if assignment is None:
        return JsonResponse({"error": "No skipped task can be revisited now: others have finished them."}, status=409)
    return _task_payload(request, project, assignment)
