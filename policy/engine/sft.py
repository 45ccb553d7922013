"""Supervised fine-tuning of a LoRA policy adapter: next-token loss on the response tokens only,
length-bucketed batches, the frozen base in bf16 where the device runs it fast."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rewards.engine.tokenize import bucketed_batches, pad_sequences
from training.torch_setup import setup_torch

from .adapters import (
    POLICY,
    adapter_changed,
    adapter_snapshot,
    attach_policy,
    load_adapter_state,
    load_causal_base,
    save_adapter,
    trainable_parameters,
)
from .checkpoint import data_fingerprint, list_checkpoints, load_checkpoint_info, save_checkpoint
from .config import PolicyTrainingError, SFTConfig
from .data import PolicyDataError, is_chat, read_jsonl
from .forward import position_ids
from .generate import Prompt, encode_prompt


class SFTDataError(PolicyDataError):
    """A bad SFT record; the message names the line and field."""


@dataclass
class SFTExample:
    prompt: Prompt
    response: str


@dataclass
class SFTResult:
    output_dir: Path | None
    steps: int
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def sft_example(record: Any, where: str = "record") -> SFTExample:
    """{"prompt": text or turns, "response": text} or {"messages": [..., {"role": "assistant", ...}]}."""
    if not isinstance(record, dict):
        raise SFTDataError(f"{where}: must be an object with prompt and response, or messages")
    if "messages" in record:
        turns = record["messages"]
        if not is_chat(turns) or len(turns) < 2:
            raise SFTDataError(f"{where}: messages must be a list of at least 2 {{role, content}} turns")
        if turns[-1]["role"] != "assistant":
            raise SFTDataError(f"{where}: the last of messages must be the assistant's turn (the response)")
        return SFTExample(turns[:-1], turns[-1]["content"])
    prompt, response = record.get("prompt"), record.get("response")
    if not (isinstance(prompt, str) and prompt.strip()) and not is_chat(prompt):
        raise SFTDataError(f"{where}: prompt must be a non-empty string or a list of {{role, content}} turns")
    if not isinstance(response, str) or not response.strip():
        raise SFTDataError(f"{where}: response must be a non-empty string")
    return SFTExample(prompt, response)


def read_sft_file(path: str | Path) -> list[SFTExample]:
    examples = [sft_example(record, where) for where, record in read_jsonl(path)]
    if not examples:
        raise SFTDataError(f"{path}: no records")
    return examples


def encode_sft(tokenizer: Any, example: SFTExample, config: SFTConfig) -> tuple[list[int], int]:
    """(token ids, prompt length): the templated prompt, then the response and EOS; the prompt
    is cut from the left and the response from the right to fit max_length."""
    prompt = encode_prompt(tokenizer, example.prompt, chat_template=config.chat_template,
                           max_length=config.max_length // 2)
    response = tokenizer(example.response, add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    response = response[: config.max_length - len(prompt) - 1] + ([eos] if eos is not None else [])
    return prompt + response, len(prompt)


def sft_planned_steps(config: SFTConfig, n: int) -> int:
    per_epoch = math.ceil(n / config.batch_size)
    return config.max_steps or max(1, math.ceil(config.num_epochs * per_epoch / config.grad_accum_steps))


def _lr_at(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / (warmup + 1)
    return max(0.0, (total - step) / max(1, total - warmup))


def response_loss(model: Any, ids: torch.Tensor, mask: torch.Tensor, labels_mask: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over response tokens (labels_mask = 1 on them)."""
    logits = model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask), use_cache=False).logits
    logits = logits[:, :-1].float()
    targets, weights = ids[:, 1:], labels_mask[:, 1:].float()
    losses = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                               reduction="none").view_as(weights)
    return (losses * weights).sum() / weights.sum().clamp(min=1.0)


def train_sft(
    config: SFTConfig,
    examples: list[SFTExample],
    *,
    resume: bool = False,
    progress: bool = False,
    on_log: Callable[[dict[str, float]], None] | None = None,
    stop_at_step: int | None = None,
) -> SFTResult:
    """Fine-tune a LoRA adapter on ``examples`` and save it (PEFT layout) to config.output_dir."""
    if not examples:
        raise PolicyTrainingError("no SFT examples")
    setup_torch(config.threads, config.device, config.precision)
    base, tokenizer, precision = load_causal_base(config.base_model, device=config.device,
                                                  precision=config.precision)
    tokenizer.padding_side = "right"
    model = attach_policy(base, config)
    params = trainable_parameters(model, (POLICY,))
    if not params:
        raise PolicyTrainingError("the adapter has no trainable parameters; check target_modules")
    device = next(model.parameters()).device
    encoded = [encode_sft(tokenizer, e, config) for e in examples]
    fingerprint = data_fingerprint([ids + [-1, n] for ids, n in encoded])
    total = sft_planned_steps(config, len(encoded))
    warmup = int(config.warmup_ratio * total)
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_at(s, total, warmup))
    step, history = 0, []
    checkpoints = list_checkpoints(config.output_dir) if resume and config.output_dir else []
    if checkpoints:
        loaded = load_checkpoint_info(checkpoints[-1], config=config.to_dict(), data_fingerprint=fingerprint,
                                      kind="sft")
        load_adapter_state(model, POLICY, checkpoints[-1])
        optimizer.load_state_dict(loaded["state"]["optimizer"])
        scheduler.load_state_dict(loaded["state"]["scheduler"])
        step, history = int(loaded["info"]["step"]), list(loaded["state"]["history"])
    start_step, before = step, adapter_snapshot(params)
    lengths = [len(ids) for ids, _ in encoded]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=step, desc="sft", unit="step")
    started, window = time.perf_counter(), []
    micro = [b for e in range(math.ceil(total * config.grad_accum_steps * config.batch_size / len(encoded)) + 1)
             for b in bucketed_batches(lengths, config.batch_size, seed=config.seed, epoch=e)]
    position = step * config.grad_accum_steps
    while step < total:
        t0 = time.perf_counter()
        tokens = 0
        for _ in range(config.grad_accum_steps):
            batch = [encoded[i] for i in micro[position % len(micro)]]
            position += 1
            ids, mask, _ = pad_sequences([b[0] for b in batch], tokenizer.pad_token_id)
            labels = mask.clone()
            for row, (_, prompt_len) in enumerate(batch):
                labels[row, :prompt_len] = 0
            ids, mask, labels = ids.to(device), mask.to(device), labels.to(device)
            loss = response_loss(model, ids, mask, labels) / config.grad_accum_steps
            loss.backward()
            window.append(loss.detach() * config.grad_accum_steps)
            tokens += int(mask.sum())
        if config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        if bar is not None:
            bar.update(1)
        if step % max(1, config.logging_steps) == 0 or step == total:
            row = {"step": step, "total_steps": total, "loss": float(torch.stack(window).mean()),
                   "lr": scheduler.get_last_lr()[0], "tokens_per_s": tokens / (time.perf_counter() - t0),
                   "epoch": position * config.batch_size / len(encoded)}
            window = []
            history.append(row)
            if bar is not None:
                bar.set_postfix(loss=f"{row['loss']:.4f}")
            if on_log is not None:
                on_log(row)
        if config.output_dir and config.save_steps and step % config.save_steps == 0 and step < total:
            save_checkpoint(
                config.output_dir, step=step, kind="sft", keep=config.save_total_limit,
                write_adapters=lambda folder: save_adapter(model, POLICY, folder),
                trainer_state={"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                               "history": history},
                config=config.to_dict(), data_fingerprint=fingerprint, metrics=history[-1] if history else {},
            )
        if stop_at_step is not None and step >= stop_at_step:
            break
    if bar is not None:
        bar.close()
    if step > start_step and not adapter_changed(params, before):
        raise PolicyTrainingError("the adapter did not change during SFT (zero learning rate?)")
    out = None
    if config.output_dir and step >= total:
        tokenizer.padding_side = "left"
        out = save_adapter(model, POLICY, config.output_dir, tokenizer=tokenizer, meta={
            "kind": "sft", "base_model": config.base_model, "config": config.to_dict(), "precision": precision,
            "metrics": history[-1] if history else {}, "examples": len(examples),
        })
    return SFTResult(out, step, history, time.perf_counter() - started)
