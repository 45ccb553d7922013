"""One pass of label cleaning: aggregate, score annotators, flag spammers, re-aggregate without them.

Shared by the ``quality_eval`` command and ``bench/quality_ukp.py`` so the benchmark measures
exactly what the command does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from labeling.quality.agreement import leave_one_out_agreement
from labeling.quality.dawid_skene import CLASSES, DawidSkeneResult, fit_dawid_skene
from labeling.quality.majority import fit_majority
from labeling.quality.signals import position_bias, spammer_score, too_fast

Method = Literal["dawid-skene", "majority"]


@dataclass(frozen=True)
class Judgment:
    item_id: str
    annotator_id: str
    label: str  # one of CLASSES: "a" (left), "b" (right), "tie"
    seconds: float | None = None
    words: int | None = None  # words shown, for the reading-speed bound


@dataclass(frozen=True)
class QualityConfig:
    method: Method = "dawid-skene"
    floor_seconds: float = 3.0  # any judgment faster than this is too fast
    max_words_per_second: float = 10.0  # reading-speed bound when words are known
    flag_threshold: float = 0.7  # spammer_score at or above this flags the annotator (kappa <= 0.15)
    min_labels: int = 10  # never flag on fewer labels: the evidence is too thin
    refit_without_flagged: bool = True


@dataclass(frozen=True)
class AnnotatorReport:
    annotator_id: str
    n_labels: int
    reliability: float  # expected accuracy
    informativeness: float  # chance-corrected reliability
    weight: float
    loo_agreement: float
    too_fast_share: float
    left_share: float
    position_p: float
    spammer_score: float
    flagged: bool


@dataclass(frozen=True)
class ItemResult:
    item_id: str
    label: str
    posterior: dict[str, float]


@dataclass
class EvalResult:
    items: list[ItemResult]
    annotators: list[AnnotatorReport]
    flagged: set[str] = field(default_factory=set)


def aggregate(judgments: Sequence[Judgment], method: Method) -> DawidSkeneResult:
    triples = [(j.item_id, j.annotator_id, j.label) for j in judgments]
    if method == "dawid-skene":
        return fit_dawid_skene(triples, CLASSES)
    if method == "majority":
        return fit_majority(triples, CLASSES)
    raise ValueError(f"unknown method {method!r}")


def evaluate_judgments(judgments: Sequence[Judgment], config: QualityConfig | None = None) -> EvalResult:
    """Aggregate ``judgments`` and report every annotator; see QualityConfig for the knobs."""
    cfg = config or QualityConfig()
    first = aggregate(judgments, cfg.method)
    reports = _annotator_reports(judgments, first, cfg)
    flagged = {r.annotator_id for r in reports if r.flagged}
    posteriors = dict(zip(first.items, first.posteriors, strict=True))
    if flagged and cfg.refit_without_flagged:
        kept = [j for j in judgments if j.annotator_id not in flagged]
        if kept:
            second = aggregate(kept, cfg.method)
            # Items labelled only by flagged annotators keep their first-pass posterior.
            posteriors.update(zip(second.items, second.posteriors, strict=True))
    items = []
    for item_id in first.items:
        post = posteriors[item_id]
        items.append(
            ItemResult(
                item_id,
                str(CLASSES[int(np.argmax(post))]),
                {c: round(float(p), 6) for c, p in zip(CLASSES, post, strict=True)},
            )
        )
    return EvalResult(items, reports, flagged)


def _annotator_reports(
    judgments: Sequence[Judgment], fit: DawidSkeneResult, cfg: QualityConfig
) -> list[AnnotatorReport]:
    loo = leave_one_out_agreement((j.item_id, j.annotator_id, j.label) for j in judgments)
    fast: dict[str, int] = defaultdict(int)
    sides: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for j in judgments:
        fast[j.annotator_id] += too_fast(
            j.seconds, j.words, floor_seconds=cfg.floor_seconds, max_words_per_second=cfg.max_words_per_second
        )
        if j.label in ("a", "b"):
            sides[j.annotator_id][j.label == "b"] += 1
    reports = []
    rel, info, weights = fit.reliability, fit.informativeness, fit.weights
    for idx, ann in enumerate(fit.annotators):
        n = int(fit.n_labels[idx])
        pos = position_bias(*sides[ann])
        fast_share = fast[ann] / n
        score = spammer_score(informativeness=float(info[idx]), too_fast_share=fast_share, position=pos)
        reports.append(
            AnnotatorReport(
                annotator_id=ann,
                n_labels=n,
                reliability=float(rel[idx]),
                informativeness=float(info[idx]),
                weight=float(weights[idx]),
                loo_agreement=loo[ann].agreement,
                too_fast_share=fast_share,
                left_share=pos.share,
                position_p=pos.p_value,
                spammer_score=score,
                flagged=n >= cfg.min_labels and score >= cfg.flag_threshold,
            )
        )
    return reports
