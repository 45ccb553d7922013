"""Runners for `sft`, `ppo` and `generate` runs: a TrainingRun's life inside the worker. Each
reads its inputs from the run, trains or samples (training resumes from the newest checkpoint
when the run was redelivered), reports progress as the heartbeat and registers what it made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

from labeling.models import Project, Prompt
from policy.models import PolicyModel
from policy.services.generation import GeneratedSample, generated_samples_ingest
from policy.services.registry import policy_register
from rewards.models import RewardModel
from rewards.runner import Reporter, json_safe, run_output_dir
from training.artifacts import artifact_materialize, artifact_publish, run_key
from training.writable import artifact_dir_ready, artifact_writes

DEFAULT_SAVE_STEPS = 5


def _heartbeat_s() -> float:
    return max(0.2, min(10.0, settings.RUN_STALE_SECONDS / 4))


def _runtime(values: dict[str, Any], run) -> dict[str, Any]:
    values = {**values, "output_dir": str(run_output_dir(run.pk))}
    for name in ("init_adapter", "value_init_adapter"):  # storage keys (or older rows' paths): local copies
        if values.get(name):
            values[name] = str(artifact_materialize(values[name]))
    if not values.get("threads"):
        values["threads"] = settings.TORCH_THREADS
    return values


def project_prompts(ids: list[int]) -> list[Prompt]:
    by_id = {p.pk: p for p in Prompt.objects.filter(pk__in=ids)}
    return [by_id[i] for i in ids if i in by_id]


def prompt_input(prompt: Prompt) -> str | list[dict[str, str]]:
    """What the engine samples from: the chat turns, or the text."""
    return prompt.messages or prompt.text


def reward_callable(model: RewardModel):
    """Score plain texts with a registered reward model (offset-corrected, cached per process)."""
    from policy.engine.generate import prompt_plain_text
    from rewards.services.scoring import rewards_score

    def score(prompts: list, responses: list[str]) -> list[float]:
        return rewards_score(model=model, prompts=[prompt_plain_text(p) for p in prompts], responses=responses)

    return score


def ppo_runner(run, context, *, progress: bool = False) -> dict[str, Any]:
    from policy.engine import PPOConfig, train_ppo

    values = _runtime({"save_steps": DEFAULT_SAVE_STEPS, **run.config}, run)
    values["logging_steps"] = 1
    config = PPOConfig.from_dict(values)
    artifact_dir_ready(config.output_dir)  # a folder that cannot be written fails now, not after training
    inputs = run.inputs
    prompts = project_prompts(inputs["prompt_ids"])
    reward_model = RewardModel.objects.get(pk=inputs["reward_model"])
    heldout = RewardModel.objects.filter(pk=inputs.get("heldout_reward_model")).first()
    start = inputs.get("start_policy") or "none (fresh adapter)"
    context.log(f"ppo: {len(prompts)} prompts, reward model {reward_model.pk}, start policy {start}, "
                f"base {config.base_model}, {config.steps} steps")
    reporter = Reporter(context, config.steps, 1, _heartbeat_s())
    with artifact_writes(config.output_dir):
        result = train_ppo(config, [prompt_input(p) for p in prompts], reward_callable(reward_model),
                           heldout_reward_fn=reward_callable(heldout) if heldout else None,
                           resume=True, progress=progress, on_log=reporter)
    metrics = json_safe({**result.summary(), **{f"last_{k}": v for k, v in result.history[-1].items()}})
    key = artifact_publish(local_dir=config.output_dir, key=run_key(run.pk))  # before a row names it
    project = Project.objects.get(pk=inputs["project_id"])
    parent = PolicyModel.objects.filter(pk=inputs.get("start_policy")).first()
    model = policy_register(run=run, project=project, kind=PolicyModel.Kind.PPO, base_model=config.base_model,
                            adapter_path=key, metrics=metrics, parent=parent,
                            reward_model_id=reward_model.pk)
    metrics.update(policy_model=model.pk, activated=model.is_active)
    return {"metrics": metrics, "artifact_path": key}


def sft_runner(run, context, *, progress: bool = False) -> dict[str, Any]:
    from policy.engine import SFTConfig, read_sft_file, sft_planned_steps, train_sft

    values = _runtime({"save_steps": 50, **run.config}, run)
    config = SFTConfig.from_dict(values)
    artifact_dir_ready(config.output_dir)
    examples = read_sft_file(run.inputs["data_path"])
    total = sft_planned_steps(config, len(examples))
    context.log(f"sft: {len(examples)} examples, base {config.base_model}, {total} steps")
    reporter = Reporter(context, total, max(1, config.logging_steps), _heartbeat_s())
    config.logging_steps = 1
    with artifact_writes(config.output_dir):
        result = train_sft(config, examples, resume=True, progress=progress, on_log=reporter)
    metrics = json_safe({**(result.history[-1] if result.history else {}), "examples": len(examples)})
    key = artifact_publish(local_dir=config.output_dir, key=run_key(run.pk))
    project = Project.objects.get(pk=run.inputs["project_id"])
    model = policy_register(run=run, project=project, kind=PolicyModel.Kind.SFT, base_model=config.base_model,
                            adapter_path=key, metrics=metrics)
    metrics.update(policy_model=model.pk, activated=model.is_active)
    return {"metrics": metrics, "artifact_path": key}


def generate_runner(run, context, *, progress: bool = False) -> dict[str, Any]:
    from policy.engine import GenerationConfig, generate_completions, load_for_generation
    from training.torch_setup import setup_torch

    config = GenerationConfig.from_dict(run.config)
    inputs = run.inputs
    policies = [PolicyModel.objects.filter(pk=pk).first() if pk else None for pk in inputs["policies"]]
    prompts = project_prompts(inputs["prompt_ids"])
    setup_torch(settings.TORCH_THREADS)
    trained = list({p.pk: p for p in policies if p}.values())
    local = [str(artifact_materialize(p.adapter_path)) for p in trained]  # downloaded once per machine
    model, tokenizer, names = load_for_generation(inputs["base_model"], local)
    name_of = {p.pk: name for p, name in zip(trained, names, strict=False)}
    by_name = {name_of[p.pk]: p for p in trained}
    adapters = [name_of[p.pk] if p else None for p in policies]
    total = len(prompts) * inputs["k"] * len(policies)
    done = [0]
    context.log(f"generate: {len(prompts)} prompts x {inputs['k']} x {len(policies)} adapter(s) "
                f"({', '.join(p.version if p else 'base' for p in policies)})")

    def on_batch(count: int, _result) -> None:
        done[0] += count
        context.report(step=done[0], total_steps=total)

    completions = generate_completions(model, tokenizer, [prompt_input(p) for p in prompts], config,
                                       adapters=adapters, k=inputs["k"], on_batch=on_batch)
    samples = [GeneratedSample(prompt=prompts[c.prompt_index], version=by_name[c.adapter].version if c.adapter
                               else "base", k=c.k, text=c.text, seed=c.seed, ended=c.ended,
                               policy_id=by_name[c.adapter].pk if c.adapter else None) for c in completions]
    result, skipped = generated_samples_ingest(
        project=Project.objects.get(pk=inputs["project_id"]), batch=run.pk, samples=samples,
        base_model=inputs["base_model"], settings=config.to_dict())
    if skipped:
        context.log(f"skipped {len(skipped)} prompt(s) left with fewer than 2 samples: {skipped[:10]}")
    metrics = {**result.as_dict(), "duplicates": len(result.duplicates), "completions": len(completions),
               "empty": sum(1 for c in completions if not c.text.strip()), "skipped_prompts": len(skipped),
               "skipped_samples": sum(1 for s in samples if s.text.strip() and s.prompt.external_id in set(skipped)),
               "mean_tokens": sum(c.tokens for c in completions) / max(1, len(completions))}
    return {"metrics": metrics, "artifact_path": str(Path(inputs["base_model"]))}


RUNNERS = {"ppo": ppo_runner, "sft": sft_runner, "generate": generate_runner}
