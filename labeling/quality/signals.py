"""Per-annotator spam signals: speed, position bias, length bias, gold accuracy, a combined score.

All inputs are plain numbers so callers can compute them from the database, a JSONL file or
a benchmark alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import binomtest, norm


def too_fast(
    seconds: float | None,
    words_shown: int | None = None,
    *,
    floor_seconds: float = 3.0,
    max_words_per_second: float = 10.0,
) -> bool:
    """True when a judgment was faster than anyone could have read what was shown.

    Two bounds: an absolute floor, and reading speed (10 words/s is already skimming; careful
    reading is 3-5). Unknown time is never "too fast".
    """
    if seconds is None:
        return False
    if seconds < floor_seconds:
        return True
    return bool(words_shown) and seconds < words_shown / max_words_per_second


@dataclass(frozen=True)
class BiasTest:
    share: float  # observed share of the suspicious choice
    p_value: float  # two-sided binomial test against the base rate
    biased: bool  # p_value < alpha


def position_bias(n_left: int, n_right: int, *, alpha: float = 0.01) -> BiasTest:
    """Binomial test of left choices against 0.5 (ties excluded by the caller)."""
    return _binomial(n_left, n_left + n_right, 0.5, alpha)


def length_bias(n_longer: int, n_total: int, *, base_rate: float = 0.5, alpha: float = 0.01) -> BiasTest:
    """Binomial test of "chose the longer sample" against the population's base rate."""
    return _binomial(n_longer, n_total, base_rate, alpha)


def _binomial(k: int, n: int, p: float, alpha: float) -> BiasTest:
    if n == 0:
        return BiasTest(float("nan"), 1.0, False)
    pv = float(binomtest(k, n, p).pvalue)
    return BiasTest(k / n, pv, pv < alpha)


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (sane at 0/n and n/n, unlike Wald)."""
    if n == 0:
        return 0.0, 1.0
    z = float(norm.ppf(0.5 + confidence / 2.0))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class GoldAccuracy:
    accuracy: float
    low: float
    high: float
    n: int


def gold_accuracy(n_correct: int, n_total: int, *, confidence: float = 0.95) -> GoldAccuracy:
    """Accuracy on gold (honeypot) items with its Wilson interval."""
    low, high = wilson_interval(n_correct, n_total, confidence=confidence)
    acc = n_correct / n_total if n_total else float("nan")
    return GoldAccuracy(acc, low, high, n_total)


def spammer_score(
    *,
    informativeness: float,
    too_fast_share: float = 0.0,
    position: BiasTest | None = None,
    gold: GoldAccuracy | None = None,
    kappa_good: float = 0.5,
) -> float:
    """0 (looks honest) .. 1 (certainly spam): the strongest of the independent pieces of evidence.

    - informativeness (chance-corrected reliability, a kappa): 1 at kappa <= 0, 0 at kappa_good;
    - share of judgments that were too fast;
    - position bias: how lopsided the left/right split is, only when the binomial test rejects;
    - gold: 1 - the upper Wilson bound of gold accuracy (confidently bad on known answers).
    Taking the max, not a sum, keeps each signal interpretable: a score of 0.9 always means
    one concrete signal is at 0.9.
    """
    parts = [
        min(1.0, max(0.0, 1.0 - informativeness / kappa_good)) if math.isfinite(informativeness) else 0.0,
        too_fast_share,
    ]
    if position is not None and position.biased:
        parts.append(abs(2.0 * position.share - 1.0))
    if gold is not None and gold.n:
        parts.append(1.0 - gold.high)
    return float(max(parts))
