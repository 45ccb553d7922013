"""The training loop: flat and readable (nanoGPT style).

encode -> length-bucketed batches -> one forward per micro-batch (all responses of all its
elements at once) -> preference loss -> accumulate -> clip -> AdamW step -> log, checkpoint.
Resuming recomputes the same batch order from (seed, epoch) and skips what was done.
Under torchrun each rank takes its share of every batch and the gradients are summed across ranks
(training/distributed.py); rank 0 alone logs, checkpoints, evaluates and saves.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel

from training import distributed
from training.torch_setup import autocast, setup_torch

from .checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from .config import RewardConfig
from .data import Element, drop_ties
from .ensemble import member_configs, train_reward_ensemble
from .evaluate import compute_metrics, reward_offset, score_encoded
from .loss import preference_loss
from .model import (
    META_FILE,
    build_reward_model,
    cast_frozen_to_bf16,
    forward_rewards,
    is_decoder_model,
    save_reward_model,
    training_pooling,
)
from .tokenize import Batch, EncodedElement, bucketed_batches, collate, encode_elements


@dataclass
class TrainResult:
    output_dir: Path | None
    steps: int
    metrics: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0
    elements_per_second: float = 0.0
    reward_offset: float = 0.0
    stopped_early: bool = False


def data_fingerprint(encoded: list[EncodedElement]) -> str:
    h = hashlib.sha256()
    for e in encoded:
        for s in e.seqs:
            h.update(str(s).encode())
        h.update(str((e.winner, e.loser, e.weight, e.margin, e.tie)).encode())
    return h.hexdigest()[:16]


def planned_steps(config: RewardConfig, train_elements: list[Element]) -> int:
    """Optimizer steps a run of ``config`` on ``train_elements`` takes (ties dropped if configured),
    summed over the members of an ensemble."""
    n = len(drop_ties(train_elements)) if config.ties == "drop" else len(train_elements)
    per_epoch = math.ceil(n / config.batch_size)
    by_epochs = math.ceil(config.num_epochs * per_epoch / config.grad_accum_steps)
    per_model = config.max_steps or max(1, config.min_steps, by_epochs)
    return per_model * config.ensemble_size


def resume_step(config: RewardConfig, train_elements: list[Element]) -> int:
    """The step a resumed run of ``config`` continues after (0 = from scratch); for an ensemble,
    finished members count in full and the current one by its newest checkpoint."""
    if config.ensemble_size == 1:
        checkpoints = list_checkpoints(config.output_dir) if config.output_dir else []
        return int(checkpoints[-1].name.split("-")[1]) if checkpoints else 0
    per_member = planned_steps(dataclasses.replace(config, ensemble_size=1), train_elements)
    done = 0
    for member in member_configs(config):
        if not (Path(member.output_dir) / META_FILE).is_file():
            return done + resume_step(member, train_elements)
        done += per_member
    return done


def _lr_lambda(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    def fn(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return fn


def train_reward_model(
    config: RewardConfig,
    train_elements: list[Element],
    eval_elements: list[Element] | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    on_log: Callable[[dict[str, float]], None] | None = None,
    model: PeftModel | None = None,
    tokenizer: Any = None,
    stop_at_step: int | None = None,
    save: bool = True,
) -> TrainResult:
    """Train a LoRA reward model on ``train_elements``; evaluate on ``eval_elements``; save the
    adapter to ``config.output_dir`` (if ``save``). ``resume`` continues from the newest
    checkpoint there. ``stop_at_step`` stops after that step, as an interruption would.
    With ``config.ensemble_size`` > 1 this trains and saves an ensemble (see ensemble.py)."""
    if config.ensemble_size > 1:
        if model is not None:
            raise ValueError("an ensemble builds its own members; do not pass a model")
        return train_reward_ensemble(config, train_elements, eval_elements, resume=resume, progress=progress,
                                     on_log=on_log, stop_at_step=stop_at_step)
    ctx = distributed.dist_context()
    if ctx.enabled:
        device, precision = distributed.distributed_setup(ctx, config.threads, config.device, config.precision)
    else:
        device, precision = setup_torch(config.threads, config.device, config.precision)
    total_steps = planned_steps(config, train_elements)
    if model is None:
        model, tokenizer = build_reward_model(config)
    is_decoder = is_decoder_model(model)
    if config.pooling == "auto":  # saved resolved, so a later change of the default cannot reinterpret it
        config = dataclasses.replace(config, pooling=training_pooling(config, is_decoder))
    if config.ties == "drop":
        train_elements = drop_ties(train_elements)
        eval_elements = drop_ties(eval_elements) if eval_elements else eval_elements
    if not train_elements:
        raise ValueError("no training comparisons")
    enc_kw = {"max_length": config.max_length, "is_decoder": is_decoder,
              "max_prompt_fraction": config.max_prompt_fraction}
    encoded = encode_elements(train_elements, tokenizer, **enc_kw)
    eval_encoded = encode_elements(eval_elements, tokenizer, **enc_kw) if eval_elements else []
    if config.pooling == "response_mean" and not any(1 in t for e in encoded for t in (e.type_ids or [])):
        raise ValueError("response_mean pooling needs a tokenizer that marks the response with token type 1 "
                         "(BERT-style pairs); this one does not: use pooling 'mean'")
    pad_id = tokenizer.pad_token_id
    costs = [e.cost for e in encoded]

    per_epoch = math.ceil(len(encoded) / config.batch_size)
    params = [p for p in model.parameters() if p.requires_grad]
    assert params, "the optimizer has no trainable parameters (LoRA/head frozen?)"
    if precision == "bf16" and config.bf16_base_weights:
        cast_frozen_to_bf16(model)
    model.to(device)
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    warmup = int(config.warmup_ratio * total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(total_steps, warmup))
    fingerprint = data_fingerprint(encoded)
    out_dir = Path(config.output_dir) if config.output_dir else None

    start_step = 0
    if resume and out_dir is not None and list_checkpoints(out_dir):
        info = load_checkpoint(
            list_checkpoints(out_dir)[-1], model=model, optimizer=optimizer, scheduler=scheduler,
            config=config.to_dict(), data_fingerprint=fingerprint,
        )
        start_step = info["step"]
    if ctx.enabled:
        distributed.broadcast_parameters(params)

    epoch_batches: dict[int, list[list[int]]] = {}

    def micro_batch(i: int) -> tuple[Batch | None, int]:
        """This rank's part of global micro-batch i (None if it got no element), and the global size."""
        epoch, j = divmod(i, per_epoch)
        if epoch not in epoch_batches:
            epoch_batches.clear()
            epoch_batches[epoch] = bucketed_batches(
                costs, config.batch_size, seed=config.seed, epoch=epoch, multiplier=config.length_bucket_multiplier
            )
        indices = epoch_batches[epoch][j]
        mine = distributed.shard(indices, ctx) if ctx.enabled else indices
        if not mine:
            return None, len(indices)
        return collate([encoded[k] for k in mine], pad_id).to(device), len(indices)

    bar = None
    if progress and ctx.is_main:
        from tqdm import tqdm

        bar = tqdm(total=total_steps, initial=start_step, desc="train", unit="step", dynamic_ncols=True)
    history: list[dict[str, float]] = []
    window: list[dict[str, float]] = []
    n_elements_done = 0
    model.train()
    t0 = time.perf_counter()
    step = start_step
    for step in range(start_step, total_steps):
        for micro in range(config.grad_accum_steps):
            batch, n_global = micro_batch(step * config.grad_accum_steps + micro)
            if batch is None:  # a short last batch left this rank nothing; it adds zeros to the sum
                continue
            with autocast(device, precision):
                rewards = forward_rewards(
                    model, batch.input_ids, batch.attention_mask, batch.token_type_ids, is_decoder=is_decoder,
                    pooling=config.pooling,
                )
            loss, metrics = preference_loss(
                rewards, batch.winner, batch.loser, batch.weight, batch.n_elements,
                margin=batch.margin, tie=batch.tie, ties=config.ties, tie_param=config.tie_param,
                center_rewards_coef=config.center_rewards_coef,
            )
            if ctx.enabled:  # this rank's share of the global batch's mean; the all-reduce adds the shares
                loss = loss * (batch.n_elements / n_global)
            (loss / config.grad_accum_steps).backward()
            window.append(metrics)
            n_elements_done += batch.n_elements
        if ctx.enabled:
            distributed.all_reduce_gradients(params)
        grad_norm = torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm or float("inf"))
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

        done = step + 1
        if done % config.logging_steps == 0 or done == total_steps:
            if ctx.enabled:
                row, n_all = _ranks_mean(window, n_elements_done, device)
            else:
                row, n_all = {k: sum(m[k] for m in window) / len(window) for k in window[0]}, n_elements_done
            row.update(step=done, total_steps=total_steps, lr=scheduler.get_last_lr()[0], grad_norm=float(grad_norm),
                       elements_per_second=n_all / (time.perf_counter() - t0))
            history.append(row)
            window.clear()
            if on_log is not None and ctx.is_main:
                on_log(row)
            if bar is not None:
                bar.set_postfix(loss=f"{row['loss']:.4f}", acc=f"{row['accuracy']:.3f}")
        if bar is not None:
            bar.update(1)
        if (out_dir is not None and config.save_steps and done % config.save_steps == 0 and done < total_steps
                and ctx.is_main):
            save_checkpoint(
                out_dir, model=model, optimizer=optimizer, scheduler=scheduler, step=done, total_steps=total_steps,
                config=config.to_dict(), data_fingerprint=fingerprint, metrics=history[-1] if history else {},
                keep=config.save_total_limit,
            )
        if stop_at_step is not None and done >= stop_at_step and done < total_steps:
            if bar is not None:
                bar.close()
            if ctx.enabled:
                distributed.barrier()
            return TrainResult(out_dir, done, {}, history, time.perf_counter() - t0, stopped_early=True)
    if bar is not None:
        bar.close()
    train_seconds = time.perf_counter() - t0
    ranks: dict[str, Any] = {}
    if ctx.enabled:
        ranks = _ranks_report(ctx, params, n_elements_done, device)
        n_elements_done = sum(ranks["elements_per_rank"])
        if not ctx.is_main:  # rank 0 evaluates and saves; wait for it so no rank exits mid-save
            distributed.barrier()
            return TrainResult(out_dir, total_steps, {}, history, train_seconds,
                               n_elements_done / max(train_seconds, 1e-9))

    score_kw = {"is_decoder": is_decoder, "pad_id": pad_id, "batch_size": config.eval_batch_size,
                "device": device, "precision": precision, "pooling": config.pooling}
    reference = score_encoded(model, encoded[: max(1, config.reference_samples // 2)], **score_kw)
    offset = reward_offset(reference, config.reference_samples)
    metrics: dict[str, Any] = {"train_seconds": train_seconds, "steps": total_steps,
                               "train_elements_per_second": n_elements_done / max(train_seconds, 1e-9)}
    if history:
        metrics["train_loss"] = history[-1]["loss"]
    if ranks:
        metrics["distributed"] = ranks
    if eval_encoded:
        eval_metrics = compute_metrics(score_encoded(model, eval_encoded, **score_kw), eval_encoded,
                                       reward_offset=offset)
        metrics.update({f"eval_{k}": v for k, v in eval_metrics.items()})
    if save and out_dir is not None:
        save_reward_model(model, tokenizer, out_dir, config=config, reward_offset=offset, metrics=metrics)
    if ctx.enabled:
        distributed.barrier()
    return TrainResult(out_dir, total_steps, metrics, history, train_seconds,
                       n_elements_done / max(train_seconds, 1e-9), offset)


LOGGED = ("loss", "accuracy", "reward_gap")  # preference_loss's metrics, named so a rank with none still sends


def _ranks_mean(window: list[dict[str, float]], n_elements: int, device: torch.device) -> tuple[dict[str, float], int]:
    """The logged metrics averaged over every rank's micro-batches, and all ranks' elements so far."""
    sums = distributed.all_reduce_sum([sum(m[k] for m in window) for k in LOGGED] + [len(window), n_elements], device)
    count = max(sums[len(LOGGED)], 1.0)
    return {k: sums[i] / count for i, k in enumerate(LOGGED)}, int(sums[-1])


def _ranks_report(ctx: distributed.DistContext, params: list[torch.Tensor], n_elements: int,
                  device: torch.device) -> dict[str, Any]:
    """What each rank trained on and a checksum of where its weights ended (equal when in step)."""
    rows = distributed.gather_objects((n_elements, distributed.parameters_checksum(params)))
    return {"world_size": ctx.world_size, "backend": "nccl" if device.type == "cuda" else "gloo",
            "elements_per_rank": [r[0] for r in rows], "weights_sha256_per_rank": [r[1] for r in rows]}
