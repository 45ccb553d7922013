"""(a) Our reward trainer vs TRL's RewardTrainer (trl==1.16.0, bench/requirements.txt) on the same
tiny GPT-2 (4 layers, d=256, built here), the same synthetic learnable pairs, 2 threads, the same
LoRA config (r=8, alpha=16, c_attn + trained score head), batch 16, one epoch, same LR schedule.

    .venv/bin/python bench/reward_vs_trl.py [--pairs 2000]

Both models are scored on the same held-out pairs by the same code (reward at the EOS token).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from reward_common import Timer, load_avg, quiet_transformers, table
from reward_synthetic import build_tiny_gpt2, synthetic_pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=2000, help="Training pairs (held-out: a quarter of this).")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", default="bf16", choices=["bf16", "fp32"], help="Used by both trainers.")
    args = ap.parse_args()
    quiet_transformers()
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import RewardConfig as TRLConfig
    from trl import RewardTrainer

    from rewards.engine import RewardConfig, pair_element, train_reward_model
    from rewards.engine.evaluate import compute_metrics, score_encoded
    from rewards.engine.tokenize import encode_elements
    from training.torch_setup import set_torch_threads

    set_torch_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench-trl-"))
    base = build_tiny_gpt2(tmp / "gpt2")
    train = synthetic_pairs(args.pairs, seed=1)
    held = synthetic_pairs(args.pairs // 4, seed=2)
    print(f"{len(train)} train / {len(held)} held-out pairs; load average {load_avg()}", flush=True)
    lora = dict(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["c_attn"])

    # --- TRL ---
    trl_args = TRLConfig(
        output_dir=str(tmp / "trl"), per_device_train_batch_size=16, num_train_epochs=1, learning_rate=args.lr,
        lr_scheduler_type="linear", warmup_steps=0, max_length=256, bf16=args.precision == "bf16", use_cpu=True,
        logging_steps=10**6, save_strategy="no", report_to="none", disable_dropout=True, seed=0,
        dataloader_num_workers=0,
    )
    trl_data = Dataset.from_list([{"chosen": r["chosen"], "rejected": r["rejected"]} for r in train])
    trainer = RewardTrainer(model=base, args=trl_args, train_dataset=trl_data,
                            peft_config=LoraConfig(task_type="SEQ_CLS", modules_to_save=["score"], **lora))
    torch.set_num_threads(args.threads)
    with Timer() as t_trl:
        trainer.train()
    trl_model = trainer.model

    # --- ours ---
    elements = [pair_element(r["chosen"], r["rejected"], r["prompt"] + " ") for r in train]
    cfg = RewardConfig(base_model=base, target_modules=["c_attn"], lora_r=8, lora_alpha=16, max_length=256,
                       batch_size=16, threads=args.threads, precision=args.precision, learning_rate=args.lr,
                       num_epochs=1, warmup_ratio=0.0, max_grad_norm=1.0, logging_steps=10**6, reference_samples=16)
    held_el = [pair_element(r["chosen"], r["rejected"], r["prompt"] + " ") for r in held]
    with Timer() as t_ours_call:
        result = train_reward_model(cfg, elements, held_el, progress=False, save=False)
    ours_acc = result.metrics["eval_accuracy"]

    # Same held-out scoring code for TRL's model (reward at the last real token, the EOS).
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    enc = encode_elements(held_el, tok, max_length=256, is_decoder=True)
    rewards = score_encoded(trl_model, enc, is_decoder=True, pad_id=tok.pad_token_id, precision=args.precision)
    trl_acc = compute_metrics(rewards, enc)["accuracy"]
    rows = [
        ["TRL RewardTrainer", f"{len(train) / t_trl.seconds:.2f}", f"{t_trl.seconds:.1f}", f"{trl_acc:.4f}"],
        ["ours", f"{len(train) / result.train_seconds:.2f}", f"{result.train_seconds:.1f}", f"{ours_acc:.4f}"],
    ]
    print(table(rows, ["trainer", "pairs/s", "train s", "held-out acc"]))
    ratio = t_trl.seconds / result.train_seconds
    print(f"\npairs/s ratio ours/TRL = {ratio:.2f}x; accuracy ours - TRL = {100 * (ours_acc - trl_acc):+.2f} points")
    print(f"(our whole call incl. model load, tokenization and held-out scoring: {t_ours_call.seconds:.1f}s; "
          f"precision {args.precision}, {args.threads} threads, load average at end {load_avg()})")


if __name__ == "__main__":
    main()
