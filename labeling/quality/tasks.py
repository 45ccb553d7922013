"""Celery tasks of label quality: thin wrappers that take ids and call one service. Registered at
start-up by LabelingConfig.ready (Celery's autodiscovery looks only at labeling/tasks.py)."""

from celery import shared_task

from labeling.quality.services import quality_recompute


@shared_task(name="labeling.recompute_quality", ignore_result=True)
def recompute_quality(project_id: int, force: bool = False) -> dict:
    """Recompute a project's quality decisions and statistics (skipped when nothing changed)."""
    result = quality_recompute(project_id=project_id, force=force)
    return {"skipped": result.skipped, "judgments": result.judgments, "changed": result.changed}
