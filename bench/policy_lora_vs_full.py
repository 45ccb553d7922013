"""(b) LoRA PPO against full-parameter PPO, both with our trainer: peak memory and step time.

    .venv/bin/python bench/policy_lora_vs_full.py [--steps 4] [--threads 2] [--base PATH]

Each mode runs in its own process (peak RSS is per process), on the same base (default: the
prepared SmolLM2-135M-Instruct), prompts, response length and hyperparameters. The reward is a
cheap synthetic function (response length, capped), so the RL step itself is what is timed.
LoRA: one base in memory, policy and value are adapters. Full: policy, value and reference are
three copies; policy and value train every weight (fp32 master weights, bf16 autocast).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from reward_common import REPO, quiet_transformers, table

PROMPTS = ["Name a prime number.", "What is the capital of France?", "Give me a tip for sleeping well.",
           "Describe the sea in one sentence.", "How do I boil an egg?", "Why is the sky blue?",
           "Suggest a name for a cat.", "What is 12 times 7?"]


def one_mode(args: argparse.Namespace) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    quiet_transformers()
    import django

    django.setup()
    from policy.engine import PPOConfig, train_ppo
    from policy.services.models_prep import resolve_base_model

    def reward(_prompts, responses):
        return [min(len(r.split()), 20) / 20 for r in responses]

    config = PPOConfig(base_model=args.base or resolve_base_model(None), output_dir=args.out, steps=args.steps,
                       batch_size=8, mini_batch_size=4, ppo_epochs=2, max_new_tokens=32, threads=args.threads,
                       full_finetune=args.mode == "full", learning_rate=1e-5 if args.mode == "full" else 5e-5)
    t0 = time.perf_counter()
    result = train_ppo(config, PROMPTS * 4, reward, save=False)
    total = time.perf_counter() - t0
    steady = result.history[1:] or result.history  # the first step pays one-off costs
    print(json.dumps({
        "mode": args.mode, "seconds": total, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "step_seconds": sum(h["seconds"] for h in steady) / len(steady),
        "rl_seconds": sum(h["seconds"] - h["generation_seconds"] for h in steady) / len(steady),
        "generation_seconds": sum(h["generation_seconds"] for h in steady) / len(steady),
    }))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--base", default="")
    ap.add_argument("--mode", choices=["lora", "full"], help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(REPO / "bench" / "out" / "lora_vs_full"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.mode:
        return one_mode(args)
    results = {}
    for mode in ("lora", "full"):
        cmd = [sys.executable, __file__, "--mode", mode, "--steps", str(args.steps), "--threads", str(args.threads)]
        if args.base:
            cmd += ["--base", args.base]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=Path(__file__).parent).stdout
        results[mode] = json.loads(out.strip().splitlines()[-1])
    lora, full = results["lora"], results["full"]
    rows = [[m, f"{r['peak_rss_mib']:.0f}", f"{r['step_seconds']:.2f}", f"{r['rl_seconds']:.2f}",
             f"{r['generation_seconds']:.2f}"] for m, r in results.items()]
    rows.append(["LoRA / full", f"{lora['peak_rss_mib'] / full['peak_rss_mib']:.2f}",
                 f"{lora['step_seconds'] / full['step_seconds']:.2f}", f"{lora['rl_seconds'] / full['rl_seconds']:.2f}",
                 f"{lora['generation_seconds'] / full['generation_seconds']:.2f}"])
    print(table(rows, ["mode", "peak RSS MiB", "s/step", "s/step w/o generation", "generation s/step"]))


if __name__ == "__main__":
    main()
