"""Policy runs in this process: PPO registers an active policy (lineage: parent, reward model,
run), generation puts samples with provenance into the labeling queue, idempotently, and two
policy versions can be compared side by side. Plus the CLI's database forms and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from labeling.models import Sample, Task
from policy.models import PolicyModel
from policy.runner import generate_runner
from policy.services.runs import PolicyRunError, generation_run_create, policy_run_execute_here, ppo_run_create
from training.services import RunContext

PPO = {"steps": 2, "batch_size": 4, "mini_batch_size": 2, "max_new_tokens": 6, "precision": "fp32",
       "temperature": 1.0, "learning_rate": 1e-2, "device": "cpu"}
GEN = {"max_new_tokens": 6, "temperature": 1.0, "batch_size": 16}


def _ppo(project, tiny_lm):
    run = ppo_run_create(project=project, config={**PPO, "base_model": tiny_lm}, enqueue=False)
    return policy_run_execute_here(run=run, progress=False)


@pytest.mark.django_db
def test_ppo_run_registers_the_new_policy_with_its_lineage(project, prompts, reward_model, tiny_lm):
    first = _ppo(project, tiny_lm)
    assert first.status == "succeeded", first.error
    v1 = PolicyModel.objects.get(run=first)
    assert v1.is_active and v1.kind == "ppo" and v1.parent is None and v1.reward_model == reward_model
    assert v1.adapter_path == first.artifact_path and {"reward_first", "reward_last", "kl"} <= set(v1.metrics)
    assert first.inputs["prompt_ids"] == [p.pk for p in prompts]
    assert [m["step"] for m in first.metrics] == [1, 2] and "kl" in first.metrics[0]
    second = _ppo(project, tiny_lm)  # starts from the active policy, its value adapter included
    v2 = PolicyModel.objects.get(run=second)
    assert second.config["init_adapter"] == v1.adapter_path
    assert second.config["value_init_adapter"].endswith("/value")
    v1.refresh_from_db()
    assert v2.is_active and not v1.is_active and v2.parent == v1
    assert "activated by auto" in v2.note and f"policy {v2.pk} activated" in v1.note


@pytest.mark.django_db
def test_generation_enqueues_samples_with_provenance_idempotently(project, prompts, tiny_lm):
    run = generation_run_create(project=project, k=2, prompts="all", config={**GEN, "seed": 3},
                                base_model=tiny_lm, enqueue=False)
    run = policy_run_execute_here(run=run, progress=False)
    assert run.status == "succeeded", run.error
    samples = Sample.objects.filter(prompt__project=project)
    m = run.final_metrics
    assert m["completions"] == 2 * len(prompts) and samples.count() == m["samples_created"] > 0
    assert m["samples_created"] == m["completions"] - m["empty"] - m["skipped_samples"]
    sample = samples.first()
    assert sample.adapter == "base" and sample.model_name == Path(tiny_lm).name  # the base's folder name
    assert sample.generation["seed"] >= 3 and sample.generation["max_new_tokens"] == 6
    assert sample.metadata["generation_batch"] == run.pk
    assert sample.external_id.startswith(f"gen{run.pk}-p{sample.prompt_id}-base-k")
    # Pairwise project: each prompt with both samples got one task comparing them.
    assert Task.objects.filter(project=project).count() == len(prompts) - m["skipped_prompts"]
    # The same batch again (a redelivered message) adds nothing.
    again = generate_runner(run, RunContext(run.pk))
    assert again["metrics"]["samples_created"] == 0 and samples.count() == m["samples_created"]


@pytest.mark.django_db
def test_two_policy_versions_side_by_side(project, prompts, reward_model, tiny_lm):
    _ppo(project, tiny_lm)
    _ppo(project, tiny_lm)
    v2 = PolicyModel.objects.get(is_active=True)
    run = generation_run_create(project=project, k=1, prompts="fewest", limit=4, compare_previous=True,
                                config=GEN, enqueue=False)
    run = policy_run_execute_here(run=run, progress=False)
    assert run.status == "succeeded", run.error
    adapters = set(Sample.objects.filter(prompt__project=project).values_list("adapter", flat=True))
    assert adapters <= {v2.version, v2.parent.version} and len(adapters) == 2
    task = Task.objects.filter(project=project).first()
    assert {s.adapter for s in Sample.objects.filter(tasks=task)} == adapters


@pytest.mark.django_db
def test_run_requests_that_cannot_work_are_refused(project, prompts, tiny_lm):
    with pytest.raises(PolicyRunError, match="no active reward model"):
        ppo_run_create(project=project, config={"base_model": tiny_lm})
    with pytest.raises(PolicyRunError, match="compare_previous"):
        generation_run_create(project=project, compare_previous=True, base_model=tiny_lm)
    with pytest.raises(PolicyRunError, match="temperature"):
        generation_run_create(project=project, base_model=tiny_lm, config={"temperature": -1})
    with pytest.raises(PolicyRunError, match="not prepared|does not exist"):
        generation_run_create(project=project, base_model="/nonexistent/model")


@pytest.mark.django_db
def test_cli_database_forms(project, prompts, reward_model, tiny_lm, capsys):
    call_command("generate", "--project", project.slug, "--prompts", "3", "--k", "2", "--base-model", tiny_lm,
                 "--max-new-tokens", "4", "--no-progress")
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == "generated=6"
    call_command("train_policy", "--project", project.slug, "--steps", "1", "--batch-size", "4",
                 "--mini-batch-size", "2", "--max-new-tokens", "4", "--precision", "fp32", "--learning-rate",
                 "0.01", "--base-model", tiny_lm, "--no-progress")
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("steps=1 reward_first=") and " kl=" in last
    with pytest.raises(CommandError, match="no project"):
        call_command("train_policy", "--project", "nope")
    with pytest.raises(CommandError, match="number of prompts"):
        call_command("generate", "--project", project.slug, "--prompts", "many", "--k", "1")
