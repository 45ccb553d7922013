"""The loop demo (``manage.py demo_loop``): a demo project fed with the prompts shipped in
``rounds/demo_prompts.json``, samples of the base policy (round 0), a simulated crowd judging
through the crowd service, and R RLHF rounds through the rounds service, each reported.

Everything here reuses the product's paths:
- prompts and round-0 samples go in through labeling's ingestion service (``items_ingest``);
- the simulated annotators read the open tasks with the crowd API's selectors and post their
  judgments with ``crowd.services.judgments.judgments_record``, the service the API's
  ``POST /api/v1/projects/{slug}/judgments/`` view calls (in-process, no HTTP), so they are
  quality-checked like any crowd's;
- each round is ``rounds.services.round_start(execute_here=True)``: its runs execute in this
  process; the settings below go through the round's config.

Every fourth shipped prompt is held out: never pushed to the project, only used to measure the
simulated crowd's win rate of the newest policy against the round-0 (base) policy. Nothing is
locked: people can label the same project in the browser meanwhile (their leases count against
the tasks' quotas, and the crowd service refuses rows past them; the simulation re-reads)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labeling.models import Judgment, Project, Prompt, Sample

PROMPTS_FILE = Path(__file__).with_name("demo_prompts.json")
DEMO_SLUG = "loop-demo"
HOLDOUT_EVERY = 4  # every fourth prompt is held out for evaluation
INSTRUCTIONS = "Pick the better answer. (Simulated annotators in this demo prefer the more concise one.)"

# Small enough for a 2-core CPU (a round in about 5 minutes), laid over rounds.services.DEFAULTS.
# Answers of up to 64 tokens, because SmolLM2 rarely ends within 32: with every answer cut at the
# cap, "more concise" has nothing to choose between. PPO normalises each step's scores (the reward
# model's scale changes from round to round) and takes 10 steps at a LoRA-sized learning rate.
DEMO_ROUND_CONFIG: dict[str, dict[str, Any]] = {
    "reward": {"min_heldout": 0, "eval_fraction": 0.2, "config": {"max_length": 128}},
    "ppo": {"config": {"steps": 10, "batch_size": 8, "mini_batch_size": 4, "max_new_tokens": 64,
                       "temperature": 0.9, "learning_rate": 5e-4, "reward_norm": "batch"}},
    "generate": {"k": 2, "prompts": "all", "config": {"max_new_tokens": 64, "temperature": 0.9, "batch_size": 8}},
}


class DemoError(Exception):
    """The demo cannot run as asked; the message says what to fix."""


@dataclass
class Annotator:
    worker_id: str
    spammer: bool


@dataclass
class RoundReport:
    number: int
    round_id: int
    status: str
    judgments: int = 0
    kept: int = 0
    heldout_accuracy: float | None = None
    trained_reward_model: int | None = None
    activated: bool = False
    reward_model: int | None = None
    mean_reward: float | None = None
    new_samples: int = 0
    mean_chars: float | None = None
    kl: float | None = None
    policy_version: str = ""
    wins: float = 0.0
    comparisons: int = 0
    ties: int = 0
    error: str = ""

    @property
    def kept_share(self) -> float | None:
        return self.kept / self.judgments if self.judgments else None

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.comparisons if self.comparisons else None

    def line(self) -> str:
        def num(value: float | None, fmt: str) -> str:
            return "n/a" if value is None else format(value, fmt)

        if self.status != "succeeded":
            return (f"round {self.number} (id {self.round_id}): {self.status}; judgments {self.judgments} "
                    f"(kept {self.kept}) | {self.error}")
        kept_active = "activated" if self.activated else f"not better: model {self.reward_model} stays active"
        return (f"round {self.number} (id {self.round_id}): judgments {self.judgments}, kept {self.kept} "
                f"({num(self.kept_share, '.0%')}) | reward model {self.trained_reward_model} held-out accuracy "
                f"{num(self.heldout_accuracy, '.3f')} ({kept_active}) | mean reward of {self.new_samples} new samples "
                f"{num(self.mean_reward, '.3f')} ({num(self.mean_chars, '.0f')} characters on average) | "
                f"KL {num(self.kl, '.4f')} | win rate of {self.policy_version} "
                f"vs round 0 on held-out prompts {num(self.win_rate, '.0%')} "
                f"({self.wins:g}/{self.comparisons}, ties {self.ties})")


@dataclass
class DemoResult:
    project: Project
    prompts_train: int
    prompts_heldout: int
    round0_samples: int
    annotators: list[Annotator] = field(default_factory=list)
    rounds: list[RoundReport] = field(default_factory=list)


# -- prompts and the project -------------------------------------------------------------------

def demo_prompts(path: Path = PROMPTS_FILE) -> tuple[list[tuple[str, str]], list[str]]:
    """(training prompts as (external id, text), held-out prompt texts) from the shipped file."""
    try:
        prompts = json.loads(path.read_text(encoding="utf-8"))["prompts"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DemoError(f"cannot read the demo prompts from {path}: {exc}") from None
    train = [(f"demo-p{i:02d}", text) for i, text in enumerate(prompts) if i % HOLDOUT_EVERY != HOLDOUT_EVERY - 1]
    heldout = [text for i, text in enumerate(prompts) if i % HOLDOUT_EVERY == HOLDOUT_EVERY - 1]
    return train, heldout


def demo_project_ensure(*, slug: str = DEMO_SLUG) -> Project:
    """The demo project (pairwise), created on first use, reused afterwards."""
    project, created = Project.objects.get_or_create(
        slug=slug, defaults={"name": "RLHF loop demo", "instructions": INSTRUCTIONS, "kind": Project.Kind.PAIRWISE})
    if not created and project.kind != Project.Kind.PAIRWISE:
        raise DemoError(f"project {slug!r} exists and is a {project.kind} project; the demo needs a pairwise one "
                        "(pass another --project)")
    return project


def demo_round_config(*, policy_base: str, reward_base: str, overrides: dict[str, Any] | None = None,
                      seed: int = 0) -> dict[str, Any]:
    """DEMO_ROUND_CONFIG with the two bases and the seed set, then ``overrides`` laid over it
    (section by section; a step's ``config`` merged key by key)."""
    config = deepcopy(DEMO_ROUND_CONFIG)
    config["reward"]["base_model"] = reward_base
    config["reward"]["seed"] = seed
    config["ppo"]["config"]["base_model"] = policy_base
    config["generate"]["config"]["seed"] = seed
    for section, values in (overrides or {}).items():
        if not isinstance(values, dict):
            raise DemoError(f"setting {section!r} must be an object of settings")
        target = config.setdefault(section, {})
        for key, value in values.items():
            if key == "config" and isinstance(value, dict):
                target.setdefault("config", {}).update(value)
            else:
                target[key] = value
    return config


def _generate(*, base_model: str, adapter_dir: str | None, prompts: list[str], config: dict[str, Any],
              k: int) -> list[Any]:
    """Completions of the base (and, with ``adapter_dir``, of that adapter in the same batches)."""
    from django.conf import settings

    from policy.engine import GenerationConfig, generate_completions, load_for_generation
    from training.torch_setup import setup_torch

    setup_torch(settings.TORCH_THREADS)
    model, tokenizer, names = load_for_generation(base_model, [adapter_dir] if adapter_dir else [])
    adapters = [None, names[0]] if adapter_dir else [None]
    return generate_completions(model, tokenizer, prompts, GenerationConfig.from_dict(config), adapters=adapters,
                                k=k)


def round0_ensure(*, project: Project, prompts: list[tuple[str, str]], base_model: str, config: dict[str, Any],
                  k: int = 2) -> tuple[int, int]:
    """Push the prompts the project lacks, each with k samples of the base policy, through the
    ingestion service (which makes the tasks). Returns (samples created, prompts already there).
    A prompt whose answers came out empty is left out (named nowhere: the next run retries it)."""
    from labeling.services.ingestion import items_ingest
    from policy.services.generation import model_label

    known = set(Prompt.objects.filter(project=project, external_id__in=[e for e, _ in prompts])
                .values_list("external_id", flat=True))
    missing = [(e, text) for e, text in prompts if e not in known]
    if not missing:
        return 0, len(known)
    completions = _generate(base_model=base_model, adapter_dir=None, prompts=[t for _, t in missing], config=config,
                            k=k)
    items = []
    for index, (external_id, text) in enumerate(missing):
        samples = [{"external_id": f"{external_id}-base-k{c.k}", "text": c.text, "model": model_label(base_model),
                    "adapter": "base", "generation": {**config, "seed": c.seed, "k": c.k},
                    "metadata": {"demo_round": 0, "ended_with_eos": c.ended}}
                   for c in completions if c.prompt_index == index and c.text.strip()]
        if len(samples) >= 2:
            items.append({"external_id": external_id, "prompt": text, "samples": samples})
    if not items:
        if known:
            return 0, len(known)  # those prompts got empty answers again; the ones already pushed serve
        raise DemoError(f"the base policy {base_model} wrote no usable samples (all empty); "
                        "try a larger generate max_new_tokens")
    return items_ingest(project=project, items=items).samples_created, len(known)


# -- the simulated crowd -----------------------------------------------------------------------

def prefers(prompt: str, text_a: str, text_b: str) -> str:
    """The honest annotators' hidden preference: the more concise answer (fewer characters);
    ``tie`` when both are as long."""
    if len(text_a.strip()) == len(text_b.strip()):
        return "tie"
    return "a" if len(text_a.strip()) < len(text_b.strip()) else "b"


def crowd_make(n: int) -> list[Annotator]:
    """n annotators; a quarter of them (at least one from 3 on) are spammers clicking at random."""
    spammers = n // 4 if n >= 4 else (1 if n == 3 else 0)
    return [Annotator(f"sim-spam-{i + 1}" if i >= n - spammers else f"sim-honest-{i + 1}", i >= n - spammers)
            for i in range(n)]


def crowd_judge(*, project: Project, annotators: list[Annotator], seed: int = 0, chunk: int = 5,
                noise: float = 0.1, max_passes: int = 10_000) -> list[int]:
    """Let the simulated annotators judge the open tasks until none is left to them, a few tasks
    per worker in turn, each batch through the crowd service. Returns the judgment ids made."""
    from crowd.selectors import task_as_listed, tasks_open, tasks_with_samples
    from crowd.services.judgments import CrowdError, judgments_record

    rng = random.Random(seed)
    made: list[int] = []
    for _ in range(max_passes):
        posted = False
        for worker in annotators:
            open_tasks = list(tasks_with_samples(tasks_open(project=project, worker_id=worker.worker_id))[:chunk])
            rows = []
            for task in open_tasks:
                listed = task_as_listed(task, kind=project.kind)
                samples = listed["samples"]
                if len(samples) != 2:
                    continue
                if worker.spammer:
                    choice, seconds = rng.choice(["a", "b"]), rng.uniform(1.0, 4.0)
                else:
                    prompt = listed["prompt"] if isinstance(listed["prompt"], str) else json.dumps(listed["prompt"])
                    choice = prefers(prompt, samples[0]["text"], samples[1]["text"])
                    if choice != "tie" and rng.random() < noise:
                        choice = "b" if choice == "a" else "a"
                    seconds = rng.uniform(8.0, 30.0)
                rows.append({"external_id": f"demo-{worker.worker_id}-t{task.pk}", "task": task.pk,
                             "annotator": worker.worker_id, "choice": choice, "seconds": round(seconds, 1)})
            if not rows:
                continue
            try:
                result = judgments_record(project=project, rows=rows)
            except CrowdError:
                continue  # a browser annotator took a slot meanwhile: re-read next pass
            made.extend(row["judgment_id"] for row in result.created)
            posted = posted or bool(result.created)
        if not posted:
            break
    return made


# -- evaluation ----------------------------------------------------------------------------------

def win_rate(*, base_model: str, adapter_dir: str, prompts: list[str], config: dict[str, Any],
             k: int = 2, judge: Callable[[str, str, str], str] = prefers) -> tuple[float, int, int]:
    """The newest policy (adapter) against the round-0 policy (the base) on ``prompts``, judged
    by the honest annotators' preference: (wins, a tie counting half; comparisons; ties)."""
    completions = _generate(base_model=base_model, adapter_dir=adapter_dir, prompts=prompts, config=config, k=k)
    by_key = {(c.prompt_index, c.k, c.adapter is not None): c.text for c in completions}
    wins, ties, total = 0.0, 0, 0
    for i, prompt in enumerate(prompts):
        for j in range(k):
            new, old = by_key.get((i, j, True)), by_key.get((i, j, False))
            if new is None or old is None:
                continue
            total += 1
            verdict = judge(prompt, new, old)
            if verdict == "a":
                wins += 1
            elif verdict == "tie":
                wins += 0.5
                ties += 1
    return wins, total, ties


def _mean_reward(project: Project, batch: int | None) -> tuple[float | None, int, float | None]:
    """The active reward model's mean reward of a generation batch's samples, their count and
    mean length in characters."""
    from policy.engine.generate import prompt_plain_text
    from rewards.selectors import reward_model_active
    from rewards.services.scoring import rewards_score

    model = reward_model_active(project=project)
    samples = list(Sample.objects.filter(prompt__project=project, metadata__generation_batch=batch)
                   .select_related("prompt")) if batch else []
    if not samples:
        return None, 0, None
    chars = sum(len(s.text) for s in samples) / len(samples)
    if model is None:
        return None, len(samples), chars
    rewards = rewards_score(model=model, prompts=[prompt_plain_text(s.prompt.messages or s.prompt.text)
                                                  for s in samples], responses=[s.text for s in samples])
    return sum(rewards) / len(rewards), len(samples), chars


# -- the loop ------------------------------------------------------------------------------------

def demo_loop(
    *, simulate: int = 6, rounds: int = 2, slug: str = DEMO_SLUG, policy_base: str = "", reward_base: str = "",
    overrides: dict[str, Any] | None = None, seed: int = 0, eval_k: int = 4,
    write: Callable[[str], None] = lambda line: None, on_round: Callable[[RoundReport], None] | None = None,
) -> DemoResult:
    """The whole demo: the project and its round-0 samples, then ``rounds`` times: the simulated
    crowd judges the open tasks, a round runs here, and its figures are measured. A failed round
    stops the loop (its report says why; ``run_round --retry`` resumes it)."""
    from policy.services.models_prep import ModelPrepError, resolve_base_model
    from rewards.selectors import reward_model_active
    from rounds.models import Round
    from rounds.services import RoundError, round_config, round_lineage, round_start

    if simulate < 1 or rounds < 1:
        raise DemoError("--simulate and --rounds must be at least 1")
    try:
        policy_base = resolve_base_model(policy_base or None, kind="policy", check_hub=False)
        reward_base = resolve_base_model(reward_base or None, kind="reward", check_hub=False)
    except ModelPrepError as exc:
        raise DemoError(f"{exc} (or pass --policy-base/--reward-base)") from None
    config = demo_round_config(policy_base=policy_base, reward_base=reward_base, overrides=overrides, seed=seed)
    try:
        round_config(config)  # refuse unknown settings before anything is generated
    except RoundError as exc:
        raise DemoError(str(exc)) from None
    train, heldout = demo_prompts()
    project = demo_project_ensure(slug=slug)
    write(f"project {project.slug}: {len(train)} training prompts, {len(heldout)} held out; "
          f"policy base {policy_base}; reward base {reward_base}")
    gen_config = config["generate"]["config"]
    created, reused = round0_ensure(project=project, prompts=train, base_model=policy_base, config=gen_config,
                                    k=config["generate"]["k"])
    base_texts = list(Sample.objects.filter(prompt__project=project, adapter="base").values_list("text", flat=True))
    base_chars = sum(len(t) for t in base_texts) / len(base_texts) if base_texts else 0.0
    write(f"round 0: {created} samples of the base policy pushed through ingestion; "
          f"{reused} prompts already in the project reused; the base's samples have {base_chars:.0f} characters "
          "on average")
    annotators = crowd_make(simulate)
    write(f"simulated crowd: {sum(not a.spammer for a in annotators)} honest (prefer the more concise answer), "
          f"{sum(a.spammer for a in annotators)} spammer(s), judging through the crowd service")
    result = DemoResult(project=project, prompts_train=len(train), prompts_heldout=len(heldout),
                        round0_samples=created, annotators=annotators)
    for r in range(rounds):
        made = crowd_judge(project=project, annotators=annotators, seed=seed * 1000 + r)
        write(f"crowd: {len(made)} judgments posted; running a round ...")
        try:
            rnd = round_start(project=project, config=config, execute_here=True)
        except RoundError as exc:
            raise DemoError(str(exc)) from None
        report = RoundReport(number=rnd.number, round_id=rnd.pk, status=rnd.status, judgments=len(made),
                             kept=Judgment.objects.filter(pk__in=made, included=True).count(), error=rnd.error)
        if rnd.status == Round.Status.SUCCEEDED:
            steps = {s.name: s.outputs for s in rnd.steps.all()}
            report.heldout_accuracy = steps["reward"].get("heldout_accuracy")
            report.trained_reward_model = steps["reward"].get("reward_model")
            report.activated = bool(steps["reward"].get("activated"))
            active = reward_model_active(project=project)
            report.reward_model = active.pk if active else None
            report.kl = steps["ppo"].get("kl")
            report.mean_reward, report.new_samples, report.mean_chars = _mean_reward(
                project, round_lineage(round=rnd)["generation_batch"])
            policy = rnd.policy
            report.policy_version = policy.version
            from training.artifacts import artifact_materialize

            wins, total, ties = win_rate(base_model=policy.base_model,
                                         adapter_dir=str(artifact_materialize(policy.adapter_path)),
                                         prompts=heldout, config={**gen_config, "seed": seed + 7}, k=eval_k)
            report.wins, report.comparisons, report.ties = wins, total, ties
        result.rounds.append(report)
        if on_round is not None:
            on_round(report)
        if report.status != Round.Status.SUCCEEDED:
            break
    return result


__all__ = ["DEMO_ROUND_CONFIG", "DemoError", "DemoResult", "RoundReport", "crowd_judge", "crowd_make", "demo_loop",
           "demo_project_ensure", "demo_prompts", "demo_round_config", "prefers", "round0_ensure", "win_rate"]
