"""The project-training service that `train_reward --project` wraps, called directly as an RLHF
round calls it: no command, no CommandError."""

import pytest

from rewards.models import PreferenceDataset, RewardModel
from rewards.services.project_training import (
    ProjectTrainingError,
    project_for_training,
    project_training_start,
)
from training.models import TrainingRun

from .conftest import learnable_project

pytestmark = pytest.mark.django_db


def test_start_snapshots_the_clean_labels_and_queues_a_run(project, annotators, tiny_gpt2_path, monkeypatch,
                                                           django_capture_on_commit_callbacks):
    sent, said = [], []
    monkeypatch.setattr("training.tasks.execute_run.delay", sent.append)
    learnable_project(project, annotators, n_prompts=4)
    with django_capture_on_commit_callbacks(execute=True):
        started = project_training_start(project=project_for_training(slug=project.slug), base_model=tiny_gpt2_path,
                                         config={"lora_r": 4}, min_heldout=3, eval_fraction=0.25, seed=7,
                                         report=said.append)
    run = TrainingRun.objects.get()
    assert started.run == run and sent == [run.pk] and run.status == "queued"
    assert started.dataset == PreferenceDataset.objects.get() and started.dataset.seed == 7
    assert started.dataset.eval_fraction == 0.25 and run.inputs["dataset"] == started.dataset.pk
    assert run.config["lora_r"] == 4 and run.inputs["min_heldout"] == 3 and started.parent is None
    assert started.base_model == tiny_gpt2_path == run.config["base_model"]
    assert said[-1].startswith(f"dataset {started.dataset.pk} (")  # progress lines go to the caller


def test_fine_tuning_the_active_model_makes_it_the_parent(project, annotators, reward_model, tiny_gpt2_path):
    learnable_project(project, annotators, n_prompts=4)
    started = project_training_start(project=project, from_active=True, enqueue=False)
    assert started.parent == reward_model and started.base_model == reward_model.base_model
    assert started.run.status == "queued" and started.run.config["init_adapter"] == reward_model.adapter_path
    assert started.run.inputs["fine_tuned_from"] == reward_model.pk


def test_refusals_name_the_problem_and_leave_nothing(project, annotators, tiny_gpt2_path):
    with pytest.raises(ProjectTrainingError, match="no project 'nope'"):
        project_for_training(slug="nope")
    with pytest.raises(ProjectTrainingError, match="no usable judgments"):
        project_training_start(project=project, base_model=tiny_gpt2_path)
    learnable_project(project, annotators, n_prompts=4)
    with pytest.raises(ProjectTrainingError, match="has no active reward model to fine-tune"):
        project_training_start(project=project, from_active=True)
    with pytest.raises(ProjectTrainingError, match="min_heldout must be 0 or more"):
        project_training_start(project=project, base_model=tiny_gpt2_path, min_heldout=-1)
    with pytest.raises(ProjectTrainingError, match="bad training settings: pooling must be one of"):
        project_training_start(project=project, base_model=tiny_gpt2_path, config={"pooling": "median"})
    with pytest.raises(ProjectTrainingError, match="base model folder /no/such/folder does not exist"):
        project_training_start(project=project, base_model="/no/such/folder")
    assert not PreferenceDataset.objects.exists() and not TrainingRun.objects.exists()
    assert not RewardModel.objects.exists()
