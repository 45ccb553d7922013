"""(b) LoRA vs full fine-tuning, both with our trainer: peak memory and step time.

    .venv/bin/python bench/reward_lora_vs_full.py [--steps 8] [--rounds 2]

all-MiniLM-L6-v2 on HH-RLHF harmless pairs, 16 pairs per batch, 256 tokens max, 2 threads, bf16
where supported. Each variant runs in a fresh subprocess; peak memory = peak RSS minus RSS after
imports (what training adds), step time = median optimizer-step time after the first step.
Variants alternate for --rounds rounds; the table shows the median over rounds.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

from reward_common import HH_DEV, load_avg, minilm_path, quiet_transformers, require, table


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def worker(variant: str, steps: int) -> None:
    quiet_transformers()
    from training.torch_setup import set_torch_threads

    set_torch_threads(2)
    from rewards.engine import RewardConfig, build_reward_model, read_elements, train_reward_model
    from rewards.engine.model import load_base

    elements = read_elements(require(HH_DEV))[: steps * 16]
    base_rss = _rss_mb()
    cfg = RewardConfig(base_model=minilm_path(), target_modules=["query", "value"], lora_r=8, lora_alpha=16,
                       max_length=256, batch_size=16, threads=2, precision="auto", max_steps=steps,
                       logging_steps=1, warmup_ratio=0.0, reference_samples=2, learning_rate=1e-4)
    if variant == "lora":
        model, tok = build_reward_model(cfg)
    else:
        model, tok = load_base(cfg.base_model, attn_implementation=cfg.attn_implementation)
        model.requires_grad_(True)
    stamps: list[float] = []
    result = train_reward_model(cfg, elements, model=model, tokenizer=tok, progress=False, save=False,
                                on_log=lambda row: stamps.append(time.perf_counter()))
    step_times = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(json.dumps({"variant": variant, "peak_mb": peak - base_rss, "step_s": statistics.median(step_times),
                      "trainable": trainable, "train_s": result.train_seconds}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--worker", choices=["lora", "full"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.steps)
        return
    require(HH_DEV)
    minilm_path()
    runs: dict[str, list[dict]] = {"lora": [], "full": []}
    print(f"load average at start {load_avg()}", flush=True)
    for _ in range(args.rounds):
        for variant in ("full", "lora"):
            out = subprocess.run([sys.executable, __file__, "--worker", variant, "--steps", str(args.steps)],
                                 capture_output=True, text=True, check=True)
            runs[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(runs[variant][-1], flush=True)
    med = {v: {k: statistics.median(r[k] for r in rs) for k in ("peak_mb", "step_s")} for v, rs in runs.items()}
    rows = [[v, f"{runs[v][0]['trainable']:,}", f"{med[v]['peak_mb']:.0f}", f"{med[v]['step_s']:.2f}"]
            for v in ("full", "lora")]
    print(table(rows, ["variant", "trainable params", "peak MB added", "step s"]))
    print(f"\npeak memory ratio lora/full = {med['lora']['peak_mb'] / med['full']['peak_mb']:.2f}; "
          f"step time ratio lora/full = {med['lora']['step_s'] / med['full']['step_s']:.2f}; "
          f"load average at end {load_avg()}")


if __name__ == "__main__":
    main()
