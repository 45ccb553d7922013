"""A training run whose artifact folder cannot be written fails with a message naming the
folder, and activates nothing: the model that was active stays the only active one.

Simulated, since these tests may run as root (which writes through read-only modes): the run's
folder is a file; a part of its path is a file; the disk fills up at the final save (a file the
save writes is a link to /dev/full, whose every write fails with ENOSPC). A read-only folder is
tested too when not root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings

from labeling.models import Prompt
from policy.models import PolicyModel
from policy.runner import ppo_runner
from rewards.models import PreferenceDataset, RewardModel
from rewards.runner import reward_runner, run_output_dir
from rewards.services.project_training import ProjectTrainingError, project_training_start
from tests.policy.conftest import PROMPTS
from tests.rewards_db.conftest import learnable_project
from training.models import TrainingRun
from training.services import run_execute
from training.writable import ArtifactWriteError, artifact_dir_ready

pytestmark = pytest.mark.django_db

REWARD = {"batch_size": 4, "learning_rate": 0.02, "precision": "fp32", "max_length": 32, "device": "cpu",
          "max_steps": 4}
PPO = {"steps": 2, "batch_size": 4, "mini_batch_size": 2, "max_new_tokens": 6, "precision": "fp32",
       "temperature": 1.0, "learning_rate": 1e-2, "device": "cpu"}


@pytest.fixture(autouse=True)
def _artifacts(settings, tmp_path):
    settings.ARTIFACT_DIR = tmp_path / "artifacts"
    settings.TORCH_THREADS = 1


@pytest.fixture
def active_reward_model(project, tiny_gpt2_path, tmp_path):
    """An active model on the same base, so the new run would replace it if it registered."""
    from rewards.engine import RewardConfig, build_reward_model, save_reward_model

    folder = tmp_path / "old-rm"
    config = RewardConfig(base_model=tiny_gpt2_path, output_dir=str(folder), max_length=32, seed=1)
    model, tokenizer = build_reward_model(config)
    save_reward_model(model, tokenizer, folder, config=config)
    return RewardModel.objects.create(name="old", project=project, base_model=tiny_gpt2_path,
                                      adapter_path=str(folder), heldout_accuracy=0.0, is_active=True)


def reward_run(project, annotators, tiny_gpt2_path) -> TrainingRun:
    learnable_project(project, annotators, n_prompts=8)
    return project_training_start(project=project, base_model=tiny_gpt2_path, config=REWARD, min_heldout=0,
                                  eval_fraction=0.25, enqueue=False).run


def assert_failed_naming(run: TrainingRun, folder: Path, *words: str) -> str:
    run.refresh_from_db()
    assert run.status == "failed", (run.status, run.error)
    first_line = run.error.splitlines()[0]
    assert first_line.startswith(f"cannot write the run's artifacts to {folder}: "), first_line
    assert "nothing was registered or activated" in first_line
    for word in words:
        assert word in first_line, first_line
    return first_line


def test_a_run_folder_that_is_a_file_fails_before_training(project, annotators, tiny_gpt2_path, active_reward_model):
    run = reward_run(project, annotators, tiny_gpt2_path)
    folder = run_output_dir(run.pk)
    folder.parent.mkdir(parents=True)
    folder.write_text("in the way")
    run_execute(run_id=run.pk, runner=reward_runner)
    assert_failed_naming(run, folder, "that path is a file, not a folder")
    assert run.step == 0 and run.metrics == []  # failed at once: no training spent on it
    assert list(RewardModel.objects.values_list("pk", "is_active")) == [(active_reward_model.pk, True)]


def test_an_artifact_dir_under_a_file_fails_naming_it(project, annotators, tiny_gpt2_path, active_reward_model,
                                                      tmp_path):
    run = reward_run(project, annotators, tiny_gpt2_path)  # snapshot written; then the folder goes bad
    (tmp_path / "not-a-dir").write_text("a file")
    settings.ARTIFACT_DIR = tmp_path / "not-a-dir" / "artifacts"
    run_execute(run_id=run.pk, runner=reward_runner)
    assert_failed_naming(run, run_output_dir(run.pk), "is a file, not a folder")
    assert list(RewardModel.objects.values_list("pk", "is_active")) == [(active_reward_model.pk, True)]


def test_a_snapshot_that_cannot_be_written_is_refused_naming_the_folder(project, annotators, tiny_gpt2_path,
                                                                        tmp_path):
    learnable_project(project, annotators, n_prompts=8)
    (tmp_path / "not-a-dir").write_text("a file")
    settings.ARTIFACT_DIR = tmp_path / "not-a-dir" / "artifacts"
    folder = settings.ARTIFACT_DIR / "datasets"
    with pytest.raises(ProjectTrainingError, match=f"^cannot write the dataset snapshot to {folder}: a part of .* "
                                                   "is a file, not a folder; no dataset was recorded$"):
        project_training_start(project=project, base_model=tiny_gpt2_path, config=REWARD, enqueue=False)
    assert not PreferenceDataset.objects.exists() and not TrainingRun.objects.exists()


def test_a_full_disk_at_the_final_save_registers_nothing(project, annotators, tiny_gpt2_path, active_reward_model):
    run = reward_run(project, annotators, tiny_gpt2_path)
    folder = run_output_dir(run.pk)
    folder.mkdir(parents=True)
    (folder / "reward_config.json").symlink_to("/dev/full")  # the last file the save writes: ENOSPC
    run_execute(run_id=run.pk, runner=reward_runner)
    assert_failed_naming(run, folder, "No space left on device")
    assert run.step == 4  # it trained, and failed at the save
    assert list(RewardModel.objects.values_list("pk", "is_active")) == [(active_reward_model.pk, True)]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_read_only_artifact_dir_fails_naming_the_folder(project, annotators, tiny_gpt2_path, active_reward_model,
                                                          tmp_path):
    settings.ARTIFACT_DIR.mkdir(parents=True)
    settings.ARTIFACT_DIR.chmod(0o555)
    try:
        run = reward_run(project, annotators, tiny_gpt2_path)
        run_execute(run_id=run.pk, runner=reward_runner)
        assert_failed_naming(run, run_output_dir(run.pk), "Permission denied")
    finally:
        settings.ARTIFACT_DIR.chmod(0o755)
    assert RewardModel.objects.filter(is_active=True).get() == active_reward_model


def test_the_check_writes_and_removes_a_probe(tmp_path):
    folder = artifact_dir_ready(tmp_path / "a" / "b")
    assert folder.is_dir() and list(folder.iterdir()) == []
    (tmp_path / "f").write_text("x")
    with pytest.raises(ArtifactWriteError, match=f"to {tmp_path / 'f'}: that path is a file"):
        artifact_dir_ready(tmp_path / "f")


@pytest.fixture
def policy_project(project, tiny_reward_folder, tiny_lm):
    """Prompts, an active reward model and an active policy (what PPO would replace)."""
    from rewards.engine.model import read_meta

    for i, text in enumerate(PROMPTS[:4]):
        Prompt.objects.create(project=project, external_id=f"q{i}", text=text)
    RewardModel.objects.create(name="rm", project=project, base_model=read_meta(tiny_reward_folder)["base_model"],
                               adapter_path=tiny_reward_folder, is_active=True)
    return project


@pytest.mark.parametrize("fault", ["folder is a file", "disk full at the final save"])
def test_a_ppo_run_that_cannot_write_activates_no_policy(policy_project, tiny_lm, fault):
    from policy.services.runs import ppo_run_create

    run = ppo_run_create(project=policy_project, config={**PPO, "base_model": tiny_lm}, enqueue=False)
    folder = run_output_dir(run.pk)
    if fault == "folder is a file":
        folder.parent.mkdir(parents=True)
        folder.write_text("in the way")
        expected = "that path is a file, not a folder"
    else:
        folder.mkdir(parents=True)
        (folder / "policy_config.json").symlink_to("/dev/full")
        expected = "No space left on device"
    run_execute(run_id=run.pk, runner=ppo_runner)
    assert_failed_naming(run, folder, expected)
    assert not PolicyModel.objects.exists()
