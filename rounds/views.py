"""Staff pages for RLHF rounds: each project's rounds with a button that starts the next one on
the workers, and one round with its six steps, their runs and the lineage (judgments -> dataset ->
reward model -> policy -> generation batch -> new samples), live while it runs, and retry.
Writes go through rounds.services as in the admin and the API: start = round_request, retry =
round_retry(advance=False) then the rounds.advance task; nothing trains in the request. A refusal
(RoundError: busy, not failed) goes to config.errors' one handler: a flash message on the page."""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from config.jobs import enqueue_on_commit
from labeling.http import require_POST, staff_only
from labeling.models import Project
from rounds import selectors
from rounds.models import Round
from rounds.services import round_lineage, round_request, round_retry

LIVE_EVERY_MS = 3000
# Any staff member may watch; starting and retrying rounds (GPU hours) needs what the admin asks
# to change a round (a reviewer, who curates labels, has it not).
CHANGE_ROUNDS = "rounds.change_round"
UNFINISHED = (Round.Status.RUNNING, Round.Status.WAITING)


def _round(slug: str, number: int) -> Round:
    project = get_object_or_404(Project, slug=slug)
    return get_object_or_404(selectors.rounds_of(project=project), number=number)


def _live_context(rnd: Round, user: Any) -> dict[str, Any]:
    return {"round": rnd, "project": rnd.project, "steps": selectors.round_steps(round=rnd),
            "lineage": round_lineage(round=rnd), "live": rnd.status in UNFINISHED,
            "can_retry": rnd.status == Round.Status.FAILED and user.has_perm(CHANGE_ROUNDS)}




@staff_only
def project_list(request: HttpRequest) -> HttpResponse:
    return render(request, "rounds/projects.html", {"rows": selectors.projects_with_rounds()})


@staff_only
def round_list(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_object_or_404(Project, slug=slug)
    rounds = list(selectors.rounds_of(project=project)[:100])
    busy = next((r for r in rounds if r.status in UNFINISHED), None)
    return render(request, "rounds/list.html", {"project": project, "rounds": rounds, "busy": busy})


@staff_only
@require_POST
@permission_required(CHANGE_ROUNDS, raise_exception=True)
def round_start(request: HttpRequest, slug: str) -> HttpResponse:
    """The next round, with the last round's settings (the defaults for a first), on the workers."""
    project = get_object_or_404(Project, slug=slug)
    rnd = round_request(project=project, trigger=Round.Trigger.ADMIN, created_by=request.user)
    messages.success(request, f"Round {rnd.number} is queued for the workers.")
    return redirect("rounds:round", slug=project.slug, number=rnd.number)


@staff_only
def round_page(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    context = {**_live_context(_round(slug, number), request.user), "live_every": LIVE_EVERY_MS}
    return render(request, "rounds/round.html", context)


@staff_only
def round_live(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """The round page's live part as an HTML fragment; X-Live-Done: 1 once the round has ended."""
    rnd = _round(slug, number)
    response = render(request, "rounds/_round_live.html", _live_context(rnd, request.user))
    response["X-Live-Done"] = "0" if rnd.status in UNFINISHED else "1"
    response["Cache-Control"] = "no-store"
    return response


@staff_only
@require_POST
@permission_required(CHANGE_ROUNDS, raise_exception=True)
def round_retry_view(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    rnd = round_retry(round=_round(slug, number), execute_here=False, advance=False)
    enqueue_on_commit("rounds.advance", rnd.pk)
    messages.success(request, f"Round {rnd.number} resumes at step {rnd.current_step!r} on the workers.")
    return redirect("rounds:round", slug=slug, number=rnd.number)
