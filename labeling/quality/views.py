"""Review pages for staff: dashboard, annotator table and drill-down, flagged queue with
overrides, pause/ban, audit log. Thin: reads from selectors, writes through services."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from labeling.display import judgments_as_shown
from labeling.http import require_POST, staff_only
from labeling.models import Judgment, Project
from labeling.quality import selectors, svg
from labeling.quality.config import quality_config
from labeling.quality.forms import HoneypotForm, OverrideForm, StatusForm
from labeling.quality.gold import honeypots_create
from labeling.quality.models import AnnotatorStats
from labeling.quality.review import annotator_status_set, judgment_override
from labeling.quality.review_selectors import audit_rows, exclusion_summary
from labeling.quality.services import quality_request


def _project(slug: str) -> Project:
    return get_object_or_404(Project, slug=slug)


@staff_only
def project_list(request: HttpRequest) -> HttpResponse:
    return render(request, "labeling/review/projects.html", {"rows": selectors.review_projects()})


@staff_only
def dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    project = _project(slug)
    cfg = quality_config(project)
    snapshots = selectors.snapshots_of(project=project)
    stats = list(AnnotatorStats.objects.filter(project=project).select_related("annotator").order_by("annotator_id"))
    names = {s.annotator_id: s.annotator.get_username() for s in stats}
    charts = {
        "speed": svg.histogram(selectors.response_seconds(project=project), title="Response time",
                               x_label="seconds", marker=cfg.floor_seconds),
        "agreement": svg.line_chart(
            [s.computed_at.strftime("%m-%d %H:%M") for s in snapshots],
            {"alpha (all)": [s.alpha for s in snapshots], "alpha (clean)": [s.alpha_clean for s in snapshots]},
            title="Krippendorff's alpha over time", y_min=0.0, y_max=1.0,
        ),
        "gold": svg.bars([(names[s.annotator_id], s.gold_accuracy, s.gold_low, s.gold_high)
                          for s in stats if s.gold_n], title="Gold accuracy (95% Wilson interval)",
                         reference=cfg.gold_min_accuracy),
        "position": svg.bars([(names[s.annotator_id], s.left_rate, None, None) for s in stats],
                             title="Share of picks shown first / left", reference=0.5),
        "length": svg.bars([(names[s.annotator_id], s.longer_rate, None, None) for s in stats],
                           title="Share of picks that were the longest sample",
                           reference=(snapshots[-1].details.get("base_longer_rate") if snapshots else None)),
    }
    context = {
        "project": project, "cfg": cfg, "charts": charts, "snapshot": snapshots[-1] if snapshots else None,
        "state": selectors.quality_state_of(project=project), "honeypot_form": HoneypotForm(),
        "flagged": sum(1 for s in stats if s.flagged),
        "exclusions": exclusion_summary(project=project),
    }
    return render(request, "labeling/review/dashboard.html", context)


@staff_only
@require_POST
def recompute(request: HttpRequest, slug: str) -> HttpResponse:
    project = _project(slug)
    if quality_request(project=project):
        messages.success(request, "A recomputation is queued; reload in a moment.")
    else:
        messages.info(request, "A recomputation is already queued.")
    return redirect("quality:dashboard", slug=project.slug)


@staff_only
@require_POST
def honeypots(request: HttpRequest, slug: str) -> HttpResponse:
    project = _project(slug)
    form = HoneypotForm(request.POST)
    if form.is_valid():
        made = honeypots_create(project=project, count=form.cleaned_data["count"],
                                seed=project.tasks.filter(is_gold=True).count())
        messages.success(request, f"{len(made)} honeypot tasks made.")
    else:
        messages.error(request, "Give a number of honeypots between 1 and 500.")
    return redirect("quality:dashboard", slug=project.slug)


@staff_only
def annotators(request: HttpRequest, slug: str) -> HttpResponse:
    project = _project(slug)
    sort = request.GET.get("sort", "reliability")
    descending = request.GET.get("dir") == "desc"
    rows = selectors.annotator_table(project=project, sort=sort, descending=descending)
    return render(request, "labeling/review/annotators.html",
                  {"project": project, "rows": rows, "sort": sort, "descending": descending,
                   "sorts": list(selectors.SORTS)})


@staff_only
def annotator_detail(request: HttpRequest, slug: str, user_id: int) -> HttpResponse:
    project = _project(slug)
    user = get_object_or_404(get_user_model(), pk=user_id)
    context = {
        "project": project, "annotator": user,
        "stats": AnnotatorStats.objects.filter(project=project, annotator=user).first(),
        "status": selectors.annotator_status_of(project=project, annotator=user),
        "judgments": judgments_as_shown(selectors.annotator_judgments(project=project, annotator_id=user.pk)),
        "status_form": StatusForm(), "statuses": ["active", "paused", "banned"],
    }
    return render(request, "labeling/review/annotator.html", context)


@staff_only
@require_POST
def annotator_status(request: HttpRequest, slug: str, user_id: int) -> HttpResponse:
    project = _project(slug)
    user = get_object_or_404(get_user_model(), pk=user_id)
    form = StatusForm(request.POST)
    if form.is_valid():
        annotator_status_set(project=project, annotator_id=user.pk, status=form.cleaned_data["status"],
                             actor=request.user, reason=form.cleaned_data["reason"])
        messages.success(request, f"{user.get_username()} is now {form.cleaned_data['status']}.")
    else:
        messages.error(request, "Unknown status.")
    return redirect("quality:annotator", slug=project.slug, user_id=user.pk)


@staff_only
def flagged(request: HttpRequest, slug: str) -> HttpResponse:
    project = _project(slug)
    queue = request.GET.get("queue", "pending")
    queue = queue if queue in selectors.QUEUES else "pending"
    judgments = judgments_as_shown(selectors.flagged_queue(project=project, queue=queue))
    return render(request, "labeling/review/flagged.html",
                  {"project": project, "judgments": judgments, "queue": queue, "queues": selectors.QUEUES})


@staff_only
@require_POST
def override(request: HttpRequest, slug: str, judgment_id: int) -> HttpResponse:
    project = _project(slug)
    get_object_or_404(Judgment, pk=judgment_id, task__project=project)
    form = OverrideForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Unknown decision.")
    else:
        judgment_override(judgment_id=judgment_id, project=project, decision=form.cleaned_data["decision"],
                          actor=request.user, reason=form.cleaned_data["reason"])
    target = form.cleaned_data.get("next") if form.is_valid() else ""
    if not target or not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("quality:flagged", kwargs={"slug": project.slug})
    return redirect(target)


@staff_only
def audit(request: HttpRequest, slug: str) -> HttpResponse:
    project = _project(slug)
    return render(request, "labeling/review/audit.html",
                  {"project": project, "rows": audit_rows(project=project)})
