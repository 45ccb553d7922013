"""(c) Reward-model training throughput on real text: all-MiniLM-L6-v2, LoRA r=8 on query/value,
256 tokens max, 16 pairs per batch, 2 threads, HH-RLHF harmless pairs.

    .venv/bin/python bench/reward_throughput.py [--naive-fp32-steps 10] [--max-train-pairs 0]

Side by side: a naive loop (tokenize each batch, pad to the longest, chosen and rejected in two
forwards, dropout on) in fp32 and with bf16 autocast, and our trainer (pre-tokenized,
length-bucketed dynamic padding, chosen+rejected in one forward, frozen base in bf16). The naive
bf16 loop and ours each train one epoch, then both are scored on the same held-out pairs.
Last, the compute ceiling (bench/roofline.py): the FLOPs of our epoch at its real padded batch
shapes over this machine's measured bf16 GEMM speed (`--roofline-only` prints just that).
"""

from __future__ import annotations

import argparse
import time

from reward_common import HH_DEV, Timer, load_avg, minilm_path, quiet_transformers, require, table


def naive_train(elements, base: str, *, steps: int | None, bf16: bool, batch_size: int, lr: float, seed: int):
    """The loop most people write first. Returns (model, tokenizer, pairs, seconds)."""
    import torch
    import torch.nn.functional as F
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
    lora = LoraConfig(task_type="SEQ_CLS", r=8, lora_alpha=16, target_modules=["query", "value"])
    model = get_peft_model(model, lora)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    chosen = [e.prompt + e.responses[0] for e in elements]
    rejected = [e.prompt + e.responses[1] for e in elements]
    n_batches = len(elements) // batch_size
    if steps:
        n_batches = min(n_batches, steps)
    t0 = time.perf_counter()
    for b in range(n_batches):
        sl = slice(b * batch_size, (b + 1) * batch_size)
        c = tok(chosen[sl], padding=True, truncation=True, max_length=256, return_tensors="pt")
        r = tok(rejected[sl], padding=True, truncation=True, max_length=256, return_tensors="pt")
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            rc = model(**c).logits.squeeze(-1)
            rr = model(**r).logits.squeeze(-1)
        loss = -F.logsigmoid(rc.float() - rr.float()).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
    return model, tok, n_batches * batch_size, time.perf_counter() - t0


def naive_accuracy(model, tok, elements, bf16: bool) -> float:
    import torch

    model.eval()
    correct = 0
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for i in range(0, len(elements), 32):
            part = elements[i : i + 32]
            c = tok([e.prompt + e.responses[0] for e in part], padding=True, truncation=True, max_length=256,
                    return_tensors="pt")
            r = tok([e.prompt + e.responses[1] for e in part], padding=True, truncation=True, max_length=256,
                    return_tensors="pt")
            correct += int((model(**c).logits[:, 0].float() > model(**r).logits[:, 0].float()).sum())
    return correct / len(elements)


def ceiling(train, base: str, cfg) -> dict:
    """The roofline for our epoch: the trainer's own batches (same seed, buckets, padding)."""
    from roofline import training_ceiling
    from transformers import AutoConfig, AutoTokenizer

    from rewards.engine.data import drop_ties
    from rewards.engine.tokenize import bucketed_batches, encode_elements

    elements = drop_ties(train)
    encoded = encode_elements(elements, AutoTokenizer.from_pretrained(base), max_length=cfg.max_length,
                              is_decoder=False, max_prompt_fraction=cfg.max_prompt_fraction)
    order = bucketed_batches([e.cost for e in encoded], cfg.batch_size, seed=cfg.seed, epoch=0,
                             multiplier=cfg.length_bucket_multiplier)
    shapes = [(sum(len(encoded[i].seqs) for i in b), max(encoded[i].length for i in b)) for b in order]
    return training_ceiling(shapes, len(elements), AutoConfig.from_pretrained(base))


def print_ceiling(c: dict, ours: float | None) -> None:
    print(f"\ncompute ceiling: {c['gflop_per_pair']:.1f} GFLOP per pair (mean step {c['rows_per_step']} tokens); "
          f"this machine's GEMM at those shapes: bf16 {c['bf16_gemm_gflops']:.0f} GFLOP/s, "
          f"fp32 {c['fp32_gemm_gflops']:.0f} GFLOP/s (2 threads)")
    print(f"ceiling bf16 {c['ceiling_bf16_pairs_s']:.1f} pairs/s, fp32 {c['ceiling_fp32_pairs_s']:.1f} pairs/s; "
          f"40 pairs/s would need {40 * c['gflop_per_pair']:.0f} GFLOP/s sustained", end="")
    if ours:
        print(f"; ours reaches {ours / c['ceiling_bf16_pairs_s']:.0%} of the bf16 ceiling", end="")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--naive-fp32-steps", type=int, default=10, help="fp32 naive loop: steps timed (no accuracy).")
    ap.add_argument("--max-train-pairs", type=int, default=0, help="Cap training pairs (0 = all).")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--skip-naive-bf16", action="store_true")
    ap.add_argument("--pooling", default="cls", help="ours: cls (as the naive loop), mean or auto.")
    ap.add_argument("--roofline-only", action="store_true", help="Only print the compute ceiling (seconds).")
    args = ap.parse_args()
    quiet_transformers()
    from training.torch_setup import set_torch_threads

    set_torch_threads(2)
    from rewards.engine import RewardConfig, read_elements, split_by_prompt, train_reward_model

    base = minilm_path()
    train, held = split_by_prompt(read_elements(require(HH_DEV)), 0.1, seed=0)
    if args.max_train_pairs:
        train = train[: args.max_train_pairs]
    print(f"train {len(train)} pairs, held-out {len(held)} pairs; load average at start {load_avg()}", flush=True)
    cfg = RewardConfig(base_model=base, target_modules=["query", "value"], lora_r=8, lora_alpha=16, max_length=256,
                       batch_size=16, threads=2, precision="bf16", learning_rate=args.lr, num_epochs=1,
                       warmup_ratio=0.0, reference_samples=16, logging_steps=10**6,
                       pooling=args.pooling)
    if args.roofline_only:
        print_ceiling(ceiling(train, base, cfg), None)
        return
    rows = []
    _, _, n, s = naive_train(train, base, steps=args.naive_fp32_steps, bf16=False, batch_size=16, lr=args.lr, seed=0)
    naive32 = n / s
    rows.append(["naive fp32", f"{naive32:.2f}", "-", f"{n} pairs (first {args.naive_fp32_steps} steps)"])
    print(rows[-1], flush=True)
    naive16 = acc16 = None
    if not args.skip_naive_bf16:
        model, tok, n, s = naive_train(train, base, steps=None, bf16=True, batch_size=16, lr=args.lr, seed=0)
        naive16, acc16 = n / s, naive_accuracy(model, tok, held, bf16=True)
        rows.append(["naive bf16 autocast", f"{naive16:.2f}", f"{acc16:.4f}", f"1 epoch, {n} pairs, {s:.0f}s"])
        print(rows[-1], flush=True)
    with Timer() as wall:
        result = train_reward_model(cfg, train, held, progress=True, save=False)
    ours = len(train) / result.train_seconds
    acc = result.metrics["eval_accuracy"]
    rows.append([f"ours (bf16 base, bucketed, one forward, pooling {args.pooling})", f"{ours:.2f}", f"{acc:.4f}",
                 f"1 epoch, loop {result.train_seconds:.0f}s; call incl. load, tokenize, eval {wall.seconds:.0f}s"])
    print(table(rows, ["loop", "pairs/s", "held-out acc", "notes"]))
    print(f"\nratio ours / naive fp32 = {ours / naive32:.2f}x", end="")
    if naive16:
        print(f"; ours / naive bf16 = {ours / naive16:.2f}x; accuracy ours - naive bf16 = {acc - acc16:+.4f}", end="")
    print_ceiling(ceiling(train, base, cfg), ours)
    print(f"\nload average at end {load_avg()} (2 cores; other processes on the machine slow every row)")


if __name__ == "__main__":
    main()
