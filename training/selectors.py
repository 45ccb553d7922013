"""Reads of training runs: where to watch one, and a short text summary of where it stands."""

from __future__ import annotations

from django.urls import reverse

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
