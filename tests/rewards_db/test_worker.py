"""A reward run's life through a real Celery worker on Redis, and its recovery when the worker
is killed mid-run (SIGKILL): a second worker resumes it from its last checkpoint."""

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from rewards.engine.checkpoint import list_checkpoints
from rewards.models import RewardModel
from rewards.services.runs import reward_run_create
from rewards.services.snapshot import dataset_snapshot
from tests.celery_worker import start_worker, stop_worker
from training.artifacts import artifact_materialize
from training.models import TrainingRun

from .conftest import learnable_project

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]
CONFIG = {"batch_size": 4, "learning_rate": 0.02, "precision": "fp32", "max_length": 32, "device": "cpu"}
FAST_RECOVERY = {"PREFLAB_RUN_STALE_SECONDS": "2", "CELERY_VISIBILITY_TIMEOUT": "5"}


def _logs(*workers) -> str:
    return "\n".join(Path(w.log_path).read_text()[-3000:] for w in workers if w is not None)


def _wait(condition, what: str, *workers, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}; worker logs:\n{_logs(*workers)}")


def _finished(run_id: int) -> TrainingRun | None:
    run = TrainingRun.objects.get(pk=run_id)
    return run if run.status in TrainingRun.FINISHED else None


def _dataset(project, annotators):
    learnable_project(project, annotators, n_prompts=12)
    return dataset_snapshot(project=project, eval_fraction=0.4)


def test_run_life_through_a_real_worker(celery_broker, celery_worker, project, annotators, tiny_gpt2_path):
    dataset = _dataset(project, annotators)
    run = reward_run_create(dataset=dataset, base_model=tiny_gpt2_path, min_heldout=0,
                            config={**CONFIG, "max_steps": 40, "save_steps": 10, "logging_steps": 10})
    assert run.status == "queued"
    seen = ["queued"]

    def done():
        status = TrainingRun.objects.values_list("status", flat=True).get(pk=run.pk)
        if status != seen[-1]:
            seen.append(status)
        return status in TrainingRun.FINISHED

    _wait(done, "the run to finish", celery_worker)
    run.refresh_from_db()
    assert seen == ["queued", "running", "succeeded"], (seen, run.error)
    assert run.attempts == 1 and run.worker.startswith("test-") and run.step == run.total_steps == 40
    assert [m["step"] for m in run.metrics] == [10, 20, 30, 40] and "loss" in run.metrics[0]
    assert run.final_metrics["eval_n"] > 0 and 0 <= run.final_metrics["eval_accuracy"] <= 1
    model = RewardModel.objects.get(run=run)
    assert model.is_active and model.adapter_path == run.artifact_path and model.dataset == dataset
    assert model.adapter_path == f"runs/{run.pk}"  # a storage key, not this machine's path
    assert (artifact_materialize(model.adapter_path) / "adapter_model.safetensors").is_file()


def test_killed_worker_run_resumes_from_checkpoint(celery_broker, project, annotators, tiny_gpt2_path, tmp_path):
    dataset = _dataset(project, annotators)
    first = start_worker(tmp_path, extra_env=FAST_RECOVERY)
    second = None
    try:
        run = reward_run_create(dataset=dataset, base_model=tiny_gpt2_path, min_heldout=0,
                                config={**CONFIG, "max_steps": 300, "save_steps": 10, "logging_steps": 10})
        out = tmp_path / "artifacts" / "runs" / str(run.pk)
        _wait(lambda: list_checkpoints(out), "a checkpoint", first)
        first.kill()  # SIGKILL: no cleanup, the message stays unacknowledged
        first.wait()
        killed_at = TrainingRun.objects.get(pk=run.pk)
        assert killed_at.status == "running" and killed_at.step < 300, "the run finished before the kill"
        # The next worker to start requeues runs whose heartbeat is older than the stale limit (2 s
        # here); the killed worker's unacknowledged message also comes back, but kombu scans for
        # those only every ~100 s, so the restart is what resumes the run promptly.
        _wait(lambda: timezone.now() - TrainingRun.objects.get(pk=run.pk).heartbeat_at > timedelta(seconds=2.5),
              "the heartbeat to go stale", first)
        second = start_worker(tmp_path, extra_env=FAST_RECOVERY)
        run = _wait(lambda: _finished(run.pk), "the resumed run to finish", first, second)
    finally:
        stop_worker(first)
        if second is not None:
            stop_worker(second)
    assert run.status == "succeeded", run.error
    assert run.attempts >= 2 and run.step == 300
    resumed_from = run.final_metrics["resumed_from_step"]
    assert resumed_from >= 10 and resumed_from % 10 == 0
    assert f"resuming after step {resumed_from} of" in run.logs
    steps = [m["step"] for m in run.metrics]
    restart = next(i for i in range(1, len(steps)) if steps[i] <= steps[i - 1]) if steps != sorted(steps) else None
    if restart is not None:  # metrics logged after the last checkpoint were repeated, not the whole run
        assert steps[restart] == resumed_from + 10
    assert steps[-1] == 300 and steps.count(10) == 1  # step 10 was never trained twice
    assert RewardModel.objects.get(run=run).is_active
