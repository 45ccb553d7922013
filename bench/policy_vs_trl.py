"""(a) Our LoRA PPO against TRL's PPO (trl 1.12.0, the last with trl.experimental.ppo), side by side
in one run: the same policy, reward model, prompts, response length and hyperparameters.

    make bench-trl-venv                      # once: TRL 1.12 in its own venv (bench/out/trl-venv)
    .venv/bin/python bench/policy_vs_trl.py  # [--steps 24 --lr 5e-4 --threads 2]

Models come from bench/policy_models.py (a 25M-parameter GPT-2 policy and a hand-set reward model
that counts positive minus negative words, same tokenizer). Each side runs in its own process and
reports wall time of training, episodes/s, peak RSS and the mean score of every update's rollouts.
"Reward gained per episode" is (mean score of the last quarter of updates - first quarter) /
episodes in between. TRL trains the full value model (as its example does); ours trains a value
LoRA adapter and head on the policy's frozen base. Settings TRL fixes and we match: fp32 (TRL's
PPOTrainer runs generation and scoring in fp32 on CPU), vf_coef 0.1, one learning rate for policy
and value, temperature 1.0, no EOS penalty, LoRA r=16 alpha=32 on c_attn.
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

from reward_common import REPO, load_avg, quiet_transformers, table

OUT = REPO / "bench" / "out"
MODELS = OUT / "ppo-bench"
TRL_PYTHON = OUT / "trl-venv" / "bin" / "python"


def ours(args: argparse.Namespace) -> None:
    """Our trainer on the bench models (runs in its own process)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    quiet_transformers()
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from policy.engine import PPOConfig, read_prompts_file, train_ppo
    from training.torch_setup import set_torch_threads

    set_torch_threads(args.threads)
    tokenizer = AutoTokenizer.from_pretrained(MODELS / "reward")
    reward_model = AutoModelForSequenceClassification.from_pretrained(MODELS / "reward").eval()

    @torch.no_grad()
    def score(prompts: list[str], responses: list[str]) -> list[float]:
        batch = tokenizer([f"{p} {r}" for p, r in zip(prompts, responses, strict=True)], padding=True,
                          return_tensors="pt")
        return reward_model(**batch).logits[:, 0].tolist()

    config = PPOConfig(
        base_model=str(MODELS / "policy"), output_dir="", steps=args.steps, batch_size=args.batch_size,
        mini_batch_size=args.mini_batch_size, ppo_epochs=args.ppo_epochs, learning_rate=args.lr,
        value_learning_rate=args.lr, kl_coef=0.05, vf_coef=0.1, temperature=1.0, max_new_tokens=args.response_length,
        lora_r=16, lora_alpha=32, target_modules=["c_attn"], precision=args.precision, threads=args.threads, seed=0,
        rollout_batch_size=args.batch_size,
    )
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    result = train_ppo(config, read_prompts_file(MODELS / "prompts.jsonl"), score, save=False)
    seconds = time.perf_counter() - t0
    episodes = args.steps * args.batch_size
    print(json.dumps({"seconds": seconds, "cpu_seconds": time.process_time() - cpu0,
                      "episodes": episodes, "episodes_per_s": episodes / seconds,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "scores": [h["reward_mean"] for h in result.history], "kl": [h["kl"] for h in result.history]}))


def gain_per_episode(scores: list[float], batch_size: int) -> float:
    quarter = max(1, len(scores) // 4)
    first, last = sum(scores[:quarter]) / quarter, sum(scores[-quarter:]) / quarter
    return (last - first) / ((len(scores) - quarter) * batch_size)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=24)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--mini-batch-size", type=int, default=8)
    ap.add_argument("--ppo-epochs", type=int, default=2)
    ap.add_argument("--response-length", type=int, default=24)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    ap.add_argument("--trl-python", default=str(TRL_PYTHON))
    ap.add_argument("--ours", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ours:
        return ours(args)
    if not Path(args.trl_python).exists():
        sys.exit(f"no TRL venv at {args.trl_python}: run `make bench-trl-venv` (or pass --trl-python)")
    here = Path(__file__).parent
    if not (MODELS / "meta.json").is_file():
        subprocess.run([sys.executable, here / "policy_models.py", "--out", MODELS], check=True)
    common = ["--steps", str(args.steps), "--batch-size", str(args.batch_size), "--mini-batch-size",
              str(args.mini_batch_size), "--ppo-epochs", str(args.ppo_epochs), "--threads", str(args.threads)]
    print(f"load before: {load_avg()}")
    trl_json = OUT / "trl_ppo.json"
    subprocess.run([args.trl_python, here / "policy_trl_ppo.py", "--policy", MODELS / "policy", "--reward",
                    MODELS / "reward", "--prompts", MODELS / "prompts.jsonl", "--response-length",
                    str(args.response_length), "--lr", str(args.lr), "--lr-scheduler", "constant", "--lora-r", "16",
                    "--kl-coef", "0.05", "--vf-coef", "0.1", "--out", trl_json, *common], check=True)
    trl = json.loads(trl_json.read_text())
    out = subprocess.run([sys.executable, __file__, "--ours", "--response-length", str(args.response_length), "--lr",
                          str(args.lr), "--precision", args.precision, *common],
                         capture_output=True, text=True, check=True).stdout
    us = json.loads(out.strip().splitlines()[-1])
    print(f"load after: {load_avg()}")
    rows = []
    gains = {}
    for name, r in (("TRL 1.12 PPO (LoRA policy, full value model)", trl), ("ours (LoRA policy + LoRA value)", us)):
        gains[name] = gain_per_episode(r["scores"], args.batch_size)
        rows.append([name, f"{r['seconds']:.1f}", f"{r['episodes_per_s']:.2f}", f"{r['peak_rss_mib']:.0f}",
                     f"{r['scores'][0]:.3f} -> {r['scores'][-1]:.3f}", f"{gains[name]:.5f}", f"{r['kl'][-1]:.3f}"])
    trl_gain, our_gain = gains.values()
    rows.append(["ours / TRL", f"{us['seconds'] / trl['seconds']:.2f}",
                 f"{us['episodes_per_s'] / trl['episodes_per_s']:.2f}",
                 f"{us['peak_rss_mib'] / trl['peak_rss_mib']:.2f}",
                 "", f"{our_gain / trl_gain:.2f}" if trl_gain else "n/a", ""])
    print(table(rows, ["trainer", "s", "episodes/s", "peak RSS MiB", "score first -> last update",
                       "reward gained / episode", "KL last"]))


if __name__ == "__main__":
    main()
