"""Policy runs through a real Celery worker on Redis: generation writes samples with provenance
and creates tasks; a PPO run whose worker is killed (SIGKILL) resumes from its checkpoint."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Sample, Task
from policy.engine.checkpoint import list_checkpoints
from policy.models import PolicyModel
from policy.services.runs import generation_run_create, ppo_run_create
from tests.celery_worker import start_worker, stop_worker, wait_for
from training.models import TrainingRun

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]
FAST_RECOVERY = {"PREFLAB_RUN_STALE_SECONDS": "2", "CELERY_VISIBILITY_TIMEOUT": "5"}


_wait = wait_for


def _finished(run_id: int) -> TrainingRun | None:
    run = TrainingRun.objects.get(pk=run_id)
    return run if run.status in TrainingRun.FINISHED else None


def test_generation_through_a_real_worker(celery_broker, celery_worker, project, prompts, tiny_lm):
    run = generation_run_create(project=project, k=2, prompts="all", base_model=tiny_lm,
                                config={"max_new_tokens": 6, "temperature": 1.0, "seed": 1})
    assert run.status == "queued"
    run = _wait(lambda: _finished(run.pk), "the generation run", celery_worker)
    assert run.status == "succeeded", run.error
    assert run.worker.startswith("test-") and run.step == run.total_steps == 2 * len(prompts)
    samples = Sample.objects.filter(prompt__project=project)
    assert samples.count() == run.final_metrics["samples_created"] > 0
    assert all(s.adapter == "base" and s.metadata["generation_batch"] == run.pk and "seed" in s.generation
               for s in samples)
    assert Task.objects.filter(project=project).count() == run.final_metrics["tasks_created"] > 0


def test_killed_worker_ppo_run_resumes_from_checkpoint(celery_broker, project, prompts, reward_model, tiny_lm,
                                                       tmp_path):
    first = start_worker(tmp_path, extra_env=FAST_RECOVERY)
    second = None
    try:
        run = ppo_run_create(project=project, config={
            "base_model": tiny_lm, "steps": 60, "save_steps": 2, "batch_size": 4, "mini_batch_size": 2,
            "max_new_tokens": 6, "precision": "fp32", "temperature": 1.0, "learning_rate": 1e-2, "device": "cpu"})
        out = tmp_path / "artifacts" / "runs" / str(run.pk)
        _wait(lambda: list_checkpoints(out), "a checkpoint", first)
        first.kill()
        first.wait()
        killed_at = TrainingRun.objects.get(pk=run.pk)
        assert killed_at.status == "running" and killed_at.step < 60, "the run finished before the kill"
        _wait(lambda: timezone.now() - TrainingRun.objects.get(pk=run.pk).heartbeat_at > timedelta(seconds=2.5),
              "the heartbeat to go stale", first)
        second = start_worker(tmp_path, extra_env=FAST_RECOVERY)
        run = _wait(lambda: _finished(run.pk), "the resumed run", first, second)
    finally:
        stop_worker(first)
        if second is not None:
            stop_worker(second)
    assert run.status == "succeeded", run.error
    assert run.attempts >= 2 and run.step == 60
    assert "resuming (attempt 2)" in run.logs
    steps = [m["step"] for m in run.metrics]
    restarts = [steps[i] - 1 for i in range(1, len(steps)) if steps[i] <= steps[i - 1]]
    assert all(r % 2 == 0 for r in restarts)  # steps after the last checkpoint are redone, no others
    assert steps[-1] == 60 and set(range(3, 61)) <= set(steps)
    assert PolicyModel.objects.get(run=run).is_active
