"""CrowdBT (Chen, Bennett, Collins-Thompson, Horvitz 2013): Bradley-Terry with annotator quality.

P(annotator j says i beats k) = eta_j * sigma(s_i - s_k) + (1 - eta_j) * sigma(s_k - s_i).
eta_j is the probability that j reports the true order; eta < 0.5 is an adversarial annotator
whose comparisons are effectively flipped, eta = 0.5 a random clicker whose votes carry nothing.
We maximise the joint log posterior over scores and qualities with L-BFGS (Gaussian prior on the
scores, Beta prior on eta), starting from a plain Bradley-Terry fit.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit


@dataclass
class CrowdBTResult:
    items: list[Hashable]
    annotators: list[Hashable]
    scores: np.ndarray  # one Bradley-Terry score per item (mean 0)
    quality: np.ndarray  # eta per annotator
    converged: bool

    def score_of(self) -> dict[Hashable, float]:
        return dict(zip(self.items, self.scores.tolist(), strict=True))

    def quality_of(self) -> dict[Hashable, float]:
        return dict(zip(self.annotators, self.quality.tolist(), strict=True))


def pairs_from_ranking(annotator: Hashable, ranking: Sequence[Hashable | Sequence[Hashable]]) -> list[tuple]:
    """Expand a best-first ranking into (annotator, winner, loser) pairs.

    An entry that is a list/tuple is a group of tied items; tied items produce no pair.
    """
    tiers = [list(t) if isinstance(t, list | tuple) else [t] for t in ranking]
    return [
        (annotator, w, lo) for i, tier in enumerate(tiers) for lower in tiers[i + 1 :] for w in tier for lo in lower
    ]


def fit_crowdbt(
    comparisons: Iterable[tuple[Hashable, Hashable, Hashable]],
    *,
    score_l2: float = 0.1,
    eta_prior: tuple[float, float] = (4.0, 2.0),
    max_iter: int = 500,
) -> CrowdBTResult:
    """Fit item scores and annotator qualities from (annotator, winner, loser) comparisons.

    ``eta_prior`` = Beta(alpha, beta) pseudo-counts; its mean above 0.5 breaks the symmetry
    "flip every score and every eta" and keeps annotators with few comparisons near honest.
    """
    anns: dict[Hashable, int] = {}
    items: dict[Hashable, int] = {}
    a_idx, w_idx, l_idx = [], [], []
    for ann, winner, loser in comparisons:
        a_idx.append(anns.setdefault(ann, len(anns)))
        w_idx.append(items.setdefault(winner, len(items)))
        l_idx.append(items.setdefault(loser, len(items)))
    if not a_idx:
        raise ValueError("no comparisons")
    a, w, lo = (np.array(x, dtype=np.int64) for x in (a_idx, w_idx, l_idx))
    n_items, n_ann = len(items), len(anns)
    alpha, beta = eta_prior

    def bt_objective(s: np.ndarray):
        d = s[w] - s[lo]
        g_d = -expit(-d)  # d/dd of -log sigma(d)
        grad = np.bincount(w, g_d, n_items) - np.bincount(lo, g_d, n_items) + score_l2 * s
        return -log_expit(d).sum() + 0.5 * score_l2 * s @ s, grad

    def objective(params: np.ndarray):
        s, theta = params[:n_items], params[n_items:]
        eta = expit(theta)
        d = s[w] - s[lo]
        p = expit(d)
        lik = eta[a] * p + (1.0 - eta[a]) * (1.0 - p)
        nll = -np.log(lik).sum() + 0.5 * score_l2 * s @ s
        nll -= ((alpha - 1) * np.log(eta) + (beta - 1) * np.log1p(-eta)).sum()
        g_d = -(2.0 * eta[a] - 1.0) * p * (1.0 - p) / lik
        g_s = np.bincount(w, g_d, n_items) - np.bincount(lo, g_d, n_items) + score_l2 * s
        g_eta = np.bincount(a, -(2.0 * p - 1.0) / lik, n_ann) - (alpha - 1) / eta + (beta - 1) / (1.0 - eta)
        return nll, np.concatenate([g_s, g_eta * eta * (1.0 - eta)])

    # Plain BT first: from s = 0 every eta gradient vanishes, so the joint fit needs a start.
    s0 = minimize(bt_objective, np.zeros(n_items), jac=True, method="L-BFGS-B").x
    theta0 = np.full(n_ann, np.log(alpha / beta))  # logit of the prior mean
    res = minimize(objective, np.concatenate([s0, theta0]), jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    scores = res.x[:n_items] - res.x[:n_items].mean()
    return CrowdBTResult(list(items), list(anns), scores, expit(res.x[n_items:]), bool(res.success))
