"""Majority vote with the same result shape as Dawid-Skene, as a baseline and fallback."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

import numpy as np

from labeling.quality.dawid_skene import CLASSES, DawidSkeneResult, Encoded, encode, vote_shares


def fit_majority(
    labels: Iterable[tuple[Hashable, Hashable, Hashable]] | Encoded,
    classes: Sequence[Hashable] = CLASSES,
    *,
    never_true: Sequence[Hashable] = (),
) -> DawidSkeneResult:
    """Posterior = share of votes; confusion = each annotator's table against the majority.

    Filling the same fields as Dawid-Skene lets reports and spam filters treat both alike.
    ``never_true`` classes (see fit_dawid_skene) are left out of the vote; an item with no other
    vote gets an even split of the rest.
    """
    enc = labels if isinstance(labels, Encoded) else encode(labels, classes)
    k, n_ann = len(enc.classes), len(enc.annotators)
    shares = vote_shares(enc)
    out = np.array([c in never_true for c in enc.classes])
    if out.any():
        shares = np.where(out, 0.0, shares)
        total = shares.sum(axis=1, keepdims=True)
        shares = np.where(total > 0, shares / np.where(total > 0, total, 1.0), np.where(out, 0.0, 1.0 / (~out).sum()))
    hard = np.eye(k)[shares.argmax(axis=1)]
    priors = (hard.sum(axis=0) + 1.0) / (len(enc.items) + k)
    counts = np.full((n_ann, k, k), 0.5) + np.eye(k)  # mild fixed smoothing; no EM, so no pooled prior
    np.add.at(counts, (enc.ann_idx, hard[enc.item_idx].argmax(axis=1), enc.label_idx), 1.0)
    confusion = counts / counts.sum(axis=2, keepdims=True)
    n_labels = np.bincount(enc.ann_idx, minlength=n_ann)
    return DawidSkeneResult(
        enc.items, enc.annotators, enc.classes, shares, priors, confusion, n_labels, 1, True, float("nan")
    )
