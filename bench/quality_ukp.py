"""Label-quality benchmark on UKPConvArg1 real crowd labels (84k labels, 3.8k workers).

Run from the repo root:  .venv/bin/python bench/quality_ukp.py  [--seed 0]
Needs ../shared/data/ukpconvarg1/ (never copied into the repo) and crowd-kit from
bench/requirements.txt. Prints one table: majority vote, crowd-kit's DawidSkene and ours,
accuracy against the corpus gold labels, then ours under injected synthetic spammers. "Ours" is
the service's quality pass with the project defaults (labeling/quality/pipeline.py and config.py),
through quality_eval's adapter (labeling/quality/evaluate.py).
Data: UKPConvArg1, Habernal & Gurevych (ACL 2016), CC-BY 4.0; see the folder's SOURCE.txt.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from labeling.quality.config import Filters, QualityConfig  # noqa: E402
from labeling.quality.evaluate import LabelLine as Judgment  # noqa: E402
from labeling.quality.evaluate import evaluate_lines  # noqa: E402
from labeling.quality.majority import fit_majority  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "ukpconvarg1" / "pairs_with_assignments.jsonl.gz"
LABELS = {"a1": "a", "a2": "b", "equal": "tie"}  # the corpus's values -> ours
CLASSES = ("a", "b", "tie")


def load() -> tuple[list[Judgment], dict[str, str], set[str], dict[str, int]]:
    """Judgments, gold labels, the "4 of 5 agree" pairs, and words shown per pair."""
    if not DATA.exists():
        sys.exit(f"UKPConvArg1 data not found at {DATA}; it lives in ../shared/data/ (see its README).")
    rows = [json.loads(line) for line in gzip.open(DATA, "rt", encoding="utf-8")]
    words = {r["pair_id"]: len(r["arg1"]["text"].split()) + len(r["arg2"]["text"].split()) for r in rows}
    # `seconds` covers a whole HIT (usually 3 pairs): give each label the HIT's time split in
    # proportion to the words of its pair. Then "label too fast for its words" is exactly
    # "HIT too fast for all the words it showed", and we never invent per-pair timings.
    hit_words: Counter = Counter()
    for r in rows:
        for a in r["assignments"]:
            hit_words[(a["worker_id"], a["hit_id"])] += words[r["pair_id"]]
    judgments, gold, strong = [], {}, set()
    for r in rows:
        if r["gold_label"]:
            gold[r["pair_id"]] = LABELS[r["gold_label"]]
        counts = Counter(a["label"] for a in r["assignments"])
        if len(r["assignments"]) == 5 and counts.most_common(1)[0][1] >= 4:
            strong.add(r["pair_id"])
        for a in r["assignments"]:
            share = words[r["pair_id"]] / hit_words[(a["worker_id"], a["hit_id"])]
            sec = None if a["seconds"] is None else float(a["seconds"]) * share
            judgments.append(Judgment(r["pair_id"], a["worker_id"], LABELS[a["label"]], sec, words[r["pair_id"]]))
    return judgments, gold, strong, words


def accuracy(pred: dict[str, str], gold: dict[str, str], subset: set[str] | None = None) -> float:
    keys = [k for k in gold if k in pred and (subset is None or k in subset)]
    return float(np.mean([pred[k] == gold[k] for k in keys]))


def crowdkit_ds(judgments: list[Judgment]) -> dict[str, str]:
    import pandas as pd
    from crowdkit.aggregation import DawidSkene

    df = pd.DataFrame(
        {
            "task": [j.item_id for j in judgments],
            "worker": [j.annotator_id for j in judgments],
            "label": [j.label for j in judgments],
        }
    )
    return DawidSkene(n_iter=100).fit_predict(df).to_dict()


def majority(judgments: list[Judgment]) -> dict[str, str]:
    fit = fit_majority([(j.item_id, j.annotator_id, j.label) for j in judgments])
    return dict(zip(fit.items, fit.labels(), strict=True))


def inject_spam(real: list[Judgment], share: float, words: dict[str, int], rng: np.random.Generator):
    """Add spammer ids so spam is `share` of all labels; one third each of three kinds.

    Spammer sizes are drawn from the label counts of real workers with >= 10 labels, so they
    look like ordinary regular workers (no giant, easy-to-spot spammers).
    """
    n_spam = int(round(share / (1.0 - share) * len(real)))
    per_worker = np.bincount(np.unique([j.annotator_id for j in real], return_inverse=True)[1])
    sizes_pool = per_worker[per_worker >= 10]
    items = sorted(words)
    real_secs = np.array([j.seconds for j in real if j.seconds is not None])
    real_rate = real_secs / np.array([j.words for j in real if j.seconds is not None])  # seconds per word
    spam, ids, made = [], set(), 0
    kinds = ["random", "left", "fast"]
    while made < n_spam:
        kind = kinds[len(ids) % 3]
        wid = f"SPAM-{kind}-{len(ids):04d}"
        ids.add(wid)
        size = int(min(rng.choice(sizes_pool), n_spam - made))
        for item in rng.choice(items, size=size, replace=False):
            label = "a" if kind == "left" else CLASSES[rng.integers(3)]
            if kind == "fast":
                sec = float(rng.uniform(0.5, 2.5))  # a HIT of 3 pairs in under ~8 s
            else:
                sec = float(rng.choice(real_rate) * words[item])  # honest-looking timing
            spam.append(Judgment(str(item), wid, label, sec, words[item]))
        made += size
    return real + spam, ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--min-informativeness",
        type=float,
        default=QualityConfig().min_informativeness,
        help="chance-corrected reliability below which a worker is flagged (the project setting)",
    )
    args = parser.parse_args()
    real, gold, strong, words = load()
    cfg = QualityConfig(min_informativeness=args.min_informativeness)
    print(
        f"UKPConvArg1: {len(real)} labels, {len({j.annotator_id for j in real})} workers, "
        f"{len(words)} pairs, {len(gold)} with gold; {len(strong & set(gold))} gold pairs with >= 4/5 agreement"
    )
    rows = []

    def timed(name: str, fn, judgments, spam_ids=frozenset()):
        t = time.perf_counter()
        out = fn(judgments)
        dt = time.perf_counter() - t
        pred, flagged = out if isinstance(out, tuple) else (out, None)
        row = {"setting": name, "acc": accuracy(pred, gold), "acc_4of5": accuracy(pred, gold, strong), "s": dt}
        if flagged is not None:
            tp = len(flagged & spam_ids)
            row["flagged"] = len(flagged)
            row["prec"] = tp / len(flagged) if flagged else float("nan")
            row["rec"] = tp / len(spam_ids) if spam_ids else float("nan")
            # The same, counting labels instead of annotators: how much spam the clean set keeps out.
            n_labels = Counter(j.annotator_id for j in judgments)
            flagged_labels = sum(n_labels[w] for w in flagged)
            spam_labels = sum(n_labels[w] for w in spam_ids)
            caught_labels = sum(n_labels[w] for w in flagged & spam_ids)
            row["lprec"] = caught_labels / flagged_labels if flagged_labels else float("nan")
            row["lrec"] = caught_labels / spam_labels if spam_labels else float("nan")
        rows.append(row)
        return row

    details = []

    def ours(judgments):
        res = evaluate_lines(judgments, cfg)
        details.append(res)
        return {i.item_id: i.label for i in res.items}, res.flagged

    timed("real / majority vote", majority, real)
    timed("real / crowd-kit DawidSkene", crowdkit_ds, real)
    timed(
        "real / ours (DS, no filtering)",
        ours_nofilter := (
            lambda js: {
                i.item_id: i.label for i in evaluate_lines(js, QualityConfig(filters=Filters.none())).items
            }
        ),
        real,
    )
    base = timed("real / ours (DS + spam filter)", ours, real)
    rng = np.random.default_rng(args.seed)
    breakdowns = []
    for share in (0.1, 0.3, 0.5):
        mixed, spam_ids = inject_spam(real, share, words, rng)
        tag = f"{int(share * 100)}% spam ({len(spam_ids)} ids)"
        timed(f"{tag} / majority vote", majority, mixed)
        timed(f"{tag} / crowd-kit DawidSkene", crowdkit_ds, mixed)
        timed(f"{tag} / ours (DS, no filtering)", ours_nofilter, mixed)
        row = timed(f"{tag} / ours (DS + spam filter)", ours, mixed, spam_ids)
        row["drop"] = base["acc"] - row["acc"]
        ceiling = answer_key_ceiling(mixed, spam_ids, gold)
        breakdowns.append((tag, spam_ids, details[-1], gold_acc_of(real, gold), ceiling))

    print(
        f"\n{'setting':52} {'acc gold':>8} {'acc 4/5':>8} {'drop':>6} {'flagged':>7} {'prec':>5} {'rec':>5} "
        f"{'lprec':>5} {'lrec':>5} {'sec':>6}"
    )
    for r in rows:
        print(
            f"{r['setting']:52} {r['acc']:8.4f} {r['acc_4of5']:8.4f} {_fmt(r, 'drop', '6.4f'):>6} "
            f"{_fmt(r, 'flagged', 'd'):>7} {_fmt(r, 'prec', '5.3f'):>5} {_fmt(r, 'rec', '5.3f'):>5} "
            f"{_fmt(r, 'lprec', '5.3f'):>5} {_fmt(r, 'lrec', '5.3f'):>5} {r['s']:6.2f}"
        )
    print("prec/rec: spammer ids flagged (the target's unit); lprec/lrec: the same counted in labels")
    print("\nDetection detail (ours, DS + spam filter):")
    for tag, spam_ids, res, gold_acc, ceiling in breakdowns:
        print_breakdown(tag, spam_ids, res, gold_acc)
        print(f"    answer-key ceiling, best recall at precision >= 0.95: agreement with gold {ceiling['gold']:.3f}, "
              f"with the label mix too {ceiling['gold+mix']:.3f} (see answer_key_ceiling)")


def _fmt(row: dict, key: str, spec: str) -> str:
    return format(row[key], spec) if key in row else "-"


def gold_acc_of(real: list[Judgment], gold: dict[str, str]) -> dict[str, float]:
    """Each real worker's accuracy against the corpus gold labels (a diagnostic only)."""
    hits: Counter = Counter()
    seen: Counter = Counter()
    for j in real:
        if j.item_id in gold:
            seen[j.annotator_id] += 1
            hits[j.annotator_id] += j.label == gold[j.item_id]
    return {w: hits[w] / seen[w] for w in seen}


def answer_key_ceiling(mixed: list[Judgment], spam_ids: set[str], gold: dict[str, str]) -> dict[str, float]:
    """Best recall at precision >= 0.95 that per-annotator evidence allows, *cheating*.

    A diagnostic, not a method: it reads the gold labels and the spammer generator. Always-left and
    too-fast spammers count as caught; every other annotator with >= 10 labels is ranked by the
    likelihood ratio "random clicker" vs "real worker", which is the Bayes-optimal ranking on that
    evidence. `gold`: their agreement with gold (accuracy 1/3 as generated, against the accuracies of
    real workers with >= 30 gold labels). `gold+mix`: that times the likelihood ratio of their label
    mix (uniform over a/b/tie, as generated, against the label mixes of those real workers). Real
    workers at chance cap both below 1.
    """
    from scipy.stats import binom

    hits: Counter = Counter()
    seen: Counter = Counter()
    mix: dict[str, Counter] = {}
    for j in mixed:
        mix.setdefault(j.annotator_id, Counter())[j.label] += 1
        if j.item_id in gold:
            seen[j.annotator_id] += 1
            hits[j.annotator_id] += j.label == gold[j.item_id]
    reference = [w for w in seen if w not in spam_ids and seen[w] >= 30]
    real_acc = np.array([hits[w] / seen[w] for w in reference])
    real_mix = np.array([[mix[w][c] + 0.5 for c in CLASSES] for w in reference])
    log_real_mix = np.log(real_mix / real_mix.sum(1, keepdims=True))
    caught = sum("-random-" not in w for w in spam_ids)
    pool = [w for w in mix if sum(mix[w].values()) >= 10 and seen[w] and (w not in spam_ids or "-random-" in w)]

    def log_lr_gold(w: str) -> float:
        return float(np.log(binom.pmf(hits[w], seen[w], 1 / 3)) -
                     np.log(binom.pmf(hits[w], seen[w], real_acc).mean()))

    def log_lr_mix(w: str) -> float:
        counts = np.array([mix[w][c] for c in CLASSES])
        per_real = log_real_mix @ counts
        top = per_real.max()
        return float(counts.sum() * np.log(1 / 3) - (top + np.log(np.exp(per_real - top).mean())))

    def best_recall(score: dict[str, float]) -> float:
        tp, fp, best = caught, 0, 0.0
        for w in sorted(pool, key=lambda w: -score[w]):
            tp, fp = tp + (w in spam_ids), fp + (w not in spam_ids)
            if tp / (tp + fp) >= 0.95:
                best = max(best, tp / len(spam_ids))
        return best

    with np.errstate(divide="ignore"):
        gold_lr = {w: log_lr_gold(w) for w in pool}
    return {"gold": best_recall(gold_lr), "gold+mix": best_recall({w: gold_lr[w] + log_lr_mix(w) for w in pool})}


def print_breakdown(tag: str, spam_ids: set[str], res, gold_acc: dict[str, float]) -> None:
    reports = res.annotators
    parts = []
    for kind in ("random", "left", "fast"):
        ids = [i for i in spam_ids if f"-{kind}-" in i]
        parts.append(f"{kind} {sum(reports[i].flagged for i in ids)}/{len(ids)}")
    big = [i for i in spam_ids if reports[i].n_judgments >= 30]
    small = [i for i in spam_ids if reports[i].n_judgments < 30]
    n_spam_labels = sum(reports[i].n_judgments for i in spam_ids)
    caught_labels = sum(reports[i].n_judgments for i in spam_ids if reports[i].flagged)
    real_flagged = [w for w in res.flagged if w not in spam_ids]
    accs = [gold_acc[w] for w in real_flagged if w in gold_acc]
    print(
        f"  {tag}: recall by kind {', '.join(parts)}; recall n>=30 labels "
        f"{sum(reports[i].flagged for i in big)}/{len(big)}, n<30 {sum(reports[i].flagged for i in small)}/"
        f"{len(small)}; spam labels removed {caught_labels / n_spam_labels:.3f}; real workers flagged "
        f"{len(real_flagged)} (their mean accuracy vs gold {np.mean(accs) if accs else float('nan'):.3f})"
    )


if __name__ == "__main__":
    main()
