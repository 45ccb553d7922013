"""Reads for quality: annotator status (used by assignment and exports) and the review pages."""

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Q, QuerySet

from labeling.models import Judgment, Project
from labeling.quality.models import AnnotatorStats, AnnotatorStatus, AuditLog, QualitySnapshot, QualityState

SORTS = {
    "reliability": lambda s: s.informativeness,
    "speed": lambda s: s.median_seconds,
    "gold": lambda s: s.gold_accuracy,
    "bias": lambda s: annotator_bias(s),
    "spam": lambda s: s.spammer_score,
    "n": lambda s: s.n_judgments,
}
QUEUES = ("pending", "overridden", "all")


def annotator_status_of(*, project: Project, annotator: AbstractBaseUser) -> str:
    found = AnnotatorStatus.objects.filter(project=project, annotator=annotator).values_list("status", flat=True)
    return found.first() or AnnotatorStatus.Status.ACTIVE


def banned_annotator_ids(*, project: Project) -> set[int]:
    return set(
        AnnotatorStatus.objects.filter(project=project, status=AnnotatorStatus.Status.BANNED)
        .values_list("annotator_id", flat=True)
    )


def annotator_bias(stats: AnnotatorStats) -> float:
    """The larger of the position and length effects (distance from the expected share)."""
    parts = [abs(stats.left_rate - 0.5) if stats.left_rate is not None else 0.0]
    if stats.longer_rate is not None:
        parts.append(abs(stats.longer_rate - 0.5))
    return max(parts)


def review_projects() -> list[dict[str, Any]]:
    rows = []
    for project in Project.objects.order_by("slug"):
        last = QualitySnapshot.objects.filter(project=project).order_by("-computed_at", "-pk").first()
        rows.append({"project": project, "snapshot": last})
    return rows


def quality_state_of(*, project: Project) -> QualityState | None:
    return QualityState.objects.filter(project=project).first()


def snapshots_of(*, project: Project, limit: int = 200) -> list[QualitySnapshot]:
    recent = QualitySnapshot.objects.filter(project=project).order_by("-computed_at", "-pk")[:limit]
    return list(reversed(recent))


def response_seconds(*, project: Project, limit: int = 20000) -> list[float]:
    """Response times of the latest live judgments, in seconds."""
    ms = (
        Judgment.objects.filter(task__project=project, withdrawn_at__isnull=True)
        .order_by("-pk").values_list("response_ms", flat=True)[:limit]
    )
    return [value / 1000.0 for value in ms]


def annotator_table(*, project: Project, sort: str = "reliability", descending: bool = False) -> list[dict[str, Any]]:
    """Every annotator with stats or a status, sorted (unknown values last)."""
    stats = {s.annotator_id: s for s in AnnotatorStats.objects.filter(project=project)}
    statuses = {s.annotator_id: s for s in AnnotatorStatus.objects.filter(project=project)}
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=set(stats) | set(statuses))}
    key = SORTS.get(sort, SORTS["reliability"])
    rows = [
        {"user": users[pk], "stats": stats.get(pk), "status": statuses[pk].status if pk in statuses else "active"}
        for pk in users
    ]

    def order(row: dict[str, Any]) -> tuple:
        value = key(row["stats"]) if row["stats"] is not None else None
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return (1, 0.0, row["user"].get_username())
        return (0, -value if descending else value, row["user"].get_username())

    return sorted(rows, key=order)


def annotator_judgments(*, project: Project, annotator_id: int, limit: int = 500) -> QuerySet[Judgment]:
    return (
        Judgment.objects.filter(task__project=project, annotator_id=annotator_id)
        .select_related("task__prompt")
        .order_by("-created_at", "-pk")[:limit]
    )


def flagged_queue(*, project: Project, queue: str = "pending", limit: int = 300) -> QuerySet[Judgment]:
    """pending: left out by a filter and not yet reviewed; overridden: decided by hand; all: both."""
    live = Judgment.objects.filter(task__project=project, withdrawn_at__isnull=True)
    if queue == "pending":
        live = live.filter(included=False, override="")
    elif queue == "overridden":
        live = live.exclude(override="")
    else:
        live = live.filter(Q(included=False) | ~Q(override=""))
    return live.select_related("annotator", "task__prompt").order_by("-created_at", "-pk")[:limit]


def audit_entries(*, project: Project, limit: int = 500) -> QuerySet[AuditLog]:
    return AuditLog.objects.filter(project=project).select_related("actor").order_by("-created_at", "-pk")[:limit]


@dataclass(frozen=True)
class QualitySummary:
    """Where a project's label quality stands after the last pass."""

    judgments: int  # live (not withdrawn)
    kept: int
    excluded: int
    excluded_by: dict[str, int] = field(default_factory=dict)  # filter (or "reviewer") -> judgments
    annotators: int = 0
    flagged: list[tuple[str, list[str]]] = field(default_factory=list)  # (username, reasons)
    computed_at: datetime | None = None

    def lines(self) -> list[str]:
        why = ", ".join(f"{name} {n}" for name, n in sorted(self.excluded_by.items(), key=lambda kv: -kv[1]))
        out = [f"judgments: {self.judgments} live, {self.kept} kept, {self.excluded} excluded"
               + (f" (by filter: {why})" if why else "")]
        out.append(f"annotators: {self.annotators}, {len(self.flagged)} flagged")
        out += [f"  flagged {name}: {'; '.join(reasons)}" for name, reasons in self.flagged]
        return out


def quality_summary(*, project: Project) -> QualitySummary:
    """Kept and excluded live judgments (and which filters excluded them; one judgment can trip
    several), and the flagged annotators with their reasons, as the last pass left them."""
    live = Judgment.objects.filter(task__project=project, withdrawn_at__isnull=True)
    counts = live.aggregate(n=Count("pk"), kept=Count("pk", filter=Q(included=True)))
    excluded_by: Counter = Counter()
    for reasons, override in live.filter(included=False).values_list("quality_reasons", "override").iterator(
        chunk_size=2000
    ):
        if override == "exclude":
            excluded_by["reviewer"] += 1
        for name in {r.get("filter") for r in reasons or [] if isinstance(r, dict)}:
            excluded_by[str(name)] += 1
    stats = AnnotatorStats.objects.filter(project=project).select_related("annotator").order_by("annotator__username")
    flagged = [(row.annotator.get_username(), [f"{r.get('filter')}: {r.get('detail')}" for r in row.reasons or []])
               for row in stats if row.flagged]
    state = QualityState.objects.filter(project=project).values_list("computed_at", flat=True).first()
    return QualitySummary(counts["n"], counts["kept"], counts["n"] - counts["kept"], dict(excluded_by),
                          stats.count(), flagged, state)
