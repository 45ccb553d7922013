"""The quality pipeline: one pure pass over plain judgments, used by the service (services.py loads
and stores), `quality_eval` and the UKPConvArg1 bench (both through evaluate.py, a JSONL adapter).
No database, no Django; one typed configuration (config.QualityConfig).

The pass: signals per judgment, statistics and flags per annotator, agreement per project, and
the decision per judgment (included or not, weight). `aggregate_items` then gives each pairwise
item a posterior from the judgments the pass kept.

Reliability comes from Dawid-Skene (or majority vote, `method`) for pairs, classes a / b / tie with
both-bad counted as tie, or CrowdBT for rankings. An annotator's judgment weight is their
chance-corrected reliability clipped to 0..1 (Dawid-Skene informativeness, or 2 * eta - 1 for
CrowdBT): 1 is a perfect annotator, 0 one whose labels carry no information.

Reliability is measured against the other annotators, so it exists only where an annotator's
tasks were also judged by someone else. An annotator with no such overlap (a lone annotator, or
one who never shares a task) has no reliability (None), weight 1, and is not flagged for it; the
reliability flag needs `min_labels` judgments on shared tasks."""

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from itertools import combinations
from statistics import median
from typing import Any

import numpy as np

from labeling.quality.agreement import (
    LooAgreement,
    cohen_kappa,
    kendall_tau_b,
    krippendorff_alpha,
    leave_one_out_agreement,
)
from labeling.quality.config import QualityConfig
from labeling.quality.crowdbt import fit_crowdbt, pairs_from_ranking
from labeling.quality.dawid_skene import CLASSES, DawidSkeneResult, fit_dawid_skene
from labeling.quality.majority import fit_majority
from labeling.quality.ranks import mean_ranks, ranks_of
from labeling.quality.signals import gold_accuracy, length_bias, position_bias, spammer_score, too_fast


@dataclass(frozen=True)
class Judgment:
    """One judgment as the pass sees it. Pairwise: `choice` is a / b / tie / both_bad in terms of
    `sample_ids` ("a" = the first); rankings: `ranking` holds groups of sample ids, best first."""

    id: Hashable
    annotator: Hashable
    task: Hashable
    sample_ids: tuple[Hashable, ...]  # canonical order
    shown_order: tuple[Hashable, ...]  # as shown: the first is left / top
    choice: str = ""
    ranking: tuple[tuple[Hashable, ...], ...] | None = None
    seconds: float | None = None  # None: not measured (never "too fast")
    words_shown: int | None = None  # None: unknown (no reading-speed bound)
    sample_words: Mapping[Hashable, int] = field(default_factory=dict)  # empty: no length-bias evidence
    override: str = ""  # a reviewer's "include" / "exclude"
    gold: Any = None  # the task's gold answer, when it is a gold task
    banned: bool = False

    def ranks(self) -> dict[Hashable, int]:
        """Rank of each sample (0 = best; tied samples share a rank; both-bad is a tie)."""
        return ranks_of(self.sample_ids, self.choice, self.ranking)

    def top_pick(self) -> Hashable | None:
        """The single sample judged best, or None for a tie at the top."""
        if self.ranking:
            return self.ranking[0][0] if len(self.ranking[0]) == 1 else None
        return {"a": self.sample_ids[0], "b": self.sample_ids[1]}.get(self.choice)

    def label(self) -> str:
        """A nominal label: the pairwise choice, or the top pick of a ranking."""
        if self.ranking is None:
            return self.choice
        top = self.top_pick()
        return "tie" if top is None else str(top)

    def pairwise_class(self) -> str:
        """The Dawid-Skene class of a pairwise choice: a / b / tie (both-bad is a tie)."""
        return "tie" if self.choice == "both_bad" else self.choice


@dataclass(frozen=True)
class Reason:
    filter: str
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"filter": self.filter, "detail": self.detail}


@dataclass(frozen=True)
class Decision:
    """What the pass decided about one judgment."""

    judgment: Hashable  # Judgment.id
    signals: dict[str, Any]  # stored per judgment as JSON
    reasons: tuple[Reason, ...]
    included: bool
    weight: float

    def reasons_json(self) -> list[dict[str, str]]:
        return [r.as_json() for r in self.reasons]


@dataclass(frozen=True)
class AnnotatorQuality:
    """What the pass found about one annotator (AnnotatorStats stores every field but `annotator`)."""

    annotator: Hashable
    n_judgments: int
    n_included: int
    reliability: float | None  # Dawid-Skene expected accuracy or CrowdBT eta; None: shares no task
    informativeness: float | None  # chance-corrected reliability (a kappa)
    weight: float  # of each of their judgments, 0..1
    median_seconds: float | None
    too_fast_share: float
    gold_n: int
    gold_correct: int
    gold_accuracy: float | None
    gold_low: float | None
    gold_high: float | None
    loo_agreement: float | None
    mean_kappa: float | None
    mean_tau: float | None
    left_rate: float | None
    left_p: float | None
    longer_rate: float | None
    length_p: float | None
    spammer_score: float
    flagged: bool
    reasons: tuple[Reason, ...]

    def stored_fields(self) -> dict[str, Any]:
        """Every field but `annotator`, as the AnnotatorStats columns hold them (reasons as JSON)."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "annotator"}
        values["reasons"] = [r.as_json() for r in self.reasons]
        return values


@dataclass(frozen=True)
class ProjectQuality:
    n_judgments: int
    n_included: int
    n_annotators: int
    n_flagged: int
    alpha: float | None
    alpha_clean: float | None
    mean_kappa: float | None
    mean_tau: float | None
    gold_accuracy: float | None
    details: dict[str, Any]

    def stored_fields(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class QualityResult:
    decisions: list[Decision]  # in the order of the judgments given
    annotators: dict[Hashable, AnnotatorQuality]
    project: ProjectQuality
    # The pairwise fit behind the reliabilities (None for rankings or when nothing was fitted).
    fit: DawidSkeneResult | None = None

    @property
    def flagged(self) -> set[Hashable]:
        return {a for a, q in self.annotators.items() if q.flagged}


@dataclass(frozen=True)
class ItemResult:
    item_id: Hashable
    label: str
    posterior: dict[str, float]


# A judgment its annotator withdrew (undo) is out of the clean data for good. The pass never sees
# it (only live judgments are loaded), so undo stores this decision itself (withdrawn_decision).
WITHDRAWN = Reason("withdrawn", "withdrawn by its annotator (undo)")


def include_and_weight(
    override: str, has_reasons: bool, annotator_weight: float, *, withdrawn: bool = False
) -> tuple[bool, float]:
    """The one rule for a judgment's inclusion and weight: a withdrawn judgment is out, whatever
    the override; a reviewer's "include" keeps it at weight 1; "exclude" drops it; otherwise it is
    kept when no filter gave a reason, weighted by its annotator's reliability."""
    included = not withdrawn and (override == "include" or (override != "exclude" and not has_reasons))
    return included, 1.0 if override == "include" else annotator_weight


def withdrawn_decision(reasons: Sequence[Any]) -> tuple[bool, list[Any]]:
    """`included` and `quality_reasons` for a judgment being withdrawn: out, with the withdrawn
    reason first and the filters' earlier reasons kept after it."""
    earlier = [r for r in reasons or [] if not (isinstance(r, dict) and r.get("filter") == WITHDRAWN.filter)]
    return False, [WITHDRAWN.as_json(), *earlier]


def _num(value: float | None, digits: int = 6) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def gold_correct(judgment: Judgment) -> bool | None:
    """Whether a judgment matches its task's gold answer. Forms: "a" / {"choice": "a"} (pairwise),
    {"ranking": [[id], ...]} (no strict pair inverted or tied), {"pairs": [[better, worse], ...]}."""
    gold = judgment.gold
    if gold is None:
        return None
    if isinstance(gold, str) or (isinstance(gold, dict) and "choice" in gold):
        return judgment.choice == (gold if isinstance(gold, str) else gold["choice"])
    ranks = judgment.ranks()
    pairs = gold.get("pairs") if isinstance(gold, dict) else None
    if pairs is None and isinstance(gold, dict) and gold.get("ranking"):
        tiers = gold["ranking"]
        pairs = [(w, lo) for i, tier in enumerate(tiers) for lower in tiers[i + 1 :] for w in tier for lo in lower]
    if not pairs:
        return None
    return all(better in ranks and worse in ranks and ranks[better] < ranks[worse] for better, worse in pairs)


def judgment_signals(judgment: Judgment, cfg: QualityConfig) -> dict[str, Any]:
    top = judgment.top_pick()
    words = judgment.sample_words
    longest = max(words.values()) if words else 0
    unique_longest = bool(words) and sum(1 for s in judgment.sample_ids if words.get(s, 0) == longest) == 1
    others = [words.get(s, 0) for s in judgment.sample_ids if s != top]
    seconds, shown = judgment.seconds, judgment.words_shown
    return {
        "seconds": _num(seconds, 3),
        "words_shown": shown,
        "words_per_second": _num(shown / seconds, 2) if seconds and shown is not None else None,
        "too_fast": too_fast(
            seconds, shown, floor_seconds=cfg.floor_seconds, max_words_per_second=cfg.max_words_per_second,
        ),
        "picked_position": judgment.shown_order.index(top) if top in judgment.shown_order else None,
        "chosen_words": words.get(top) if top is not None and words else None,
        "others_words": _num(sum(others) / len(others), 1) if top is not None and others and words else None,
        "chose_longest": (words.get(top) == longest) if top is not None and unique_longest else None,
        "gold_correct": gold_correct(judgment),
    }


def _measured(judgment: Judgment) -> bool:
    """Whether a judgment is evidence about annotators: not banned, not on a gold task (scored
    against the answer instead), not excluded by a reviewer."""
    return not judgment.banned and judgment.gold is None and judgment.override != "exclude"


def _pairwise_fit(
    judgments: Sequence[Judgment], cfg: QualityConfig, left_out: Sequence[str] = ()
) -> DawidSkeneResult | None:
    """The pairwise fit (Dawid-Skene or majority). ``left_out``: classes to fit as never true."""
    triples = [(j.task, j.annotator, j.pairwise_class()) for j in judgments]
    if not triples:
        return None
    # Classes nobody reports, shares or recognises are left out of a Dawid-Skene fit (such a latent
    # "tie" class soaks up posterior mass and makes everyone look less reliable than they are).
    never_true = tuple(left_out) if cfg.true_ties else (*left_out, "tie")
    if cfg.method == "majority":
        return fit_majority(triples, CLASSES, never_true=never_true)
    return fit_dawid_skene(triples, CLASSES, never_true=never_true)


def _classes_left_out(fit: DawidSkeneResult | None, cfg: QualityConfig) -> tuple[str, ...]:
    """The classes the pass's Dawid-Skene fit found never true (prior 0). Which classes can be an
    item's truth is decided once, on every measured judgment; the fits on fewer judgments keep to
    it, so the item labels follow the structure the annotators were measured under."""
    if fit is None or cfg.method == "majority":  # a vote decides no class structure
        return ()
    return tuple(str(c) for c, prior in zip(fit.classes, fit.priors, strict=True) if prior == 0.0)


def _reliability(
    judgments: Sequence[Judgment], ranking: bool, cfg: QualityConfig
) -> tuple[dict[Hashable, tuple[float, float]], DawidSkeneResult | None]:
    """annotator -> (reliability, informativeness) from Dawid-Skene / majority or CrowdBT, and the
    pairwise fit."""
    if ranking:
        comparisons = [c for j in judgments for c in pairs_from_ranking(j.annotator, j.ranking or [])]
        if not comparisons:
            return {}, None
        quality = fit_crowdbt(comparisons).quality_of()
        return {a: (eta, 2.0 * eta - 1.0) for a, eta in quality.items()}, None
    fit = _pairwise_fit(judgments, cfg)
    if fit is None:
        return {}, None
    pairs = zip(fit.reliability.tolist(), fit.informativeness.tolist(), strict=True)
    return dict(zip(fit.annotators, pairs, strict=True)), fit


def _overlap(judgments: Sequence[Judgment]) -> dict[Hashable, int]:
    """annotator -> how many of their judgments are on tasks that another annotator also judged:
    the only evidence a reliability estimate has about them."""
    judges: dict[Hashable, set[Hashable]] = defaultdict(set)
    for j in judgments:
        judges[j.task].add(j.annotator)
    return dict(Counter(j.annotator for j in judgments if len(judges[j.task]) > 1))


def _alpha(judgments: Sequence[Judgment], ranking: bool) -> float | None:
    units: dict[Any, list] = defaultdict(list)
    for j in judgments:
        if ranking:
            for sample, rank in j.ranks().items():
                units[(j.task, sample)].append(rank)
        else:
            units[j.task].append(j.choice)
    return _num(krippendorff_alpha(list(units.values()), level="ordinal" if ranking else "nominal"), 4)


def _kappas(judgments: Sequence[Judgment], min_overlap: int) -> list[dict[str, Any]]:
    by_ann: dict[Hashable, dict[Hashable, str]] = defaultdict(dict)
    overlap: Counter = Counter()
    by_task: dict[Hashable, list[Hashable]] = defaultdict(list)
    for j in judgments:
        by_ann[j.annotator][j.task] = j.label()
        by_task[j.task].append(j.annotator)
    for anns in by_task.values():
        overlap.update(combinations(sorted(set(anns), key=_order), 2))
    out = []
    for (a, b), n in sorted(overlap.items(), key=lambda pair: (_order(pair[0][0]), _order(pair[0][1]))):
        if n >= min_overlap:
            out.append({"a": a, "b": b, "n": n, "kappa": _num(cohen_kappa(by_ann[a], by_ann[b]), 4)})
    return out


def _taus(judgments: Sequence[Judgment]) -> dict[Hashable, float]:
    """Rankings: each judgment's Kendall tau-b with the mean ranks of the other judgments of its task."""
    by_task: dict[Hashable, list[Judgment]] = defaultdict(list)
    for j in judgments:
        by_task[j.task].append(j)
    taus: dict[Hashable, list[float]] = defaultdict(list)
    for group in by_task.values():
        for j in group:
            others = [o.ranks() for o in group if o is not j]
            if not others:
                continue
            mine = j.ranks()
            samples = sorted(mine, key=_order)
            tau = kendall_tau_b([mine[s] for s in samples], mean_ranks(samples, others))
            if math.isfinite(tau):
                taus[j.annotator].append(tau)
    return {a: sum(v) / len(v) for a, v in taus.items()}


def _mean(values: Sequence[float | None]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


@dataclass(frozen=True)
class _Evidence:
    """What the pass measured across annotators, handed to each annotator's assessment."""

    reliability: dict[Hashable, tuple[float, float]]
    loo: dict[Hashable, LooAgreement]
    kappas: list[dict[str, Any]]
    kappas_of: dict[Hashable, list[float | None]]  # annotator -> their kappas with each other annotator
    taus: dict[Hashable, float]
    overlap: dict[Hashable, int]
    base_longer: float
    ranking: bool


def quality_pass(judgments: Sequence[Judgment], *, ranking: bool, config: QualityConfig) -> QualityResult:
    """Signals, annotator statistics and flags, project agreement and the decision per judgment.
    Pure: the judgments are not changed."""
    signals = [judgment_signals(j, config) for j in judgments]
    fitted = [j for j in judgments if _measured(j)]
    overlap = _overlap(fitted)
    reliability, fit = _reliability(fitted, ranking, config)
    longest = [s["chose_longest"] for j, s in zip(judgments, signals, strict=True)
               if not j.banned and s["chose_longest"] is not None]
    kappas = _kappas(fitted, config.min_overlap)
    kappas_of: dict[Hashable, list[float | None]] = defaultdict(list)
    for k in kappas:
        kappas_of[k["a"]].append(k["kappa"])
        kappas_of[k["b"]].append(k["kappa"])
    evidence = _Evidence(
        # An annotator who shares no task with anyone is measured only against themselves: no reliability.
        reliability={a: v for a, v in reliability.items() if overlap.get(a, 0) > 0},
        loo=leave_one_out_agreement((j.task, j.annotator, j.label()) for j in fitted),
        kappas=kappas,
        kappas_of=kappas_of,
        taus=_taus(fitted) if ranking else {},
        overlap=overlap,
        base_longer=sum(longest) / len(longest) if longest else 0.5,
        ranking=ranking,
    )
    by_ann: dict[Hashable, list[tuple[Judgment, dict[str, Any]]]] = defaultdict(list)
    for j, s in zip(judgments, signals, strict=True):
        by_ann[j.annotator].append((j, s))
    assessed = {ann: _assess(ann, by_ann[ann], evidence, config) for ann in sorted(by_ann, key=_order)}
    decisions = []
    for j, s in zip(judgments, signals, strict=True):
        reasons = [Reason("banned", "the annotator is banned")] if j.banned else []
        if config.filters.too_fast and s["too_fast"]:
            reasons.append(Reason("too_fast", _speed_detail(j, config)))
        if config.filters.gold and s["gold_correct"] is False:
            reasons.append(Reason("gold", "wrong answer on a gold task"))
        stats = assessed[j.annotator]
        reasons.extend(Reason(r.filter, f"annotator: {r.detail}") for r in stats.reasons)
        included, weight = include_and_weight(j.override, bool(reasons), stats.weight)
        decisions.append(Decision(j.id, s, tuple(reasons), included, weight))
    kept = Counter(j.annotator for j, d in zip(judgments, decisions, strict=True) if d.included)
    annotators = {ann: replace(q, n_included=kept[ann]) for ann, q in assessed.items()}
    included_ids = {d.judgment for d in decisions if d.included}
    gold_all = [s["gold_correct"] for j, s in zip(judgments, signals, strict=True)
                if not j.banned and s["gold_correct"] is not None]
    project = ProjectQuality(
        n_judgments=len(judgments),
        n_included=len(included_ids),
        n_annotators=len(annotators),
        n_flagged=sum(1 for q in annotators.values() if q.flagged),
        alpha=_alpha(fitted, ranking),
        alpha_clean=_alpha([j for j in fitted if j.id in included_ids], ranking),
        mean_kappa=_num(_mean([k["kappa"] for k in evidence.kappas]), 4),
        mean_tau=_num(_mean(list(evidence.taus.values())), 4) if ranking else None,
        gold_accuracy=_num(sum(gold_all) / len(gold_all), 4) if gold_all else None,
        details={"kappa_pairs": evidence.kappas[:200], "base_longer_rate": _num(evidence.base_longer, 4)},
    )
    return QualityResult(decisions, annotators, project, fit)


def _order(key: Hashable) -> tuple[int, Any]:
    """A stable order for ids of any kind: numbers by value (database ids), anything else by its text."""
    return (0, key) if isinstance(key, int) else (1, str(key))


def _speed_detail(j: Judgment, cfg: QualityConfig) -> str:
    return (
        f"{j.seconds:.1f} s for {j.words_shown or 0} words shown "
        f"(floor {cfg.floor_seconds} s, at most {cfg.max_words_per_second} words/s)"
    )


def _assess(
    ann: Hashable, mine: list[tuple[Judgment, dict[str, Any]]], ev: _Evidence, cfg: QualityConfig
) -> AnnotatorQuality:
    """One annotator's statistics and the annotator-level flags (n_included is filled in later)."""
    filters, n, min_n = cfg.filters, len(mine), cfg.min_labels
    fast_share = sum(1 for _, s in mine if s["too_fast"]) / n
    gold = [s["gold_correct"] for _, s in mine if s["gold_correct"] is not None]
    gold_acc = gold_accuracy(sum(gold), len(gold))
    picks = [(j, s) for j, s in mine if s["picked_position"] is not None]
    n_first = sum(1 for _, s in picks if s["picked_position"] == 0)
    expected_first = _mean([1.0 / len(j.sample_ids) for j, _ in picks]) or 0.5
    if ev.ranking:
        position = length_bias(n_first, len(picks), base_rate=expected_first, alpha=cfg.bias_alpha)
    else:
        position = position_bias(n_first, len(picks) - n_first, alpha=cfg.bias_alpha)
    longer = [s["chose_longest"] for _, s in mine if s["chose_longest"] is not None]
    length = length_bias(sum(longer), len(longer), base_rate=ev.base_longer, alpha=cfg.bias_alpha)
    rel, info = ev.reliability.get(ann, (None, None))
    weight = 1.0 if info is None else min(1.0, max(0.0, info))
    agree = ev.loo.get(ann)
    mine_kappa = _mean(ev.kappas_of.get(ann, []))
    reasons = []
    if filters.too_fast and n >= min_n and fast_share >= cfg.too_fast_share:
        reasons.append(Reason("too_fast", f"{fast_share:.0%} of judgments too fast"))
    if filters.gold and gold_acc.n >= cfg.gold_min_n and gold_acc.high < cfg.gold_min_accuracy:
        reasons.append(Reason("gold", f"gold accuracy {gold_acc.accuracy:.0%} of {gold_acc.n} "
                                      f"(95% CI {gold_acc.low:.0%}-{gold_acc.high:.0%})"))
    if (filters.reliability and info is not None and ev.overlap.get(ann, 0) >= min_n
            and info < cfg.min_informativeness):
        reasons.append(Reason("reliability", f"chance-corrected reliability {info:.2f}"))
    if filters.agreement and agree and agree.n_compared >= min_n and agree.agreement < cfg.min_loo_agreement:
        reasons.append(Reason("agreement",
                              f"agrees with the others' consensus {agree.agreement:.0%} of {agree.n_compared}"))
    effect = cfg.min_bias_effect
    if (filters.position_bias and len(picks) >= min_n and position.biased
            and abs(position.share - expected_first) >= effect):
        reasons.append(Reason("position_bias", f"picks the first shown {position.share:.0%} "
                                               f"(p={position.p_value:.1e})"))
    if (filters.length_bias and len(longer) >= min_n and length.biased
            and abs(length.share - ev.base_longer) >= effect):
        reasons.append(Reason("length_bias", f"picks the longest {length.share:.0%} vs {ev.base_longer:.0%} "
                                             f"overall (p={length.p_value:.1e})"))
    seconds = [j.seconds for j, _ in mine if j.seconds is not None]
    return AnnotatorQuality(
        annotator=ann,
        n_judgments=n,
        n_included=0,
        reliability=_num(rel, 4),
        informativeness=_num(info, 4),
        weight=round(weight, 4),
        median_seconds=_num(median(seconds), 2) if seconds else None,
        too_fast_share=round(fast_share, 4),
        gold_n=gold_acc.n,
        gold_correct=sum(gold),
        gold_accuracy=_num(gold_acc.accuracy, 4),
        gold_low=_num(gold_acc.low, 4) if gold_acc.n else None,
        gold_high=_num(gold_acc.high, 4) if gold_acc.n else None,
        loo_agreement=_num(agree.agreement, 4) if agree else None,
        mean_kappa=_num(mine_kappa, 4),
        mean_tau=_num(ev.taus.get(ann), 4),
        left_rate=_num(position.share, 4),
        left_p=_num(position.p_value, 6),
        longer_rate=_num(length.share, 4),
        length_p=_num(length.p_value, 6),
        spammer_score=round(spammer_score(
            informativeness=info if info is not None else float("nan"), too_fast_share=fast_share,
            position=position, gold=gold_acc if gold_acc.n else None,
        ), 4),
        flagged=bool(reasons),
        reasons=tuple(reasons),
    )


def aggregate_items(
    judgments: Sequence[Judgment], result: QualityResult, config: QualityConfig
) -> list[ItemResult]:
    """Pairwise: each task's label and posterior over a / b / tie from the judgments the pass kept
    (Dawid-Skene or majority, `config.method`), in first-seen order. A task none of whose
    judgments was kept keeps its posterior from a fit over all its judgments."""
    posteriors: dict[Hashable, np.ndarray] = {}
    if result.fit is not None:
        posteriors.update(zip(result.fit.items, result.fit.posteriors, strict=True))
    left_out = _classes_left_out(result.fit, config)
    missing = [j for j in judgments if j.task not in posteriors]
    if missing:
        fallback = _pairwise_fit(missing, config, left_out)
        assert fallback is not None
        posteriors.update(zip(fallback.items, fallback.posteriors, strict=True))
    kept = [j for j, d in zip(judgments, result.decisions, strict=True) if d.included]
    if {j.id for j in kept} != {j.id for j in judgments if _measured(j)}:  # else the pass's fit is this fit
        refit = _pairwise_fit(kept, config, left_out)
        if refit is not None:
            posteriors.update(zip(refit.items, refit.posteriors, strict=True))
    items = []
    for task in dict.fromkeys(j.task for j in judgments):
        post = posteriors[task]
        items.append(ItemResult(task, str(CLASSES[int(np.argmax(post))]),
                                {c: round(float(p), 6) for c, p in zip(CLASSES, post, strict=True)}))
    return items
