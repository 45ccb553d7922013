"""Reward-model ensembles: K LoRA adapters (and heads) on one frozen base, trained with different
seeds, scored by the mean of their offset-corrected rewards.

With a few thousand labels the seed alone moves held-out accuracy by several points; averaging
members removes much of that variance (bench/README_rewards.md, (d)), and their spread is a
measure of how unsure the model is. Layout: each member is an ordinary reward-model folder
``member-<i>/``; the ensemble folder holds the tokenizer and a reward_config.json listing them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.distributed import is_main_process

from .config import RewardConfig
from .data import Element
from .model import ENSEMBLE_KEY, FORMAT, META_FILE, read_meta

if TYPE_CHECKING:  # the trainer imports this module
    from .trainer import TrainResult


def member_name(i: int) -> str:
    return f"member-{i}"


def member_configs(config: RewardConfig) -> list[RewardConfig]:
    """One single-model config per member: its own seed and folder; an ensemble ``init_adapter``
    hands each member the matching member of that ensemble."""
    init_members: list[str] = []
    if config.init_adapter:
        init_members = read_meta(config.init_adapter).get(ENSEMBLE_KEY) or []
        if init_members and len(init_members) != config.ensemble_size:
            raise ValueError(f"init_adapter {config.init_adapter} is an ensemble of {len(init_members)}; "
                             f"set ensemble_size to {len(init_members)} to continue it")
    out = []
    for i in range(config.ensemble_size):
        init = str(Path(config.init_adapter) / init_members[i]) if init_members else config.init_adapter
        out.append(dataclasses.replace(
            config, ensemble_size=1, seed=config.seed + i, init_adapter=init,
            output_dir=str(Path(config.output_dir) / member_name(i)),
        ))
    return out


def train_reward_ensemble(
    config: RewardConfig,
    train_elements: list[Element],
    eval_elements: list[Element] | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    on_log: Callable[[dict[str, float]], None] | None = None,
    stop_at_step: int | None = None,
) -> TrainResult:
    """Train the members one after another into ``config.output_dir``/member-<i>, then evaluate
    the ensemble. Steps count across members (member i's step s is i * per_member + s), so
    progress, ``stop_at_step`` and ``resume`` (finished members are kept) see one run."""
    from .evaluate import evaluate_reward_model
    from .model import load_reward_model
    from .trainer import TrainResult, planned_steps, train_reward_model

    if not config.output_dir:
        raise ValueError("an ensemble needs output_dir (its members are trained and evaluated from disk)")
    members = member_configs(config)
    per_member = planned_steps(members[0], train_elements)
    results, history = [], []
    for i, member in enumerate(members):
        offset = i * per_member
        if resume and (Path(member.output_dir) / META_FILE).is_file():
            results.append(None)  # finished before an interruption
            continue

        def log(row: dict[str, float], offset: int = offset, i: int = i) -> None:
            row = {**row, "step": row["step"] + offset, "total_steps": per_member * len(members), "member": i}
            history.append(row)
            if on_log is not None:
                on_log(row)

        member_stop = None if stop_at_step is None else stop_at_step - offset
        result = train_reward_model(member, train_elements, eval_elements, resume=resume, progress=progress,
                                    on_log=log, stop_at_step=member_stop)
        if result.stopped_early:
            return TrainResult(Path(config.output_dir), offset + result.steps, {}, history,
                               stopped_early=True)
        results.append(result)

    if not is_main_process():  # under torchrun rank 0 alone writes and evaluates the ensemble
        return TrainResult(Path(config.output_dir), per_member * len(members), {}, history)
    meta = _write_ensemble_meta(config, members)
    metrics: dict[str, Any] = {"steps": per_member * len(members), "members": len(members)}
    done = [r for r in results if r is not None]
    if done:
        seconds = sum(r.train_seconds for r in done)
        metrics["train_seconds"] = seconds
        metrics["train_elements_per_second"] = sum(r.elements_per_second * r.train_seconds for r in done) / max(
            seconds, 1e-9)
    metrics["member_eval_accuracy"] = [read_meta(m.output_dir).get("metrics", {}).get("eval_accuracy")
                                       for m in members]
    if eval_elements:
        rm = load_reward_model(config.output_dir)
        metrics.update({f"eval_{k}": v for k, v in evaluate_reward_model(
            rm, eval_elements, batch_size=config.eval_batch_size).items()})
    meta["metrics"] = metrics
    (Path(config.output_dir) / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
    return TrainResult(Path(config.output_dir), per_member * len(members), metrics, history,
                       metrics.get("train_seconds", 0.0), metrics.get("train_elements_per_second", 0.0), 0.0)


def _write_ensemble_meta(config: RewardConfig, members: list[RewardConfig]) -> dict[str, Any]:
    """The ensemble's reward_config.json (members' offsets live in their own folders, so the
    ensemble's own offset is 0) and a copy of the tokenizer, so the folder loads like any model."""
    from transformers import AutoTokenizer

    first = read_meta(members[0].output_dir)
    out = Path(config.output_dir)
    AutoTokenizer.from_pretrained(members[0].output_dir).save_pretrained(out)
    meta = {
        "format": FORMAT,
        "base_model": config.base_model,
        "is_decoder": first.get("is_decoder"),
        "max_length": config.max_length,
        "pooling": first.get("pooling", config.pooling),
        "reward_offset": 0.0,
        "config": dataclasses.replace(config, pooling=first.get("pooling", config.pooling)).to_dict(),
        ENSEMBLE_KEY: [Path(m.output_dir).name for m in members],
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
    return meta
