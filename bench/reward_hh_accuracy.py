"""(d) Real data: all-MiniLM-L6-v2 + LoRA reward model on HH-RLHF harmless (1,800 pairs,
../shared/data/hh-rlhf-harmless/dev.jsonl.gz; source: github.com/anthropics/hh-rlhf @ 354e5c3,
harmless-base/test.jsonl.gz, MIT). 10% held out by prompt. Reports held-out accuracy and wall time,
one row per seed (the seed sets the LoRA/head initialisation and the batch order; the split is fixed).
Every optimisation flag defaults to the engine's own default (RewardConfig), so a run without flags
measures what `train_reward` does out of the box: that is the headline row.

    .venv/bin/python bench/reward_hh_accuracy.py [--epochs 3] [--lr 1e-3] [--pooling mean] [--seeds 0,1,2]
    .venv/bin/python bench/reward_hh_accuracy.py --ensemble-size 3 --epochs 2 --seeds 10
    .venv/bin/python bench/reward_hh_accuracy.py --folds 0,1,2,3,4   # 5 of 10 folds, accuracy pooled,20
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

from reward_common import HH_DEV, Timer, load_avg, minilm_path, prompt_fold, quiet_transformers, require, table


def run_once(args: argparse.Namespace, seed: int, train, held) -> list[str]:
    from rewards.engine import RewardConfig, train_reward_model

    # An ensemble is trained and evaluated from disk, so it always needs a folder.
    scratch = tempfile.TemporaryDirectory(prefix="hh-rm-") if args.ensemble_size > 1 and not args.out else None
    out = scratch.name if scratch else args.out
    with Timer() as wall:
        overrides = {"lora_r": args.lora_r, "lora_dropout": args.lora_dropout, "weight_decay": args.weight_decay,
                     "max_length": args.max_length, "pooling": args.pooling, "batch_size": args.batch_size,
                     "learning_rate": args.lr, "num_epochs": args.epochs, "warmup_ratio": args.warmup_ratio}
        given = {k: v for k, v in overrides.items() if v is not None}
        if args.lora_r is not None:
            given["lora_alpha"] = 2 * args.lora_r
        cfg = RewardConfig(base_model=minilm_path(), output_dir=out, ensemble_size=args.ensemble_size,
                           target_modules=args.target_modules.split(",") if args.target_modules else None,
                           threads=args.threads, precision="auto", logging_steps=20, seed=seed, **given)
        result = train_reward_model(cfg, train, held, progress=True, save=bool(out))
    if scratch:
        scratch.cleanup()
    m = result.metrics
    members = "/".join(f"{a:.4f}" for a in m.get("member_eval_accuracy", []))
    return [str(seed), f"{m['eval_accuracy']:.4f}", members or "-", m["eval_n"], f"{m['eval_ece']:.4f}",
            f"{m['eval_reward_std']:.3f}", f"{result.train_seconds:.0f}", f"{wall.seconds:.0f}",
            f"{result.elements_per_second:.1f}", load_avg()]


def cross_validate(args: argparse.Namespace, elements, fold_ids: list[int]) -> None:
    seed = int(args.seeds.split(",")[0])
    rows, correct, total = [], 0.0, 0
    for fold in fold_ids:
        train = [e for e in elements if prompt_fold(e.prompt, 10) != fold]
        held = [e for e in elements if prompt_fold(e.prompt, 10) == fold]
        row = run_once(args, seed, train, held)
        rows.append([f"fold {fold}", *row])
        print(rows[-1], flush=True)
        correct += float(row[1]) * int(row[3])
        total += int(row[3])
    print(table(rows, ["held-out set", "seed", "held-out acc", "members' acc", "n", "ECE", "reward std", "train s",
                       "wall s", "pairs/s", "load avg"]))
    se = (correct / total * (1 - correct / total) / total) ** 0.5
    print(f"pooled held-out accuracy {correct / total:.4f} over {total} pairs in {len(fold_ids)} folds "
          f"(binomial SE {se:.4f}); target 0.63; load average at end {load_avg()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = "(default: the engine's)"
    ap.add_argument("--epochs", type=float, help=default)
    ap.add_argument("--lr", type=float, help=default)
    ap.add_argument("--lora-r", type=int, help=default + "; alpha = 2r when given")
    ap.add_argument("--lora-dropout", type=float, help=default)
    ap.add_argument("--weight-decay", type=float, help=default)
    ap.add_argument("--target-modules", default="",
                    help="Comma-separated; empty = the engine's default for the architecture.")
    ap.add_argument("--batch-size", type=int, help=default)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pooling", help="auto (the engine's default for the base), cls or mean " + default)
    ap.add_argument("--max-length", type=int, help=default)
    ap.add_argument("--warmup-ratio", type=float, help=default)
    ap.add_argument("--ensemble-size", type=int, default=1,
                    help="Members per model (seeds seed..seed+K-1), scored by their mean reward.")
    ap.add_argument("--seeds", default="0", help="Comma-separated seeds, one full run (or ensemble) each.")
    ap.add_argument("--out", default="", help="Save the adapter here (default: not saved).")
    ap.add_argument("--folds", default="",
                    help="Cross-validation instead of seeds: fold ids of a 10-fold split by prompt, e.g. 0,1,2,3,4"
                         " (fold 0 is the standard split); one run each with the first seed, accuracy pooled.")
    args = ap.parse_args()
    quiet_transformers()
    with Timer() as load:
        from rewards.engine import read_elements, split_by_prompt

        elements = read_elements(require(HH_DEV))
        train, held = split_by_prompt(elements, 0.1, seed=0)
    print(f"train {len(train)} pairs, held-out {len(held)}; load average {load_avg()}; {vars(args)}", flush=True)
    if args.folds:
        return cross_validate(args, elements, [int(f) for f in args.folds.split(",")])
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        rows.append(run_once(args, seed, train, held))
        print(rows[-1], flush=True)
    header = ["seed", "held-out acc", "members' acc", "n", "ECE", "reward std", "train s", "wall s", "pairs/s",
              "load avg"]
    print(table(rows, header))
    accs = [float(r[1]) for r in rows]
    if len(accs) > 1:
        print(f"mean accuracy {statistics.mean(accs):.4f} (sd {statistics.stdev(accs):.4f}, min {min(accs):.4f}) "
              f"over {len(accs)} seeds")
    print(f"data load {load.seconds:.1f}s; target: accuracy >= 0.63 within 1200 s wall per run on 2 cores; "
          f"load average at end {load_avg()}")


if __name__ == "__main__":
    main()
