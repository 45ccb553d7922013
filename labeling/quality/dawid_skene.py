"""Dawid-Skene EM (1979) for categorical labels, e.g. pairwise choices a / b / tie.

Model: each item has a hidden true class k ~ prior; annotator j reports class l with
probability confusion[j, k, l]. EM alternates item posteriors (E) and MAP estimates of
priors and confusion rows under Dirichlet priors (M). Everything is vectorised over labels
with ``np.bincount`` so ~100k labels fit in well under a second per few dozen iterations.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import permutations

import numpy as np

from labeling.quality.annotator_prior import Memberships, prior_centre

CLASSES: tuple[str, ...] = ("a", "b", "tie")


@dataclass
class Encoded:
    """Labels as integer arrays plus the lookup tables to decode them."""

    items: list[Hashable]
    annotators: list[Hashable]
    classes: tuple[Hashable, ...]
    item_idx: np.ndarray
    ann_idx: np.ndarray
    label_idx: np.ndarray


def encode(labels: Iterable[tuple[Hashable, Hashable, Hashable]], classes: Sequence[Hashable] = CLASSES) -> Encoded:
    """Turn (item, annotator, label) triples into index arrays (first-seen order)."""
    cls_index = {c: i for i, c in enumerate(classes)}
    items: dict[Hashable, int] = {}
    anns: dict[Hashable, int] = {}
    ii, aa, ll = [], [], []
    for item, ann, label in labels:
        if label not in cls_index:
            raise ValueError(f"unknown label {label!r}; expected one of {list(classes)}")
        ii.append(items.setdefault(item, len(items)))
        aa.append(anns.setdefault(ann, len(anns)))
        ll.append(cls_index[label])
    return Encoded(
        list(items),
        list(anns),
        tuple(classes),
        np.array(ii, dtype=np.int64),
        np.array(aa, dtype=np.int64),
        np.array(ll, dtype=np.int64),
    )


def vote_shares(enc: Encoded) -> np.ndarray:
    """Items x classes share of votes (the soft majority vote)."""
    k = len(enc.classes)
    votes = np.bincount(enc.item_idx * k + enc.label_idx, minlength=len(enc.items) * k).reshape(-1, k)
    return votes / votes.sum(axis=1, keepdims=True)


@dataclass
class DawidSkeneResult:
    items: list[Hashable]
    annotators: list[Hashable]
    classes: tuple[Hashable, ...]
    posteriors: np.ndarray  # items x classes
    priors: np.ndarray  # classes
    confusion: np.ndarray  # annotators x true class x reported class
    n_labels: np.ndarray  # labels per annotator
    n_iter: int
    converged: bool
    log_likelihood: float

    def labels(self) -> list[Hashable]:
        """Most probable class per item (ties go to the earlier class)."""
        return [self.classes[k] for k in self.posteriors.argmax(axis=1)]

    @property
    def reliability(self) -> np.ndarray:
        """Expected accuracy per annotator: sum_k prior_k * confusion[k, k]."""
        return np.einsum("k,jkk->j", self.priors, self.confusion)

    @property
    def informativeness(self) -> np.ndarray:
        """Chance-corrected reliability (a kappa per annotator): 0 for any spammer.

        Expected accuracy alone rewards "always answer the most common class" (its accuracy
        equals that class's prior), so we subtract the accuracy a label drawn independently
        of the truth with the annotator's own label marginals would reach.
        """
        marginal = np.einsum("k,jkl->jl", self.priors, self.confusion)
        chance = marginal @ self.priors
        return (self.reliability - chance) / np.maximum(1.0 - chance, 1e-12)

    @property
    def weights(self) -> np.ndarray:
        """Judgment weight: log-odds of the chance-corrected accuracy, 0 for spammers.

        For a symmetric-noise annotator with accuracy p over K classes the Bayes-optimal
        vote weight is log((K - 1) p / (1 - p)); we plug in p = 1/K + (1 - 1/K) * max(kappa, 0).
        """
        k = len(self.classes)
        p = 1.0 / k + (1.0 - 1.0 / k) * np.clip(self.informativeness, 0.0, 1.0 - 1e-6)
        return np.log((k - 1) * p / (1.0 - p))


def fit_dawid_skene(
    labels: Iterable[tuple[Hashable, Hashable, Hashable]] | Encoded,
    classes: Sequence[Hashable] = CLASSES,
    *,
    prior_strength: float = 3.0,
    diag_prior: float = 0.0,
    floor_pseudo: float = 0.01,
    class_prior: float = 1.0,
    label_prior: float = 0.0,
    drop_unused: bool = True,
    drop_unrecognised: bool = True,
    require_shared: bool = True,
    shared_ratio: float = 0.25,
    spammer_mixture: bool = True,
    never_true: Sequence[Hashable] = (),
    align: bool = True,
    init: np.ndarray | None = None,
    max_iter: int = 1000,
    tol: float = 1e-5,
) -> DawidSkeneResult:
    """Fit Dawid-Skene by EM, starting from the soft majority vote (or ``init``, items x classes).

    Smoothing is an empirical-Bayes Dirichlet prior: each confusion row gets ``prior_strength``
    pseudo-labels plus ``floor_pseudo`` per cell so nothing is ever exactly 0. With
    ``spammer_mixture`` (default) the pseudo-labels are centred on a worker/spammer mixture (see
    annotator_prior): the pooled confusion of the workers for an annotator whose labels look like a
    worker's, their own label shares (labels independent of the truth) for one who looks like a
    spammer. Without it, on the pooled confusion of *all* annotators (the "average worker"). An
    annotator with 3 labels thus stays near a worker or a spammer instead of getting a perfect or
    all-wrong matrix; one with 300 labels is ruled by their own data. ``diag_prior`` optionally adds
    pseudo-counts on the diagonal ("annotators beat chance"); off by default because on UKPConvArg1 it lowered
    accuracy (strength 3 / diag 0 did best of a small grid, see bench/README_quality.md).
    ``tol`` is the largest change of any confusion entry between iterations.

    Unused classes: a latent class nobody ever reports (e.g. "tie" in an a/b-only task) is not
    identified by the data, and EM turns it into a "coin-flip" class that soaks up the split
    items (17-50 % of the prior), which drags every annotator's reliability down (90 %-accurate
    annotators came out at ~0.7). With ``drop_unused`` (default) such classes are left out of the
    fit and come back with prior 0, posterior 0, confusion column 0 and an uninformative (uniform
    over the used classes) confusion row. ``label_prior`` optionally adds a Dirichlet prior on the
    class priors centred on the observed label shares, worth ``label_prior`` x n_items items; 0
    (off) by default.

    Unrecognised classes: a class that is reported, but on the items EM puts in it no more often
    than overall (chance-corrected recognition <= 0, see class_recognition), is a cluster of
    leftovers, not a class: e.g. a "tie" class when only a random clicker says tie, which took a
    quarter of an a/b-only task's items. With ``drop_unrecognised`` (default) the weakest such
    class is refitted as a label that can be reported but is never the truth (prior 0). Chance is
    the line, not a tuned threshold: any real class, however hard (UKPConvArg1's ties: 0.39), is
    recognised above it.

    Unshared classes: with ``require_shared`` (default) a class is a possible truth only when
    annotators report it on the same items more often than their own habits predict, and at least
    ``shared_ratio`` times as strongly as the most shared class (see shared_class_z and
    unshared_classes). A label scattered over items independently of them, e.g. the ties of random
    clickers in a task whose annotators never say tie, or shared only weakly, e.g. a habit of
    saying tie when unsure that gathers on hard items, is fitted as reportable but never true.
    Otherwise EM builds a latent class around such labels and can hand it a third of the items.
    The cost is a real class shared much less than the others (e.g. much rarer): its items get the
    most likely other class.

    ``never_true`` names classes that annotators may report but that are never an item's truth
    (a project whose truth always has a side: a "tie" then means "could not tell", a habit of the
    annotator, and every item gets a or b); they are fitted as such from the start.

    Label switching: the objective is unchanged when the latent classes are renamed (every
    annotator's rows and the priors permuted alike; the pooled prior is permuted with them), so
    EM can settle, or drift on a flat ridge with few labels per item, into a solution whose classes
    are swapped: every annotator "mostly wrong". With ``align`` (default) the fit is renamed to
    the permutation under which the most labels agree with their item's class (annotators beat
    chance on average; see align_classes).
    """
    enc = labels if isinstance(labels, Encoded) else encode(labels, classes)
    if len(enc.label_idx) == 0:
        raise ValueError("no labels to aggregate")
    used = np.flatnonzero(np.bincount(enc.label_idx, minlength=len(enc.classes)))
    if drop_unused and 2 <= len(used) < len(enc.classes):
        sub = Encoded(
            enc.items,
            enc.annotators,
            tuple(enc.classes[u] for u in used),
            enc.item_idx,
            enc.ann_idx,
            np.searchsorted(used, enc.label_idx),
        )
        fit = fit_dawid_skene(
            sub,
            prior_strength=prior_strength,
            diag_prior=diag_prior,
            floor_pseudo=floor_pseudo,
            class_prior=class_prior,
            label_prior=label_prior,
            drop_unused=False,
            drop_unrecognised=drop_unrecognised,
            require_shared=require_shared,
            shared_ratio=shared_ratio,
            spammer_mixture=spammer_mixture,
            never_true=never_true,
            align=align,
            init=None if init is None else init[:, used],
            max_iter=max_iter,
            tol=tol,
        )
        return _embed(fit, enc.classes, used)
    k = len(enc.classes)
    settings = _Settings(prior_strength, diag_prior, floor_pseudo, class_prior, label_prior, align, max_iter, tol,
                         spammer_mixture)
    start = vote_shares(enc) if init is None else init / init.sum(axis=1, keepdims=True)
    if require_shared and sum(c not in never_true for c in enc.classes) > 2:
        never_true = (*never_true, *unshared_classes(
            enc, relative_min=shared_ratio, prior_strength=prior_strength, floor_pseudo=floor_pseudo,
            spammer_mixture=spammer_mixture))
    latent = np.array([c for c in range(k) if enc.classes[c] not in never_true])
    if len(latent) == 0:
        raise ValueError(f"every class is never true: {list(never_true)}")
    if len(latent) < k:
        return _fit_latent(enc, latent, start[:, latent] + 1e-12, settings)
    fit = _fit_latent(enc, latent, start, replace(settings, align=False))
    # A leftover class is dropped before aligning when the others are recognised: renaming would
    # otherwise let it take the name of a real class it shares answers with (two "b"-ish clusters).
    # Only then align; a fit whose classes are swapped has no recognised class to go by.
    if drop_unrecognised and k > 2 and (weakest := _leftover(fit, only_one=True)) is not None:
        keep = np.delete(latent, weakest)
        return _fit_latent(enc, keep, fit.posteriors[:, keep] + 1e-12, settings)
    if align:
        order = align_classes(enc, fit.posteriors)
        fit = replace(fit, posteriors=fit.posteriors[:, order], priors=fit.priors[order],
                      confusion=fit.confusion[:, order, :])
    if drop_unrecognised and k > 2 and (weakest := _leftover(fit, only_one=False)) is not None:
        keep = np.delete(latent, weakest)
        return _fit_latent(enc, keep, fit.posteriors[:, keep] + 1e-12, settings)
    return fit


def _leftover(fit: DawidSkeneResult, *, only_one: bool) -> int | None:
    """The weakest class when nobody recognises it (recognition <= 0); with ``only_one``, only
    when every other class is recognised."""
    recognition = class_recognition(fit)
    weakest = int(np.argmin(recognition))
    if recognition[weakest] > 0.0 or (only_one and np.sum(recognition <= 0.0) > 1):
        return None
    return weakest


@dataclass(frozen=True)
class _Settings:
    prior_strength: float
    diag_prior: float
    floor_pseudo: float
    class_prior: float
    label_prior: float
    align: bool
    max_iter: int
    tol: float
    spammer_mixture: bool


def _fit_latent(enc: Encoded, latent: np.ndarray, start: np.ndarray, cfg: _Settings) -> DawidSkeneResult:
    """EM with the true class among ``latent`` (indices of enc.classes); every class can be reported.
    Classes outside ``latent`` come back with prior 0, posterior 0 and an uninformative row."""
    k, k_lat, n_ann, n_items = len(enc.classes), len(latent), len(enc.annotators), len(enc.items)
    posteriors = start / start.sum(axis=1, keepdims=True)
    label_share = np.bincount(enc.label_idx, minlength=k)[latent] / len(enc.label_idx)
    class_pseudo = cfg.class_prior + cfg.label_prior * n_items * label_share  # per-class pseudo-items
    confusion = np.zeros((n_ann, k_lat, k))
    ll, converged, n_iter = -np.inf, False, 0
    members: Memberships | None = None
    for n_iter in range(1, cfg.max_iter + 1):  # noqa: B007 -- n_iter is reported after the loop
        previous = confusion
        priors, confusion, members = _m_step(enc, posteriors, latent, cfg, class_pseudo, members)
        posteriors, ll = _e_step(enc, priors, confusion, n_items)
        # Converge on the parameters, not the data log-likelihood: under a prior EM raises the
        # posterior objective, and the likelihood alone can plateau long before the fit settles.
        if np.abs(confusion - previous).max() < cfg.tol:
            converged = True
            break
    if cfg.align:
        order = align_classes(enc, posteriors, latent)
        posteriors, priors, confusion = posteriors[:, order], priors[order], confusion[:, order, :]
    full_post, full_priors = np.zeros((n_items, k)), np.zeros(k)
    full_post[:, latent], full_priors[latent] = posteriors, priors
    full_conf = np.full((n_ann, k, k), 1.0 / k)  # a class that is never true: uninformative row
    full_conf[:, latent, :] = confusion
    n_labels = np.bincount(enc.ann_idx, minlength=n_ann)
    return DawidSkeneResult(
        enc.items, enc.annotators, enc.classes, full_post, full_priors, full_conf, n_labels, n_iter, converged,
        float(ll),
    )


def shared_class_z(enc: Encoded, weights: np.ndarray | None = None) -> np.ndarray:
    """Per class, a z-score for "annotators report it on the same items more often than chance".

    Each label u is centred on its annotator's own rate of the class, d_u = [l_u = c] - r_j(c); an
    item contributes sum over pairs of its labels d_u * d_v. Under the null (labels of the class
    independent of the item, each annotator at their own rate) the pairs' products have mean 0 and
    are uncorrelated, so the sum's variance is sum over pairs r_u (1 - r_u) r_v (1 - r_v) exactly.
    Annotators' habits cancel out: a random clicker who says tie a third of the time raises no
    score, a hard item that several annotators call a tie does. ``weights`` (per annotator, e.g.
    their informativeness) scale each label, so that near-chance annotators and spammers, who share
    nothing, do not dilute the score of the others."""
    k, n_ann, n_items = len(enc.classes), len(enc.annotators), len(enc.items)
    per_ann = np.bincount(enc.ann_idx * k + enc.label_idx, minlength=n_ann * k).reshape(n_ann, k)
    rate = per_ann / np.maximum(per_ann.sum(axis=1, keepdims=True), 1)
    w = np.ones(len(enc.label_idx)) if weights is None else weights[enc.ann_idx]
    z = np.zeros(k)
    for c in range(k):
        r = rate[enc.ann_idx, c]
        d, s = w * ((enc.label_idx == c) - r), w * w * r * (1.0 - r)

        def pair_sum(x: np.ndarray) -> float:
            total = np.bincount(enc.item_idx, weights=x, minlength=n_items)
            squares = np.bincount(enc.item_idx, weights=x * x, minlength=n_items)
            return float(((total**2 - squares) / 2.0).sum())

        variance = pair_sum(s)
        z[c] = pair_sum(d) / np.sqrt(variance) if variance > 0 else 0.0
    return z


def unshared_classes(
    enc: Encoded, *, relative_min: float = 0.25, z_min: float = 2.326, prior_strength: float = 3.0,
    floor_pseudo: float = 0.01, spammer_mixture: bool = True,
) -> tuple[Hashable, ...]:
    """The classes, beyond the two most shared, that are not a possible truth: shared between
    annotators below the one-sided 1 % line (z_min), or less than ``relative_min`` times as strongly
    as the most shared class.

    Scored with each annotator weighted by their informativeness in a fit over the two most shared
    classes only, so the score is the same with or without near-chance annotators and spam (on
    UKPConvArg1 the ties score 50.8 with no spam and 49.6-49.8 with 30 %; unweighted 50.2 and 34.0-34.8:
    `bench/quality_robustness.py --seeds 0 1 2 --shared-scores`)."""
    said = np.bincount(enc.label_idx, minlength=len(enc.classes))

    def most_shared_first(z: np.ndarray) -> np.ndarray:  # ties (e.g. no evidence at all) by labels
        return np.lexsort((-said, -z))

    z = shared_class_z(enc)
    ranked = most_shared_first(z)
    base = fit_dawid_skene(enc, never_true=[enc.classes[c] for c in ranked[2:]], require_shared=False,
                           prior_strength=prior_strength, floor_pseudo=floor_pseudo, spammer_mixture=spammer_mixture)
    weights = np.clip(base.informativeness, 0.0, 1.0)
    if weights.any():  # else nobody beats chance: keep the unweighted score
        z = shared_class_z(enc, weights)
        ranked = most_shared_first(z)
    line = max(z_min, relative_min * z[ranked[0]])
    return tuple(enc.classes[c] for c in ranked[2:] if z[c] < line)


def class_recognition(fit: DawidSkeneResult) -> np.ndarray:
    """Per class, how much more often annotators report it on items of that class than overall:
    (P(say c | c) - P(say c)) / (1 - P(say c)), pooled over annotators by their labels; +inf for a
    class with prior 0 (not fitted, nothing to judge). 0 or less: nobody recognises the class."""
    pooled = np.einsum("j,jkl->kl", fit.n_labels.astype(float), fit.confusion) / fit.n_labels.sum()
    said = fit.priors @ pooled
    kappa = (np.diag(pooled) - said) / np.maximum(1.0 - said, 1e-12)
    return np.where(fit.priors > 0, kappa, np.inf)


def align_classes(enc: Encoded, posteriors: np.ndarray, latent: np.ndarray | None = None) -> list[int]:
    """The renaming of fitted classes under which the most labels agree with their item's class:
    ``order[c]`` is the fitted column to call ``c`` (columns of ``posteriors`` are the classes
    ``latent``, default all). Identity when the fit is already aligned.

    agree[t, l] is the expected number of labels ``l`` on items of fitted class ``t``; the chosen
    order maximises sum_c agree[order[c], latent[c]]. Classes are few (3), so all orders are tried."""
    k_lat = posteriors.shape[1]
    latent = np.arange(k_lat) if latent is None else latent
    agree = np.stack([
        np.bincount(enc.label_idx, weights=posteriors[enc.item_idx, t], minlength=len(enc.classes))[latent]
        for t in range(k_lat)
    ])
    identity = list(range(k_lat))
    best = max(permutations(identity), key=lambda order: agree[list(order), identity].sum())
    # Keep the fit as it is unless renaming is strictly better (no churn on exact ties).
    return list(best) if agree[list(best), identity].sum() > agree[identity, identity].sum() + 1e-9 else identity


def _embed(fit: DawidSkeneResult, classes: tuple[Hashable, ...], used: np.ndarray) -> DawidSkeneResult:
    """Put a fit over the ``used`` classes back into the full class list (see fit_dawid_skene)."""
    k, n_ann = len(classes), len(fit.annotators)
    posteriors = np.zeros((len(fit.items), k))
    posteriors[:, used] = fit.posteriors
    priors = np.zeros(k)
    priors[used] = fit.priors
    confusion = np.zeros((n_ann, k, k))
    confusion[:, :, used] = 1.0 / len(used)  # rows of never-true classes: uninformative
    confusion[np.ix_(np.arange(n_ann), used, used)] = fit.confusion
    return DawidSkeneResult(
        fit.items,
        fit.annotators,
        tuple(classes),
        posteriors,
        priors,
        confusion,
        fit.n_labels,
        fit.n_iter,
        fit.converged,
        fit.log_likelihood,
    )


def _m_step(enc: Encoded, post: np.ndarray, latent: np.ndarray, cfg: _Settings, class_pseudo: np.ndarray,
            members: Memberships | None = None):
    k_lat, k, n_ann = len(latent), len(enc.classes), len(enc.annotators)
    priors = post.sum(axis=0) + class_pseudo
    priors /= priors.sum()
    counts = np.empty((n_ann, k_lat, k))
    flat = enc.ann_idx * k + enc.label_idx
    for t in range(k_lat):
        # Soft count of "annotator j said l while the truth was latent[t]".
        counts[:, t, :] = np.bincount(flat, weights=post[enc.item_idx, t], minlength=n_ann * k).reshape(n_ann, k)
    if cfg.spammer_mixture:
        centre, members = prior_centre(enc.item_idx, enc.ann_idx, enc.label_idx, post, counts, cfg.floor_pseudo,
                                       members)
    else:
        centre = counts.sum(axis=0) + cfg.floor_pseudo
        centre /= centre.sum(axis=1, keepdims=True)
    counts += cfg.prior_strength * centre + cfg.floor_pseudo
    counts[:, np.arange(k_lat), latent] += cfg.diag_prior
    return priors, counts / counts.sum(axis=2, keepdims=True), members


def _e_step(enc: Encoded, priors: np.ndarray, confusion: np.ndarray, n_items: int):
    k_lat = len(priors)
    log_conf = np.log(confusion)
    per_label = log_conf[enc.ann_idx, :, enc.label_idx]  # labels x latent class
    log_post = np.tile(np.log(priors), (n_items, 1))
    for t in range(k_lat):
        log_post[:, t] += np.bincount(enc.item_idx, weights=per_label[:, t], minlength=n_items)
    top = log_post.max(axis=1, keepdims=True)
    norm = top + np.log(np.exp(log_post - top).sum(axis=1, keepdims=True))
    return np.exp(log_post - norm), float(norm.sum())
