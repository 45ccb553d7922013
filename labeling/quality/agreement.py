"""Inter-annotator agreement: Krippendorff's alpha, Cohen's kappa, Kendall's tau-b, leave-one-out.

Krippendorff's alpha follows "Computing Krippendorff's Alpha-Reliability" (2011): build the
coincidence matrix from all pairable values, then alpha = 1 - (n - 1) * sum(o * d) / sum(n_c n_k d).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Level = Literal["nominal", "ordinal"]


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def krippendorff_alpha(data: Sequence[Sequence[object]] | np.ndarray, level: Level = "nominal") -> float:
    """Alpha for a units x coders table; ``None`` or NaN marks a missing value.

    Units with fewer than two values are not pairable and are ignored (as in the paper).
    Ordinal values must be sortable; their order defines the ordinal metric.
    """
    rows = [[v for v in row if not _is_missing(v)] for row in data]
    rows = [row for row in rows if len(row) >= 2]
    values = sorted({v for row in rows for v in row})
    if len(values) < 2:
        # Everyone used one value (or nothing is pairable): disagreement is undefined.
        return float("nan") if not rows else 1.0
    index = {v: i for i, v in enumerate(values)}
    counts = np.zeros((len(rows), len(values)))
    for u, row in enumerate(rows):
        for v in row:
            counts[u, index[v]] += 1
    m = counts.sum(axis=1)
    # Coincidences: every ordered pair of values within a unit, weighted 1 / (m_u - 1).
    weighted = counts / (m - 1)[:, None]
    coincidence = counts.T @ weighted - np.diag(weighted.sum(axis=0))
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    delta = _distance(n_c, level)
    observed = (coincidence * delta).sum()
    expected = (np.outer(n_c, n_c) * delta).sum()
    return float(1.0 - (n - 1) * observed / expected)


def _distance(n_c: np.ndarray, level: Level) -> np.ndarray:
    k = len(n_c)
    if level == "nominal":
        return 1.0 - np.eye(k)
    if level == "ordinal":
        # delta_ck = (sum_{g=c..k} n_g - (n_c + n_k) / 2) ** 2, using marginal frequencies.
        cum = np.concatenate([[0.0], np.cumsum(n_c)])
        lo = np.minimum.outer(np.arange(k), np.arange(k))
        hi = np.maximum.outer(np.arange(k), np.arange(k))
        span = cum[hi + 1] - cum[lo]
        return (span - (n_c[lo] + n_c[hi]) / 2.0) ** 2
    raise ValueError(f"unknown level {level!r}; use 'nominal' or 'ordinal'")


def cohen_kappa(labels_a: Mapping[Hashable, Hashable], labels_b: Mapping[Hashable, Hashable]) -> float:
    """Cohen's kappa of two annotators over the items both labelled (dicts item -> label)."""
    common = [item for item in labels_a if item in labels_b]
    if not common:
        return float("nan")
    pairs = [(labels_a[i], labels_b[i]) for i in common]
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    marg_a = Counter(a for a, _ in pairs)
    marg_b = Counter(b for _, b in pairs)
    expected = sum(marg_a[c] * marg_b.get(c, 0) for c in marg_a) / (n * n)
    if expected == 1.0:
        # Both always used the same single label: agreement is perfect but carries no information.
        return float("nan")
    return (observed - expected) / (1.0 - expected)


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b between two rankings (scores of the same items, ties allowed).

    O(n^2) memory and time; fine for the few thousand items of one labelling project.
    """
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.shape != ya.shape or xa.ndim != 1:
        raise ValueError("x and y must be 1-d sequences of the same length")
    iu = np.triu_indices(len(xa), k=1)
    dx = np.sign(np.subtract.outer(xa, xa)[iu])
    dy = np.sign(np.subtract.outer(ya, ya)[iu])
    n0 = len(dx)
    ties_x = int((dx == 0).sum())
    ties_y = int((dy == 0).sum())
    denom = math.sqrt((n0 - ties_x) * (n0 - ties_y))
    return float((dx * dy).sum() / denom) if denom else float("nan")


@dataclass(frozen=True)
class LooAgreement:
    """Share of an annotator's labels equal to the majority of the *other* annotators."""

    agreement: float
    n_compared: int


def leave_one_out_agreement(
    labels: Iterable[tuple[Hashable, Hashable, Hashable]],
) -> dict[Hashable, LooAgreement]:
    """Per annotator, agreement with the consensus of the others on the same item.

    ``labels`` holds (item, annotator, label). A label is compared only when the other
    annotators of its item have a unique majority; items with ties among them are skipped.
    """
    triples = list(labels)
    by_item: dict[Hashable, Counter] = defaultdict(Counter)
    for item, _, label in triples:
        by_item[item][label] += 1
    hits: dict[Hashable, int] = defaultdict(int)
    seen: dict[Hashable, int] = defaultdict(int)
    annotators: set[Hashable] = set()
    for item, annotator, label in triples:
        annotators.add(annotator)
        others = by_item[item].copy()
        others[label] -= 1
        top = others.most_common(2)
        if not top or top[0][1] == 0 or (len(top) > 1 and top[1][1] == top[0][1]):
            continue
        seen[annotator] += 1
        hits[annotator] += top[0][0] == label
    return {a: LooAgreement(hits[a] / seen[a] if seen[a] else float("nan"), seen[a]) for a in annotators}
