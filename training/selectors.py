"""Reads of training runs: where to watch one, a short text summary of where it stands, and what the
staff pages show (filtered lists, metric series per chart, the log's tail)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from training.models import TrainingRun


def run_admin_path(run: TrainingRun) -> str:
    """The run's page in the admin (progress, metrics, logs, cancel)."""
    return reverse("admin:training_trainingrun_change", args=[run.pk])


def run_summary(run: TrainingRun, *, log_lines: int = 5) -> list[str]:
    """A few lines on a run: kind and status, progress, the last logged metrics, the log's tail, the
    error of a failed run, and the final metrics of a finished one."""
    lines = [f"{run.get_kind_display()} run {run.pk}: {run.status}"
             + (f", step {run.step} of {run.total_steps} ({run.progress:.0%})" if run.total_steps else "")
             + (f", attempt {run.attempts}" if run.attempts > 1 else "")
             + (f", worker {run.worker}" if run.worker else "")]
    if run.metrics:
        last = run.metrics[-1]
        lines.append("  last metrics: " + ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in last.items()))
    tail = [line for line in run.logs.splitlines() if line.strip()][-log_lines:] if log_lines else []
    lines += [f"  log: {line}" for line in tail]
    if run.status == TrainingRun.Status.FAILED and run.error:
        lines.append("  error: " + run.error.strip().splitlines()[0][:500])
    if run.status == TrainingRun.Status.SUCCEEDED:
        shown = {k: v for k, v in run.final_metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        lines.append("  final: " + ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(shown.items())))
        if run.artifact_path:
            lines.append(f"  artifacts: {run.artifact_path}")
    return lines


# -- the staff pages (training/views.py) --------------------------------------------------------

CHART_POINTS = 200
LOG_TAIL_LINES = 200
NOT_CHARTED = {"step", "total_steps"}
# Charts shown first, each with the series drawn together: a reward model's loss and accuracy;
# PPO's reward from the reward model it trains against beside a held-out reward model's (if the
# run has one: a gap between them is reward hacking), and its KL to the reference.
FEATURED_CHARTS = (
    ("Loss", ("loss",)),
    ("Accuracy", ("accuracy",)),
    ("Reward: training reward model and held-out reward model", ("reward_mean", "heldout_reward_mean")),
    ("KL to the reference policy", ("kl",)),
)
SERIES_NAMES = {"reward_mean": "training RM", "heldout_reward_mean": "held-out RM"}


@dataclass(frozen=True)
class MetricChart:
    title: str
    steps: list[int]
    series: dict[str, list[float | None]]  # name -> one value (None: not logged) per step


@dataclass(frozen=True)
class RunCharts:
    featured: list[MetricChart]
    others: list[MetricChart]
    logged: int  # steps with metrics
    shown: int  # of them drawn (at most CHART_POINTS)


def run_page_path(run: TrainingRun) -> str:
    """The run's staff page (progress, charts, log, cancel and retry), live while it runs."""
    return reverse("training:run", args=[run.pk])


def runs_filtered(*, project: str = "", kind: str = "", status: str = "") -> QuerySet[TrainingRun]:
    """Runs newest first, optionally of one project (every kind records its slug in inputs)."""
    runs = TrainingRun.objects.defer("logs", "metrics", "error", "config", "final_metrics")
    if project:
        runs = runs.filter(inputs__project=project)
    if kind:
        runs = runs.filter(kind=kind)
    if status:
        runs = runs.filter(status=status)
    return runs.order_by("-created_at", "-pk")


def run_projects() -> list[str]:
    """The project slugs runs name, for the list's filter."""
    return sorted({slug for slug in TrainingRun.objects.values_list("inputs__project", flat=True).distinct()
                   if isinstance(slug, str) and slug})


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def run_metric_charts(run: TrainingRun, *, max_points: int = CHART_POINTS) -> RunCharts:
    """Every numeric metric the run logged, over step: the FEATURED_CHARTS first, then one chart
    per other metric. A resumed run logs the steps after its checkpoint again; the newest row of a
    step wins. More than ``max_points`` steps are thinned evenly, keeping the last."""
    by_step: dict[int, dict] = {}
    for row in run.metrics or []:
        if isinstance(row, dict) and isinstance(row.get("step"), int) and not isinstance(row["step"], bool):
            by_step[row["step"]] = row
    rows = [by_step[step] for step in sorted(by_step)]
    logged = len(rows)
    if logged > max_points:
        stride = math.ceil(logged / max_points)
        rows = rows[::stride] + ([rows[-1]] if (logged - 1) % stride else [])
    steps = [row["step"] for row in rows]
    keys = sorted({key for row in rows for key, value in row.items()
                   if key not in NOT_CHARTED and _number(value) is not None})

    def chart(title: str, group: list[str]) -> MetricChart:
        return MetricChart(title, steps, {SERIES_NAMES.get(k, k): [_number(row.get(k)) for row in rows]
                                          for k in group})

    featured, used = [], set()
    for title, group in FEATURED_CHARTS:
        present = [key for key in group if key in keys]
        if present:
            featured.append(chart(title, present))
            used.update(present)
    return RunCharts(featured, [chart(key, [key]) for key in keys if key not in used], logged, len(rows))


def run_heartbeat_age(run: TrainingRun) -> float | None:
    """Seconds since the run's last sign of life, None before its first claim."""
    return (timezone.now() - run.heartbeat_at).total_seconds() if run.heartbeat_at else None


def run_is_stale(run: TrainingRun) -> bool:
    """Running without a heartbeat for RUN_STALE_SECONDS: its worker probably died (the sweeper
    will queue it again)."""
    age = run_heartbeat_age(run)
    return run.status == TrainingRun.Status.RUNNING and age is not None and age > settings.RUN_STALE_SECONDS


def run_log_tail(run: TrainingRun, *, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(run.logs.splitlines()[-lines:])


def run_final_rows(run: TrainingRun) -> list[tuple[str, str]]:
    """The final metrics as (name, text): numbers to 4 significant digits, the rest as JSON."""
    rows = []
    for key, value in sorted(run.final_metrics.items()):
        number = _number(value)
        if number is not None and not isinstance(value, int):
            rows.append((key, f"{number:.4g}"))
        else:
            rows.append((key, value if isinstance(value, str) else json.dumps(value, sort_keys=True)))
    return rows
