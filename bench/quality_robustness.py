"""Label-quality robustness to injected spam across many crowds, not one (issue 13 part 2, a sketch).

Run from the repo root:  .venv/bin/python bench/quality_robustness.py  [--seed 0] [--items 600] [--quick]
                                                                       [--no-ukp]
Synthetic crowds vary the worker pool (skill mix, share of near-chance workers, labels per worker),
the tie rate, per-item difficulty and labels per item; spam of four kinds (random clickers,
always-left, too-fast, and "marginal" clickers who copy the crowd's label mix with honest timing)
is injected until it makes 10 % and 30 % of all labels. UKPConvArg1 (../shared/data, see its
SOURCE.txt; Habernal & Gurevych, ACL 2016, CC-BY 4.0) is one more row, scored against its gold.
For each crowd: accuracy against the truth of majority vote, crowd-kit's DawidSkene (bench
dependency; skipped if missing) and ours (quality_eval's pass with the project defaults), and the
drop from real labels to 30 % spam. The summary is over all crowds: a method that wins one
crowd and loses the rest shows as such. Nothing here is tuned; it is the harness to tune against.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from labeling.quality.config import QualityConfig  # noqa: E402
from labeling.quality.evaluate import LabelLine, evaluate_lines  # noqa: E402
from labeling.quality.majority import fit_majority  # noqa: E402

CLASSES = ("a", "b", "tie")
SPAM_KINDS = ("random", "left", "fast", "marginal")
SHARES = (0.1, 0.3)


@dataclass(frozen=True)
class Crowd:
    """One synthetic crowd. Worker skill s in 0..1 (0 = chance, 1 = always right on an easy item)."""

    skill: tuple[float, float]  # Beta(a, b) of honest workers' skill
    near_chance: float  # share of honest workers at chance (skill 0-0.1)
    labels_per_worker: int  # mean; activity is heavy-tailed
    labels_per_item: int
    tie_rate: float  # share of items whose truth is a tie
    hard_items: float  # share of items on which every worker's skill is cut to a fifth

    @property
    def name(self) -> str:
        return (f"skill B{self.skill} chance {self.near_chance:.0%} lpw {self.labels_per_worker} "
                f"lpi {self.labels_per_item} ties {self.tie_rate:.0%} hard {self.hard_items:.0%}")


def crowds(quick: bool) -> list[Crowd]:
    grid = itertools.product(
        [(6.0, 2.0), (2.0, 2.0)],  # skilled (mean 0.75), mediocre (mean 0.5)
        [0.0, 0.3],  # near-chance workers
        [15, 80],  # labels per worker
        [3, 5, 10],  # labels per item
        [0.0, 0.2],  # tie rate
    )
    out = [Crowd(skill, chance, lpw, lpi, ties, 0.2) for skill, chance, lpw, lpi, ties in grid]
    return out[::7] if quick else out


def simulate(crowd: Crowd, n_items: int, rng: np.random.Generator) -> tuple[list[LabelLine], dict[str, str]]:
    """Honest labels of one crowd, and the truth per item."""
    truth = {f"i{i}": (CLASSES[2] if rng.random() < crowd.tie_rate else CLASSES[rng.integers(2)])
             for i in range(n_items)}
    words = {item: int(rng.integers(60, 250)) for item in truth}
    hard = {item: rng.random() < crowd.hard_items for item in truth}
    n_workers = max(crowd.labels_per_item + 1, n_items * crowd.labels_per_item // crowd.labels_per_worker)
    skill = rng.beta(*crowd.skill, size=n_workers)
    chance = rng.random(n_workers) < crowd.near_chance
    skill[chance] = rng.uniform(0.0, 0.1, size=chance.sum())
    tie_when_wrong = rng.uniform(0.1, 0.6, size=n_workers)  # each worker's habit when unsure
    speed = rng.uniform(2.0, 6.0, size=n_workers)  # words per second read
    activity = rng.pareto(1.5, size=n_workers) + 1.0
    activity /= activity.sum()
    lines = []
    for item, true in truth.items():
        for w in rng.choice(n_workers, size=crowd.labels_per_item, replace=False, p=activity):
            s = skill[w] / 5 if hard[item] else skill[w]
            if rng.random() < 1 / 3 + (2 / 3) * s:
                label = true
            else:
                wrong = [c for c in CLASSES if c != true]
                label = "tie" if "tie" in wrong and rng.random() < tie_when_wrong[w] else wrong[rng.integers(2)]
            seconds = words[item] / speed[w] * float(rng.lognormal(0.0, 0.3))
            lines.append(LabelLine(item, f"w{w}", label, seconds, words[item]))
    return lines, truth


def inject(real: list[LabelLine], share: float, rng: np.random.Generator) -> tuple[list[LabelLine], set[str]]:
    """Add spammer ids until spam is `share` of all labels, the kinds in turn; each spammer's size
    drawn from the honest workers' label counts (>= 10), so spammers look like ordinary workers."""
    n_spam = int(round(share / (1.0 - share) * len(real)))
    counts = np.unique([line.annotator_id for line in real], return_counts=True)[1]
    sizes = counts[counts >= 10] if (counts >= 10).any() else counts
    words = {line.item_id: line.words or 100 for line in real}
    items = sorted(words)
    marginal = np.array([sum(line.label == c for line in real) for c in CLASSES], dtype=float)
    marginal /= marginal.sum()
    rates = np.array([line.seconds / max(line.words or 1, 1) for line in real if line.seconds is not None])
    spam, ids, made = [], set(), 0
    while made < n_spam:
        kind = SPAM_KINDS[len(ids) % len(SPAM_KINDS)]
        wid = f"SPAM-{kind}-{len(ids):05d}"
        ids.add(wid)
        size = int(min(rng.choice(sizes), n_spam - made, len(items)))
        for item in rng.choice(items, size=size, replace=False):
            if kind == "left":
                label = "a"
            elif kind == "marginal":
                label = CLASSES[rng.choice(3, p=marginal)]
            else:
                label = CLASSES[rng.integers(3)]
            fast = kind == "fast"
            seconds = float(rng.uniform(0.5, 2.5)) if fast else float(rng.choice(rates) * words[item])
            spam.append(LabelLine(str(item), wid, label, seconds, words[item]))
        made += size
    return real + spam, ids


def majority(lines: list[LabelLine]) -> dict[str, str]:
    fit = fit_majority([(line.item_id, line.annotator_id, line.label) for line in lines])
    return dict(zip(fit.items, fit.labels(), strict=True))


def crowdkit_ds(lines: list[LabelLine]) -> dict[str, str]:
    import pandas as pd
    from crowdkit.aggregation import DawidSkene

    frame = pd.DataFrame({"task": [line.item_id for line in lines], "worker": [line.annotator_id for line in lines],
                          "label": [line.label for line in lines]})
    return DawidSkene(n_iter=100).fit_predict(frame).to_dict()


def ours(lines: list[LabelLine]) -> dict[str, str]:
    return {item.item_id: item.label for item in evaluate_lines(lines, QualityConfig()).items}


def accuracy(pred: dict[str, str], truth: dict[str, str]) -> float:
    keys = [k for k in truth if k in pred]
    return float(np.mean([pred[k] == truth[k] for k in keys]))


def methods() -> dict[str, object]:
    found = {"majority vote": majority}
    try:
        import crowdkit  # noqa: F401

        found["crowd-kit DS"] = crowdkit_ds
    except ImportError:
        print("crowd-kit not installed (make bench-deps): its column is left out")
    found["ours"] = ours
    return found


def evaluate(name: str, real: list[LabelLine], truth: dict[str, str], rng: np.random.Generator,
             table: list[dict]) -> None:
    mixed = {0.0: real}
    for share in SHARES:
        mixed[share] = inject(real, share, rng)[0]
    row: dict = {"crowd": name}
    for method, fn in methods().items():
        for share, lines in mixed.items():
            started = time.perf_counter()
            row[(method, share)] = accuracy(fn(lines), truth)
            row[(method, "sec")] = row.get((method, "sec"), 0.0) + time.perf_counter() - started
    table.append(row)
    print(_format(row), flush=True)


def _format(row: dict) -> str:
    cells = []
    for method in methods_seen(row):
        real, spam = row[(method, 0.0)], row[(method, 0.3)]
        cells.append(f"{method}: {real:.3f} / {row[(method, 0.1)]:.3f} / {spam:.3f} ({100 * (real - spam):+.1f} pt)")
    return f"{row['crowd']:62} " + " | ".join(cells)


def methods_seen(row: dict) -> list[str]:
    return list(dict.fromkeys(key[0] for key in row if isinstance(key, tuple)))


def ukp_rows(table: list[dict], rng: np.random.Generator) -> None:
    sys.path.insert(0, str(REPO / "bench"))
    import quality_ukp

    if not quality_ukp.DATA.exists():
        print(f"UKPConvArg1 not found at {quality_ukp.DATA}: its row is left out")
        return
    real, gold, _, _ = quality_ukp.load()
    evaluate("UKPConvArg1 (against its gold)", real, gold, rng, table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--items", type=int, default=600, help="items per synthetic crowd")
    parser.add_argument("--quick", action="store_true", help="every seventh crowd of the grid")
    parser.add_argument("--no-ukp", action="store_true", help="leave out the UKPConvArg1 row")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    table: list[dict] = []
    print("accuracy on real labels / 10 % spam / 30 % spam (drop real -> 30 %)")
    for crowd in crowds(args.quick):
        real, truth = simulate(crowd, args.items, rng)
        evaluate(crowd.name, real, truth, rng, table)
    if not args.no_ukp:
        ukp_rows(table, rng)
    print(f"\nsummary over {len(table)} crowds:")
    for method in methods_seen(table[0]):
        real = np.array([row[(method, 0.0)] for row in table])
        drop = np.array([row[(method, 0.0)] - row[(method, 0.3)] for row in table])
        secs = sum(row[(method, "sec")] for row in table)
        print(f"  {method:14} real {real.mean():.3f} (min {real.min():.3f}); drop at 30 %: mean "
              f"{100 * drop.mean():.1f} pt, worst {100 * drop.max():.1f} pt, within 2 pt in "
              f"{int((drop <= 0.02).sum())}/{len(table)}; {secs:.0f} s")
    if "crowd-kit DS" in methods_seen(table[0]):
        beat = sum(row[("ours", 0.0)] >= row[("crowd-kit DS", 0.0)] for row in table)
        both = sum(row[("ours", 0.0)] >= row[("crowd-kit DS", 0.0)] and row[("ours", 0.0)] - row[("ours", 0.3)] <= 0.02
                   for row in table)
        print(f"  ours >= crowd-kit DS on real labels in {beat}/{len(table)} crowds; that and <= 2 pt lost to "
              f"30 % spam (the issue's target) in {both}/{len(table)}")


if __name__ == "__main__":
    main()
