"""Staff pages for training runs: the list (filter by project, kind, status) and one run with its
progress, metric charts and log tail, refreshed live while it is unfinished (static/training/
live.js polls run_live's fragment), with cancel and retry through training.services. A refusal
(RunStateError, 409) goes to config.errors' one handler: a flash message on the page it came from.

The pages wear the site's chrome, which labeling owns (the review base template, the staff check,
the SVG charts): only this web layer imports it; training's models, services and tasks import no
sibling app."""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from labeling.http import require_POST, staff_only
from labeling.quality import svg
from training import selectors, services
from training.models import TrainingRun

RUNS_PER_PAGE = 50
LIVE_EVERY_MS = 3000
# Any staff member may watch; cancel and retry need what the admin asks to change a run (a
# reviewer, who curates labels, has it not).
CHANGE_RUNS = "training.change_trainingrun"


def _chart(chart: selectors.MetricChart) -> str:
    return svg.line_chart([f"step {s}" for s in chart.steps], chart.series, title=chart.title,
                          x_values=chart.steps, y_format=".3g")


def _live_context(run: TrainingRun, user: Any) -> dict[str, Any]:
    """What the run page's live part (training/_run_live.html) shows; the buttons only to whom
    may press them."""
    charts = selectors.run_metric_charts(run)
    may_change = user.has_perm(CHANGE_RUNS)
    return {
        "run": run, "live": run.status not in TrainingRun.FINISHED,
        "featured": [_chart(c) for c in charts.featured], "others": [_chart(c) for c in charts.others],
        "charts": charts, "heartbeat_age": selectors.run_heartbeat_age(run), "stale": selectors.run_is_stale(run),
        "log_tail": selectors.run_log_tail(run), "log_lines": selectors.LOG_TAIL_LINES,
        "final_rows": selectors.run_final_rows(run),
        "can_cancel": may_change and run.status not in TrainingRun.FINISHED and not run.cancel_requested,
        "can_retry": may_change and run.status in (TrainingRun.Status.FAILED, TrainingRun.Status.CANCELLED),
    }




@staff_only
def run_list(request: HttpRequest) -> HttpResponse:
    filters = {key: request.GET.get(key, "") for key in ("project", "kind", "status")}
    page = Paginator(selectors.runs_filtered(**filters), RUNS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "training/runs.html", {
        "page": page, "filters": filters, "query": query.urlencode(), "projects": selectors.run_projects(),
        "kinds": TrainingRun.Kind.choices, "statuses": TrainingRun.Status.choices,
    })


@staff_only
def run_page(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun, pk=pk)
    context = {**_live_context(run, request.user), "live_every": LIVE_EVERY_MS}
    return render(request, "training/run.html", context)


@staff_only
def run_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The run page's live part as an HTML fragment; X-Live-Done: 1 once the run has finished
    (the script stops polling)."""
    run = get_object_or_404(TrainingRun, pk=pk)
    response = render(request, "training/_run_live.html", _live_context(run, request.user))
    response["X-Live-Done"] = "0" if run.status not in TrainingRun.FINISHED else "1"
    response["Cache-Control"] = "no-store"
    return response


@staff_only
@require_POST
@permission_required(CHANGE_RUNS, raise_exception=True)
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun, pk=pk)
    if run.status in TrainingRun.FINISHED:  # run_cancel leaves it as it is; say so
        raise services.RunStateError(f"run {run.pk} is {run.status}: there is nothing to cancel")
    run = services.run_cancel(run=run)
    messages.success(request, f"Run {run.pk} cancelled." if run.status == TrainingRun.Status.CANCELLED
                     else f"Run {run.pk} stops at its next progress report.")
    return redirect("training:run", pk=run.pk)


@staff_only
@require_POST
@permission_required(CHANGE_RUNS, raise_exception=True)
def run_retry(request: HttpRequest, pk: int) -> HttpResponse:
    run = services.run_retry(run=get_object_or_404(TrainingRun, pk=pk))
    messages.success(request, f"Run {run.pk} is queued again; it resumes from its last checkpoint.")
    return redirect("training:run", pk=run.pk)
