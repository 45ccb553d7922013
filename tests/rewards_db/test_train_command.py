import pytest
from django.core.management import CommandError, call_command

from rewards.models import PreferenceDataset, RewardModel
from training.models import TrainingRun

from .conftest import learnable_project

pytestmark = pytest.mark.django_db
ARGS = ["--max-steps", "12", "--batch-size", "4", "--learning-rate", "0.02", "--precision", "fp32",
        "--max-length", "32", "--save-steps", "5", "--logging-steps", "4", "--no-progress"]


def test_project_mode_trains_here_registers_and_compares(project, annotators, tiny_gpt2_path, capsys):
    learnable_project(project, annotators, n_prompts=12)
    call_command("train_reward", "--project", project.slug, "--base-model", tiny_gpt2_path,
                 "--eval-fraction", "0.4", *ARGS)
    out = capsys.readouterr().out
    assert "held-out accuracy=" in out and "activated" in out
    run = TrainingRun.objects.get()
    assert run.status == "succeeded" and run.kind == "reward" and run.attempts == 1
    assert run.final_metrics["eval_n"] > 0 and "eval_accuracy_by_agreement" in run.final_metrics
    assert [m["step"] for m in run.metrics] == [4, 8, 12] and run.step == run.total_steps == 12
    first = RewardModel.objects.get(run=run)
    assert first.is_active and first.dataset_id == run.inputs["dataset"]
    assert first.adapter_path == run.artifact_path and first.heldout_accuracy == run.final_metrics["eval_accuracy"]
    # a second run is compared with the first, re-evaluated for real on the new held-out split
    call_command("train_reward", "--project", project.slug, "--base-model", tiny_gpt2_path,
                 "--eval-fraction", "0.4", "--seed", "1", *ARGS)
    second = RewardModel.objects.exclude(pk=first.pk).get()
    comparison = second.metrics["comparison"]
    assert second.parent == first and comparison["active_model"] == first.pk
    assert isinstance(comparison["active_accuracy"], float)
    assert second.is_active == (comparison["accuracy"] > comparison["active_accuracy"])
    # fine-tuning the active model: no base model given, its adapter is the start and the parent
    active = RewardModel.objects.get(is_active=True)
    call_command("train_reward", "--project", project.slug, "--from-active", "--eval-fraction", "0.4",
                 "--seed", "2", *ARGS)
    third = RewardModel.objects.exclude(pk__in=[first.pk, second.pk]).get()
    assert third.parent == active and third.base_model == active.base_model
    assert third.run.config["init_adapter"] == active.adapter_path
    assert third.run.inputs["fine_tuned_from"] == active.pk
    datasets = PreferenceDataset.objects.count()
    with pytest.raises(CommandError, match="reads the reward with pooling 'last', not 'mean'"):
        call_command("train_reward", "--project", project.slug, "--from-active", "--pooling", "mean", *ARGS)
    assert PreferenceDataset.objects.count() == datasets  # refused before snapshotting


def test_queue_mode_enqueues(project, annotators, tiny_gpt2_path, monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr("training.tasks.execute_run.delay", sent.append)
    learnable_project(project, annotators, n_prompts=4)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("train_reward", "--project", project.slug, "--base-model", tiny_gpt2_path, "--queue",
                     "--lora-r", "4")
    run = TrainingRun.objects.get()
    assert sent == [run.pk] and run.status == "queued" and run.config["lora_r"] == 4
    assert run.config["base_model"] == tiny_gpt2_path and "output_dir" not in run.config


def test_clear_errors(project, tiny_gpt2_path):
    with pytest.raises(CommandError, match="no project 'nope'"):
        call_command("train_reward", "--project", "nope", "--base-model", tiny_gpt2_path)
    with pytest.raises(CommandError, match="no usable judgments"):
        call_command("train_reward", "--project", project.slug, "--base-model", tiny_gpt2_path)
    with pytest.raises(CommandError, match="has no active reward model to fine-tune"):
        call_command("train_reward", "--project", project.slug, "--from-active")
    with pytest.raises(CommandError, match="--base-model is required"):
        call_command("train_reward", "--project", project.slug)
    with pytest.raises(CommandError, match="--out is required"):
        call_command("train_reward", "--pairs", "x.jsonl", "--base-model", tiny_gpt2_path)


def test_cancel_stops_the_runner_at_its_next_report(project, annotators, tiny_gpt2_path):
    from rewards.runner import reward_runner
    from rewards.services.runs import reward_run_create
    from rewards.services.snapshot import dataset_snapshot
    from training.services import RunCancelled, RunContext, run_cancel, run_claim

    learnable_project(project, annotators, n_prompts=4)
    dataset = dataset_snapshot(project=project, eval_fraction=0.0)
    run = reward_run_create(dataset=dataset, base_model=tiny_gpt2_path, enqueue=False,
                            config={"max_steps": 50, "batch_size": 2, "precision": "fp32"})
    claimed = run_claim(run_id=run.pk)
    run_cancel(run=claimed)
    with pytest.raises(RunCancelled):
        reward_runner(claimed, RunContext(run.pk))
    claimed.refresh_from_db()
    assert claimed.step == 10 and not RewardModel.objects.exists()  # stopped at the first report
