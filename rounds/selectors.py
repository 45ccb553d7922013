"""Reads of RLHF rounds for the staff pages: a project's rounds, one round with its steps and
the objects of its lineage, and each project's latest round."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, QuerySet

from labeling.models import Project
from rounds.models import Round, RoundStep

LINEAGE_RELATED = ("project", "dataset", "reward_model__run", "policy__run", "policy__reward_model",
                   "generation_run", "created_by")


@dataclass(frozen=True)
class ProjectRounds:
    project: Project
    count: int
    latest: Round | None


def rounds_of(*, project: Project) -> QuerySet[Round]:
    """The project's rounds, newest first, with the objects of their lineage."""
    return Round.objects.filter(project=project).select_related(*LINEAGE_RELATED).order_by("-number")


def round_steps(*, round: Round) -> list[RoundStep]:  # noqa: A002 - the domain's word
    return list(round.steps.select_related("run").order_by("position"))


def projects_with_rounds() -> list[ProjectRounds]:
    """Every project with its round count and latest round (a few projects: one query each)."""
    projects = Project.objects.annotate(round_count=Count("rounds")).order_by("name")
    return [ProjectRounds(p, p.round_count, rounds_of(project=p).first() if p.round_count else None)
            for p in projects]
