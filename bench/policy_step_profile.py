"""Where a PPO step's time goes, on the bench/policy_vs_trl.py models and settings, plus this
machine's fp32 and bf16 GEMM speed at the policy's shapes (why precision=auto picks what it picks).

    .venv/bin/python bench/policy_step_profile.py [--steps 6] [--threads 2]

Wraps the trainer's phases (generation, reference and value passes over the rollouts, reward
model, optimisation) with timers; prints seconds per step and shares.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict

from reward_common import REPO, quiet_transformers, table

MODELS = REPO / "bench" / "out" / "ppo-bench"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if not (MODELS / "meta.json").is_file():
        raise SystemExit(f"no bench models in {MODELS}: run bench/policy_vs_trl.py or bench/policy_models.py first")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    quiet_transformers()
    import torch
    from roofline import gemm_gflops
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from policy.engine import PPOConfig, read_prompts_file
    from policy.engine import ppo as engine
    from training.torch_setup import resolve_precision, set_torch_threads

    set_torch_threads(args.threads)
    rows = 8 * 34
    print(f"GEMM at {rows}x512 @ 512x2048: fp32 {gemm_gflops('float32', rows, 512, 2048):.0f} GFLOP/s, "
          f"bf16 {gemm_gflops('bfloat16', rows, 512, 2048):.0f} GFLOP/s; precision=auto -> "
          f"{resolve_precision('auto', 'cpu')}")
    tokenizer = AutoTokenizer.from_pretrained(MODELS / "reward")
    reward_model = AutoModelForSequenceClassification.from_pretrained(MODELS / "reward").eval()

    @torch.no_grad()
    def score(prompts, responses):
        batch = tokenizer([f"{p} {r}" for p, r in zip(prompts, responses, strict=True)], padding=True,
                          return_tensors="pt")
        return reward_model(**batch).logits[:, 0].tolist()

    seconds: dict[str, float] = defaultdict(float)

    def timed(name, fn):
        def wrapper(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                seconds[name] += time.perf_counter() - t0
        return wrapper

    engine.generate_batch = timed("generation", engine.generate_batch)
    engine.PPOTrainer._forward_rollouts = timed("reference + value passes", engine.PPOTrainer._forward_rollouts)
    engine.PPOTrainer._scores = timed("reward model", engine.PPOTrainer._scores)
    engine.PPOTrainer.optimise = timed("optimisation (epochs x minibatches)", engine.PPOTrainer.optimise)
    config = PPOConfig(base_model=str(MODELS / "policy"), output_dir="", steps=args.steps, batch_size=16,
                       mini_batch_size=8, ppo_epochs=2, learning_rate=5e-4, value_learning_rate=5e-4, vf_coef=0.1,
                       temperature=1.0, max_new_tokens=24, lora_r=16, lora_alpha=32, target_modules=["c_attn"],
                       precision="fp32", threads=args.threads, rollout_batch_size=16)
    engine.train_ppo(config, read_prompts_file(MODELS / "prompts.jsonl"), score, save=False)
    total = sum(seconds.values())
    rows_out = [[k, f"{v / args.steps:.3f}", f"{100 * v / total:.0f}%"] for k, v in seconds.items()]
    print(table(rows_out, ["phase", "s/step", "share"]))


if __name__ == "__main__":
    main()
