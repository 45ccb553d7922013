"""One training step of the MiniLM reward model (LoRA r=8 on query/value, bf16 base, 16 pairs = 32
sequences of --tokens tokens, 2 threads) under kernel variants, to check levers the trainer does
not use: SDPA attention instead of eager, and torch.compile (inductor). Prints the median of
--steps timed steps after 2 warm-up steps, and the first step (which includes compilation).

    .venv/bin/python bench/reward_step_variants.py [--tokens 144] [--steps 5] [--variants eager,sdpa,compile]
"""

from __future__ import annotations

import argparse
import statistics
import time

from reward_common import load_avg, minilm_path, quiet_transformers, table


def time_variant(variant: str, tokens: int, steps: int) -> tuple[float, float]:
    import torch

    from rewards.engine import RewardConfig, build_reward_model, forward_rewards
    from rewards.engine.model import cast_frozen_to_bf16

    cfg = RewardConfig(base_model=minilm_path(), target_modules=["query", "value"], lora_r=8, lora_alpha=16,
                       pooling="cls", attn_implementation="sdpa" if variant == "sdpa" else "eager")
    model, _ = build_reward_model(cfg)
    cast_frozen_to_bf16(model)
    model.train()
    if variant == "compile":
        model = torch.compile(model, dynamic=False)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 20000, (32, tokens), generator=g)
    mask = torch.ones_like(ids)

    def step() -> float:
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            rewards = forward_rewards(model, ids, mask, torch.zeros_like(ids), is_decoder=False, pooling="cls")
        rewards.float().sum().backward()
        return time.perf_counter() - t0

    first = step()
    step()
    return first, statistics.median(step() for _ in range(steps))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=144, help="Sequence length (HH pairs average ~140 here).")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--variants", default="eager,sdpa,compile")
    args = ap.parse_args()
    quiet_transformers()
    from training.torch_setup import set_torch_threads

    set_torch_threads(2)
    print(f"load average at start {load_avg()}", flush=True)
    rows = []
    for variant in args.variants.split(","):
        first, median = time_variant(variant, args.tokens, args.steps)
        rows.append([variant, f"{first:.2f}", f"{median:.3f}", f"{16 / median:.1f}"])
        print(rows[-1], flush=True)
    print(table(rows, ["variant", "first step s", "median step s", "pairs/s"]))
    print(f"load average at end {load_avg()}")


if __name__ == "__main__":
    main()
