"""The Dirichlet prior on each annotator's confusion rows in Dawid-Skene: a worker/spammer mixture.

Each confusion row gets a few pseudo-labels (prior_strength) around a centre. Centred on the pooled
confusion alone, an annotator with 3-6 labels counts as an average worker, so a crowd of small
spammers (too few labels each to be flagged) outvotes the real annotators: with 30 % of the labels
from always-left clickers of 6 labels each, 22 of 80 synthetic crowds lost 20 points or more
(`bench/quality_robustness.py --spammer-labels 6 --per-kind`; bench/README_quality.md).

Here the centre is a mixture, in the spirit of MACE: with probability w_j annotator j is a worker
(rows centred on the pooled confusion of the workers) and otherwise a spammer, whose labels do not
depend on the truth (rows centred on j's own label shares). w_j is the posterior of "worker" given
j's labels: their likelihood under the pooled confusion and the current item posteriors, against
a Dirichlet-multinomial (labels drawn at a rate of their own, around the spammers' pooled label
shares); the share of spammers and what they say are learned (empirical Bayes). An annotator with
many labels is ruled by their own counts either way; one with 3 labels that agree with the
consensus is a worker, one with 3 "a" on unclear items, when spammers click "a", is a spammer.
"""

import numpy as np
from scipy.special import gammaln

Memberships = tuple[np.ndarray, float]  # per annotator P(worker), and the share of spammers


def worker_probability(
    item_idx: np.ndarray, ann_idx: np.ndarray, label_idx: np.ndarray, posteriors: np.ndarray,
    counts: np.ndarray, floor: float, start: Memberships | None = None, max_rounds: int = 10,
    tol: float = 1e-3,
) -> tuple[Memberships, np.ndarray]:
    """The memberships (per annotator the probability of being a worker, and the spammers' share)
    and the pooled confusion of the workers (true class x reported class). ``counts`` are the soft
    counts annotator x true x said. The pooled confusion and the memberships depend on each other:
    rounds until they settle, from ``start`` (the previous EM step's) when given."""
    n_ann, _, k = counts.shape
    said = counts.sum(axis=1)  # annotator x reported class: their label counts
    n = said.sum(axis=1)
    worker, spam_share = (np.ones(n_ann), 0.5) if start is None else start
    for _ in range(max_rounds):
        previous = worker
        pooled = np.einsum("j,jtl->tl", worker, counts) + floor
        pooled /= pooled.sum(axis=1, keepdims=True)
        p_label = np.einsum("ut,tu->u", posteriors[item_idx], pooled[:, label_idx])
        log_worker = np.bincount(ann_idx, weights=np.log(p_label), minlength=n_ann)
        # log P(labels | spammer): a label rate of their own, drawn around what spammers say (a
        # Dirichlet of total weight k centred on the spammers' pooled label shares, uniform at
        # first). Spammers who all click "a" make "a a a" from a newcomer read as spam.
        spam_said = (1.0 - worker) @ said + 1.0
        base = k * spam_said / spam_said.sum()
        log_spammer = gammaln(k) - gammaln(n + k) + (gammaln(said + base) - gammaln(base)).sum(axis=1)
        for _ in range(20):  # the spammer share and the memberships, to a fixed point
            logit = np.log1p(-spam_share) - np.log(spam_share) + log_worker - log_spammer
            worker = 1.0 / (1.0 + np.exp(-np.clip(logit, -50.0, 50.0)))
            spam_share = (np.sum(1.0 - worker) + 1.0) / (n_ann + 2.0)
        if np.abs(worker - previous).max() < tol:
            break
    return (worker, spam_share), pooled


def prior_centre(
    item_idx: np.ndarray, ann_idx: np.ndarray, label_idx: np.ndarray, posteriors: np.ndarray,
    counts: np.ndarray, floor: float, start: Memberships | None = None,
) -> tuple[np.ndarray, Memberships]:
    """Annotator x true x said: where each annotator's confusion rows are pulled to; and the
    memberships, to start the next EM step from."""
    members, pooled = worker_probability(item_idx, ann_idx, label_idx, posteriors, counts, floor, start)
    worker = members[0]
    own = counts.sum(axis=1) + floor
    own /= own.sum(axis=1, keepdims=True)
    return worker[:, None, None] * pooled[None] + (1.0 - worker)[:, None, None] * own[:, None, :], members
