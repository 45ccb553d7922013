"""One reward-model run on two processes: torchrun, gloo on CPU, one thread per rank.

The documented launch (`torchrun ... manage.py train_reward --pairs`) on a tiny BERT. Rank 0 saves
one adapter; the metrics it saves hold each rank's element count and a checksum of its final
weights. Identical checksums need the gradient all-reduce (without it each rank trains on its own
half and they part at the first step); matching a one-process run of the same settings shows the
two halves were averaged into the full batch rather than trained apart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rewards.engine import RewardConfig, bucketed_batches, train_reward_model

from .conftest import toy_elements

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ["--batch-size", "8", "--max-steps", "6", "--learning-rate", "0.02", "--seed", "0",
            "--logging-steps", "1", "--save-steps", "3", "--precision", "fp32", "--threads", "1"]


def _write(path: Path, elements) -> None:
    with open(path, "w") as fh:
        for el in elements:
            if len(el.responses) == 2:
                rec = {"prompt": el.prompt, "chosen": el.responses[0], "rejected": el.responses[1]}
            else:
                rec = {"prompt": el.prompt, "responses": el.responses, "ranks": [1, 2, 3]}
            fh.write(json.dumps(rec) + "\n")


def _expected_per_rank(n: int, batch_size: int, steps: int, world: int) -> list[int]:
    """Elements each rank takes over ``steps`` global batches (batch sizes do not depend on lengths)."""
    per_epoch = -(-n // batch_size)
    seen = [0] * world
    for step in range(steps):
        epoch, j = divmod(step, per_epoch)
        batch = bucketed_batches([0] * n, batch_size, seed=0, epoch=epoch)[j]
        for rank in range(world):
            seen[rank] += len(batch[rank::world])
    return seen


def test_torchrun_two_ranks_train_one_model(tiny_bert, tmp_path):
    # 33 elements in batches of 8: one batch of 1 leaves rank 1 with nothing (its zeros join the sum).
    train = toy_elements(32)
    pairs, held, out = tmp_path / "pairs.jsonl", tmp_path / "held.jsonl", tmp_path / "rm"
    _write(pairs, train)
    _write(held, toy_elements(8)[:8])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PREFLAB_VAR_DIR": str(tmp_path / "var")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
           "manage.py", "train_reward", "--pairs", str(pairs), "--eval-pairs", str(held), "--base-model", tiny_bert,
           "--out", str(out), "--no-progress", *SETTINGS]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("saved adapter to") == 1  # rank 0 alone reports

    assert sorted(p.name for p in out.glob("*.safetensors")) == ["adapter_model.safetensors"]
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step-000003"]  # rank 0 alone checkpoints
    metrics = json.loads((out / "reward_config.json").read_text())["metrics"]
    ranks = metrics["distributed"]
    assert ranks["world_size"] == 2 and ranks["backend"] == "gloo"
    h0, h1 = ranks["weights_sha256_per_rank"]
    assert h0 == h1, "the ranks ended with different weights: gradients were not all-reduced"
    # Each rank took its half of every global batch of 8: 6 steps, 48 elements in all.
    assert ranks["elements_per_rank"] == _expected_per_rank(len(train), 8, 6, 2)
    assert sum(ranks["elements_per_rank"]) == 33 + 8  # epoch 0 (its batch of 1 first), then one batch of 8
    assert abs(ranks["elements_per_rank"][0] - ranks["elements_per_rank"][1]) <= 1
    assert 0.0 <= metrics["eval_accuracy"] <= 1.0 and metrics["eval_n"] == 8  # rank 0 evaluated

    # The same settings in one process: the same model, up to float summation order.
    single = RewardConfig(base_model=tiny_bert, output_dir=str(tmp_path / "single"), batch_size=8, max_steps=6,
                          learning_rate=0.02, seed=0, logging_steps=1, precision="fp32", threads=1)
    result = train_reward_model(single, train, progress=False)
    # Step 3's gradient is the full batch's (the shares were scaled and summed, not just summed).
    logged = json.loads((out / "checkpoints" / "step-000003" / "checkpoint.json").read_text())["metrics"]
    assert logged["step"] == 3
    assert logged["grad_norm"] == pytest.approx(result.history[2]["grad_norm"], rel=1e-3)
    assert logged["loss"] == pytest.approx(result.history[2]["loss"], rel=1e-4)
    a = load_file(str(out / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "single" / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-4, rtol=1e-3), (key, (a[key] - b[key]).abs().max())
