"""Resumable checkpoints that describe themselves.

``<output_dir>/checkpoints/step-000100/`` holds the adapter in PEFT layout (loadable on its
own), ``trainer_state.pt`` (optimizer, LR schedule, RNG) and ``checkpoint.json`` (what this is,
the step, the config, the data fingerprint, the last metrics).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel, set_peft_model_state_dict
from safetensors.torch import load_file

CHECKPOINT_FORMAT = "preflab-reward-checkpoint/1"
# Config fields that may change between an interrupted run and its resumption.
RUNTIME_FIELDS = {"threads", "device", "output_dir", "save_steps", "save_total_limit", "logging_steps",
                  "eval_batch_size", "reference_samples"}


def checkpoint_root(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = checkpoint_root(output_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.glob("step-*") if (p / "checkpoint.json").is_file()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def save_checkpoint(
    output_dir: str | Path,
    *,
    model: PeftModel,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    step: int,
    total_steps: int,
    config: dict[str, Any],
    data_fingerprint: str,
    metrics: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write a checkpoint atomically (temp folder, then rename) and prune old ones."""
    root = checkpoint_root(output_dir)
    final = root / f"step-{step:06d}"
    tmp = root / f".tmp-step-{step:06d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp)
    torch.save(
        {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
         "torch_rng": torch.get_rng_state()},
        tmp / "trainer_state.pt",
    )
    info = {
        "format": CHECKPOINT_FORMAT,
        "description": (
            "Resumable reward-model checkpoint: PEFT adapter (LoRA + score head) in this folder; "
            "trainer_state.pt holds the optimizer, LR schedule and RNG state."
        ),
        "step": step,
        "total_steps": total_steps,
        "data_fingerprint": data_fingerprint,
        "metrics": metrics,
        "config": config,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "torch": torch.__version__,
    }
    (tmp / "checkpoint.json").write_text(json.dumps(info, indent=2, sort_keys=True))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    if keep > 0:
        for old in list_checkpoints(output_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(
    path: str | Path,
    *,
    model: PeftModel,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    config: dict[str, Any],
    data_fingerprint: str,
) -> dict[str, Any]:
    """Restore adapter, optimizer, schedule and RNG from ``path``; returns checkpoint.json.
    Refuses a checkpoint made with other data or other training settings."""
    path = Path(path)
    info = json.loads((path / "checkpoint.json").read_text())
    if info.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a reward-model checkpoint")
    if info["data_fingerprint"] != data_fingerprint:
        raise ValueError(f"{path}: checkpoint was trained on different data")
    differ = sorted(
        k for k in set(config) | set(info["config"])
        if k not in RUNTIME_FIELDS and config.get(k) != info["config"].get(k)
    )
    if differ:
        raise ValueError(f"{path}: checkpoint settings differ from this run: {', '.join(differ)}")
    state = load_file(str(path / "adapter_model.safetensors"))
    result = set_peft_model_state_dict(model, state)
    if getattr(result, "unexpected_keys", None):
        raise ValueError(f"{path}: unexpected adapter keys {result.unexpected_keys[:3]}")
    trainer_state = torch.load(path / "trainer_state.pt", weights_only=False)
    optimizer.load_state_dict(trainer_state["optimizer"])
    scheduler.load_state_dict(trainer_state["scheduler"])
    torch.set_rng_state(trainer_state["torch_rng"])
    return info
