"""Resumable policy checkpoints that describe themselves (same layout as the reward engine's).

``<output_dir>/checkpoints/step-000010/`` holds the trained adapters in PEFT layout (the policy
at the root, the value adapter and head in ``value/``), ``trainer_state.pt`` (optimizers, RNG,
controller state) and ``checkpoint.json`` (what this is, the step, the config, the data
fingerprint, the last metrics).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from rewards.engine.checkpoint import checkpoint_root, list_checkpoints

FORMAT = "preflab-policy-checkpoint/1"
RUNTIME_FIELDS = {"threads", "device", "output_dir", "save_steps", "save_total_limit", "logging_steps", "steps",
                  "max_steps"}

__all__ = ["list_checkpoints", "load_checkpoint_info", "newest_step", "save_checkpoint"]


def data_fingerprint(sequences: list[list[int]]) -> str:
    """What a checkpoint was trained on (its token ids), to refuse resuming on other data."""
    digest = hashlib.sha256()
    for ids in sequences:
        digest.update(str(ids).encode())
    return digest.hexdigest()[:16]


def newest_step(output_dir: str | Path) -> int:
    found = list_checkpoints(output_dir) if output_dir else []
    return int(found[-1].name.split("-")[1]) if found else 0


def save_checkpoint(
    output_dir: str | Path, *, step: int, write_adapters: Any, trainer_state: dict[str, Any], config: dict[str, Any],
    data_fingerprint: str, metrics: dict[str, Any], kind: str, keep: int = 2,
) -> Path:
    """Write atomically (temp folder, then rename) and prune old checkpoints. ``write_adapters(folder)``
    saves the adapters into the folder."""
    root = checkpoint_root(output_dir)
    final = root / f"step-{step:06d}"
    tmp = root / f".tmp-step-{step:06d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write_adapters(tmp)
    torch.save({**trainer_state, "torch_rng": torch.get_rng_state()}, tmp / "trainer_state.pt")
    info = {
        "format": FORMAT, "kind": kind, "step": step, "data_fingerprint": data_fingerprint, "metrics": metrics,
        "config": config, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "torch": torch.__version__,
        "description": f"Resumable {kind} checkpoint: the policy adapter in PEFT layout in this folder"
                       + (", the value adapter and head in value/" if kind == "ppo" else "")
                       + "; trainer_state.pt holds optimizer and RNG state.",
    }
    (tmp / "checkpoint.json").write_text(json.dumps(info, indent=2, sort_keys=True, default=str))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    if keep > 0:
        for old in list_checkpoints(output_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint_info(path: Path, *, config: dict[str, Any], data_fingerprint: str, kind: str) -> dict[str, Any]:
    """checkpoint.json and trainer_state.pt of ``path``; refuses one made for other data or settings."""
    info = json.loads((path / "checkpoint.json").read_text())
    if info.get("format") != FORMAT or info.get("kind") != kind:
        raise ValueError(f"{path}: not a {kind} policy checkpoint")
    if info["data_fingerprint"] != data_fingerprint:
        raise ValueError(f"{path}: checkpoint was trained on different data")
    differ = sorted(k for k in set(config) | set(info["config"])
                    if k not in RUNTIME_FIELDS and config.get(k) != info["config"].get(k))
    if differ:
        raise ValueError(f"{path}: checkpoint settings differ from this run: {', '.join(differ)}")
    state = torch.load(path / "trainer_state.pt", weights_only=False)
    torch.set_rng_state(state.pop("torch_rng"))
    return {"info": info, "state": state}
