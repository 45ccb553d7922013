import re

import pytest
from django.core.management import CommandError, call_command

from rewards.models import PreferenceDataset, RewardModel
from training.models import TrainingRun

from .conftest import learnable_project

pytestmark = pytest.mark.django_db
ARGS = ["--max-steps", "12", "--batch-size", "4", "--learning-rate", "0.02", "--precision", "fp32",
        "--max-length", "32", "--save-steps", "5", "--logging-steps", "4", "--no-progress"]
# These projects hold out a handful of comparisons: far below the default minimum for activation.
NO_MINIMUM = ["--min-heldout", "0"]


def test_project_mode_trains_here_registers_and_compares(project, annotators, tiny_gpt2_path, capsys):
    learnable_project(project, annotators, n_prompts=12)
    call_command("train_reward", "--project", project.slug, "--base-model", tiny_gpt2_path,
                 "--eval-fraction", "0.4", *NO_MINIMUM, *ARGS)
    out = capsys.readouterr().out
    assert re.search(r"held-out accuracy=\d\.\d{4} \(95% CI \d\.\d\d-\d\.\d\d, \d+ comparisons\)", out), out
    assert "(activated: no active model)" in out
    run = TrainingRun.objects.get()
    assert run.status == "succeeded" and run.kind == "reward" and run.attempts == 1
    assert run.final_metrics["eval_n"] > 0 and "eval_accuracy_by_agreement" in run.final_metrics
    assert [m["step"] for m in run.metrics] == [4, 8, 12] and run.step == run.total_steps == 12
    first = RewardModel.objects.get(run=run)
    assert first.is_active and first.dataset_id == run.inputs["dataset"]
    assert first.adapter_path == run.artifact_path and first.heldout_accuracy == run.final_metrics["eval_accuracy"]
    # a second run is compared with the first, re-evaluated for real on the new held-out split
    call_command("train_reward", "--project", project.slug, "--base-model", tiny_gpt2_path,
                 "--eval-fraction", "0.4", "--seed", "1", *NO_MINIMUM, *ARGS)
    second = RewardModel.objects.exclude(pk=first.pk).get()
    comparison = second.metrics["comparison"]
    assert second.parent == first and comparison["active_model"] == first.pk
    assert isinstance(comparison["active_accuracy"], float)
    assert second.is_active == (comparison["accuracy"] > comparison["active_accuracy"])
    # fine-tuning the active model: no base model given, its adapter is the start and the parent
    active = RewardModel.objects.get(is_active=True)
    call_command("train_reward", "--project", project.slug, "--from-active", "--eval-fraction", "0.4",
                 "--seed", "2", *NO_MINIMUM, *ARGS)
    third = RewardModel.objects.exclude(pk__in=[first.pk, second.pk]).get()
    assert third.parent == active and third.base_model == active.base_model
    assert third.run.config["init_adapter"] == active.adapter_path
    assert third.run.inputs["fine_tuned_from"] == active.pk
    datasets = PreferenceDataset.objects.count()
    with pytest.raises(CommandError, match="reads the reward with pooling 'last', not 'mean'"):
        call_command("train_reward", "--project", project.slug, "--from-active", "--pooling", "mean", *ARGS)
    assert PreferenceDataset.objects.count() == datasets  # refused before snapshotting


def test_queue_mode_enqueues_and_says_where_to_watch(project, annotators, tiny_gpt2_path, monkeypatch, capsys,
                                                     django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr("training.tasks.execute_run.delay", sent.append)
    learnable_project(project, annotators, n_prompts=4)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("train_reward", "--project", project.slug, "--base-model", tiny_gpt2_path, "--queue",
                     "--lora-r", "4")
    run = TrainingRun.objects.get()
    assert sent == [run.pk] and run.status == "queued" and run.config["lora_r"] == 4
    assert run.config["base_model"] == tiny_gpt2_path and "output_dir" not in run.config
    assert run.inputs["min_heldout"] == 50  # the default minimum, recorded for the worker
    out = capsys.readouterr().out
    assert f"queued training run {run.pk}" in out
    assert f"python manage.py show_run {run.pk} --follow" in out and f"/admin/training/trainingrun/{run.pk}/" in out
    call_command("show_run", str(run.pk))
    assert f"run {run.pk}: queued" in capsys.readouterr().out
    with pytest.raises(CommandError, match="no training run 999999"):
        call_command("show_run", "999999")


def test_below_the_minimum_of_heldout_comparisons_nothing_is_activated(project, annotators, tiny_gpt2_path, capsys):
    learnable_project(project, annotators, n_prompts=12)
    call_command("train_reward", "--project", project.slug, "--base-model", tiny_gpt2_path,
                 "--eval-fraction", "0.4", "--min-heldout", "1000", *ARGS)
    out = capsys.readouterr().out
    model = RewardModel.objects.get()
    n = model.metrics["comparison"]["heldout_n"]
    assert 0 < n < 1000 and not model.is_active and not RewardModel.objects.filter(is_active=True).exists()
    assert "rests on fewer than the 1000 held-out comparisons needed to activate automatically" in out
    assert "(not activated: held-out accuracy " in out and f"{n} comparisons" in out
    assert "fewer than the 1000" in model.note


def test_clear_errors(project, tiny_gpt2_path, monkeypatch):
    with pytest.raises(CommandError, match="no project 'nope'"):
        call_command("train_reward", "--project", "nope", "--base-model", tiny_gpt2_path)
    with pytest.raises(CommandError, match="no usable judgments"):
        call_command("train_reward", "--project", project.slug, "--base-model", tiny_gpt2_path)
    with pytest.raises(CommandError, match="has no active reward model to fine-tune"):
        call_command("train_reward", "--project", project.slug, "--from-active")
    with pytest.raises(CommandError, match="--out is required"):
        call_command("train_reward", "--pairs", "x.jsonl", "--base-model", tiny_gpt2_path)
    with pytest.raises(CommandError, match="--min-heldout must be 0 or more"):
        call_command("train_reward", "--project", project.slug, "--min-heldout", "-1")
    with pytest.raises(CommandError, match="base model folder /no/such/folder does not exist"):
        call_command("train_reward", "--project", project.slug, "--base-model", "/no/such/folder")
    # the offline default missing (never prepared): says how to prepare it
    monkeypatch.setattr("policy.services.models_prep.default_reward_base", lambda: "/nowhere/all-minilm-l6-v2")
    with pytest.raises(CommandError, match=r"offline default reward base /nowhere/all-minilm-l6-v2 is not prepared; "
                                           r"run `make setup`"):
        call_command("train_reward", "--project", project.slug)
    assert not PreferenceDataset.objects.exists()  # refused before snapshotting


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


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_hub_id_fails_within_seconds_naming_the_offline_default(project, annotators, monkeypatch,
                                                                           tmp_path):
    import time

    from policy.services.models_prep import default_reward_base

    learnable_project(project, annotators, n_prompts=4)
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"prompt": "q", "chosen": "good", "rejected": "bad"}\n')
    expected = (r"cannot load base model 'no-such-org/no-such-model': it is not in the local Hugging Face cache and "
                r"{why}\. Leave --base-model out to use the offline default " + re.escape(default_reward_base()))
    started = time.monotonic()
    # offline mode (the tests run with HF_HUB_OFFLINE=1)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CommandError, match=expected.format(why=r"offline mode is on \(HF_HUB_OFFLINE\)")):
        call_command("train_reward", "--project", project.slug, "--base-model", "no-such-org/no-such-model")
    # online mode, but the hub does not answer: one attempt, no retry loop
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    for source in (["--project", project.slug], ["--pairs", str(pairs), "--out", str(tmp_path / "out")]):
        with pytest.raises(CommandError, match=expected.format(why=r"the hub \(http://127\.0\.0\.1:\d+\) did not "
                                                                   r"answer within 3 s")):
            call_command("train_reward", *source, "--base-model", "no-such-org/no-such-model")
    assert time.monotonic() - started < 15
    assert not PreferenceDataset.objects.exists() and not (tmp_path / "out").exists()


def test_no_base_model_trains_on_the_offline_default(project, annotators, tmp_path, capfd):
    """Right after `make setup`: no --base-model, offline, in both modes (a few steps on all-MiniLM-L6-v2)."""
    from pathlib import Path

    from policy.services.models_prep import default_reward_base

    if not (Path(default_reward_base()) / "config.json").is_file():
        pytest.skip("the offline reward base is not prepared (make setup prepares it)")
    few = ["--max-steps", "2", "--batch-size", "4", "--max-length", "32", "--precision", "fp32", "--no-progress",
           "--reference-samples", "8"]
    learnable_project(project, annotators, n_prompts=8)
    call_command("train_reward", "--project", project.slug, "--eval-fraction", "0.4", *few)
    run = TrainingRun.objects.get()
    assert run.status == "succeeded" and run.config["base_model"] == default_reward_base()
    model = RewardModel.objects.get(run=run)
    assert model.base_model == default_reward_base() and not model.is_active  # a few held-out pairs: under 50
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(f'{{"prompt": "question {i}", "chosen": "a good kind answer", '
                             f'"rejected": "a rude wrong answer"}}\n' for i in range(12)))
    call_command("train_reward", "--pairs", str(pairs), "--out", str(tmp_path / "rm"), "--eval-fraction", "0.25",
                 *few)
    assert (tmp_path / "rm" / "adapter_model.safetensors").is_file()
    captured = capfd.readouterr()
    assert "held-out accuracy=" in captured.out and "(the offline default)" in captured.err
