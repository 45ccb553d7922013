"""What the policy commands share: the project lookup and how a run is queued or executed here."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError


def project_or_error(slug: str) -> Any:
    from labeling.models import Project

    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise CommandError(f"no project {slug!r}")
    return project


def report_run(command: BaseCommand, run, *, queue: bool, progress: bool, execute) -> Any:
    """Queue (print the id and where to watch) or execute here; CommandError on failure."""
    if queue:
        command.stdout.write(f"queued {run.kind} run {run.pk}; watch it at /admin/training/trainingrun/{run.pk}/ "
                             "(a worker on the gpu queue takes it)")
        return run
    run = execute(run=run, progress=progress)
    if run.status != "succeeded":
        raise CommandError(f"{run.kind} run {run.pk} {run.status}: {run.error[-2000:]}")
    command.stdout.write(f"{run.kind} run {run.pk} succeeded: {run.artifact_path}")
    return run
