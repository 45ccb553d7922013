"""One quality pass over plain judgment records: signals per judgment, statistics per annotator,
agreement per project, and the filter decisions. No database: services.py loads and stores.

Reliability comes from Dawid-Skene (pairwise, classes a / b / tie, both-bad counted as tie) or
CrowdBT (rankings); an annotator's judgment weight is their chance-corrected reliability clipped
to 0..1 (Dawid-Skene informativeness, or 2 * eta - 1 for CrowdBT): 1 is a perfect annotator,
0 one whose labels carry no information.

Reliability is measured against the other annotators, so it exists only where an annotator's
tasks were also judged by someone else. An annotator with no such overlap (a lone annotator, or
one who never shares a task) has no reliability (None), weight 1, and is not flagged for it; the
reliability flag needs `min_labels` judgments on shared tasks."""

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from statistics import median
from typing import Any

from labeling.quality.agreement import cohen_kappa, kendall_tau_b, krippendorff_alpha, leave_one_out_agreement
from labeling.quality.crowdbt import fit_crowdbt, pairs_from_ranking
from labeling.quality.dawid_skene import CLASSES, fit_dawid_skene
from labeling.quality.signals import gold_accuracy, length_bias, position_bias, spammer_score, too_fast


@dataclass
class Record:
    id: int
    annotator: int
    task: int
    sample_ids: list[int]  # canonical order
    shown_order: list[int]
    choice: str  # pairwise: a / b / tie / both_bad
    ranking: list[list[int]] | None
    seconds: float
    words_shown: int
    sample_words: dict[int, int]
    override: str = ""
    gold: Any = None  # the task's gold answer, when it is a gold task
    banned: bool = False
    # Filled by the pass:
    signals: dict[str, Any] = field(default_factory=dict)
    reasons: list[dict[str, str]] = field(default_factory=list)
    included: bool = True
    weight: float = 1.0

    def ranks(self) -> dict[int, int]:
        """Rank of each sample (0 = best; tied samples share a rank; both-bad is a tie)."""
        if self.ranking:
            return {s: r for r, group in enumerate(self.ranking) for s in group}
        a, b = self.sample_ids[0], self.sample_ids[1]
        return {a: 0, b: 1} if self.choice == "a" else {a: 1, b: 0} if self.choice == "b" else {a: 0, b: 0}

    def top_pick(self) -> int | None:
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


def _num(value: float | None, digits: int = 6) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def gold_correct(record: Record) -> bool | None:
    """Whether a judgment matches its task's gold answer. Forms: "a" / {"choice": "a"} (pairwise),
    {"ranking": [[id], ...]} (no strict pair inverted or tied), {"pairs": [[better, worse], ...]}."""
    gold = record.gold
    if gold is None:
        return None
    if isinstance(gold, str) or (isinstance(gold, dict) and "choice" in gold):
        return record.choice == (gold if isinstance(gold, str) else gold["choice"])
    ranks = record.ranks()
    pairs = gold.get("pairs") if isinstance(gold, dict) else None
    if pairs is None and isinstance(gold, dict) and gold.get("ranking"):
        tiers = gold["ranking"]
        pairs = [(w, lo) for i, tier in enumerate(tiers) for lower in tiers[i + 1 :] for w in tier for lo in lower]
    if not pairs:
        return None
    return all(better in ranks and worse in ranks and ranks[better] < ranks[worse] for better, worse in pairs)


def judgment_signals(record: Record, cfg: dict[str, Any]) -> dict[str, Any]:
    top = record.top_pick()
    words = record.sample_words
    longest = max(words.values()) if words else 0
    unique_longest = sum(1 for s in record.sample_ids if words.get(s, 0) == longest) == 1
    others = [words.get(s, 0) for s in record.sample_ids if s != top]
    return {
        "seconds": _num(record.seconds, 3),
        "words_shown": record.words_shown,
        "words_per_second": _num(record.words_shown / record.seconds, 2) if record.seconds > 0 else None,
        "too_fast": too_fast(
            record.seconds, record.words_shown,
            floor_seconds=cfg["floor_seconds"], max_words_per_second=cfg["max_words_per_second"],
        ),
        "picked_position": record.shown_order.index(top) if top in record.shown_order else None,
        "chosen_words": words.get(top) if top is not None else None,
        "others_words": _num(sum(others) / len(others), 1) if top is not None and others else None,
        "chose_longest": (words.get(top) == longest) if top is not None and unique_longest else None,
        "gold_correct": gold_correct(record),
    }


@dataclass
class Pass:
    annotators: dict[int, dict[str, Any]]
    project: dict[str, Any]


def _reliability(records: list[Record], ranking: bool) -> dict[int, tuple[float, float]]:
    """annotator -> (reliability, informativeness) from Dawid-Skene or CrowdBT."""
    if ranking:
        comparisons = [c for r in records for c in pairs_from_ranking(r.annotator, r.ranking or [])]
        if not comparisons:
            return {}
        quality = fit_crowdbt(comparisons).quality_of()
        return {a: (eta, 2.0 * eta - 1.0) for a, eta in quality.items()}
    triples = [(r.task, r.annotator, "tie" if r.choice == "both_bad" else r.choice) for r in records]
    if not triples:
        return {}
    # Only the classes in use: an unused latent "tie" class soaks up posterior mass and makes
    # everyone look less reliable than they are.
    used = {label for _, _, label in triples}
    fit = fit_dawid_skene(triples, [c for c in CLASSES if c in used] if len(used) > 1 else CLASSES)
    return dict(zip(fit.annotators, zip(fit.reliability.tolist(), fit.informativeness.tolist(), strict=True),
                    strict=True))


def _overlap(records: list[Record]) -> dict[int, int]:
    """annotator -> how many of their judgments are on tasks that another annotator also judged:
    the only evidence a reliability estimate has about them."""
    judges: dict[int, set[int]] = defaultdict(set)
    for r in records:
        judges[r.task].add(r.annotator)
    counts: Counter = Counter(r.annotator for r in records if len(judges[r.task]) > 1)
    return dict(counts)


def _alpha(records: list[Record], ranking: bool) -> float | None:
    units: dict[Any, list] = defaultdict(list)
    for r in records:
        if ranking:
            for sample, rank in r.ranks().items():
                units[(r.task, sample)].append(rank)
        else:
            units[r.task].append(r.choice)
    return _num(krippendorff_alpha(list(units.values()), level="ordinal" if ranking else "nominal"), 4)


def _kappas(records: list[Record], min_overlap: int) -> list[dict[str, Any]]:
    by_ann: dict[int, dict[int, str]] = defaultdict(dict)
    overlap: Counter = Counter()
    by_task: dict[int, list[int]] = defaultdict(list)
    for r in records:
        by_ann[r.annotator][r.task] = r.label()
        by_task[r.task].append(r.annotator)
    for anns in by_task.values():
        overlap.update(combinations(sorted(set(anns)), 2))
    out = []
    for (a, b), n in sorted(overlap.items()):
        if n >= min_overlap:
            kappa = _num(cohen_kappa(by_ann[a], by_ann[b]), 4)
            out.append({"a": a, "b": b, "n": n, "kappa": kappa})
    return out


def _taus(records: list[Record]) -> dict[int, float]:
    """Rankings: each judgment's Kendall tau-b with the mean ranks of the other judgments of its task."""
    by_task: dict[int, list[Record]] = defaultdict(list)
    for r in records:
        by_task[r.task].append(r)
    taus: dict[int, list[float]] = defaultdict(list)
    for group in by_task.values():
        for r in group:
            others = [o.ranks() for o in group if o is not r]
            if not others:
                continue
            mine = r.ranks()
            samples = sorted(mine)
            mean = [sum(o[s] for o in others) / len(others) for s in samples]
            tau = kendall_tau_b([mine[s] for s in samples], mean)
            if math.isfinite(tau):
                taus[r.annotator].append(tau)
    return {a: sum(v) / len(v) for a, v in taus.items()}


def _mean(values: list[float]) -> float | None:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return sum(values) / len(values) if values else None


def quality_pass(records: list[Record], *, ranking: bool, cfg: dict[str, Any]) -> Pass:
    """Fill signals, reasons, included and weight on every record; return the statistics."""
    filters = cfg["filters"]
    for r in records:
        r.signals = judgment_signals(r, cfg)
    live = [r for r in records if not r.banned]
    fitted = [r for r in live if r.gold is None and r.override != "exclude"]
    overlap = _overlap(fitted)
    # An annotator who shares no task with anyone is measured only against themselves: no reliability.
    reliability = {a: v for a, v in _reliability(fitted, ranking).items() if overlap.get(a, 0) > 0}
    loo = leave_one_out_agreement((r.task, r.annotator, r.label()) for r in fitted)
    kappas = _kappas(fitted, cfg["min_overlap"])
    taus = _taus(fitted) if ranking else {}
    stats: dict[int, dict[str, Any]] = {}
    by_ann: dict[int, list[Record]] = defaultdict(list)
    for r in records:
        by_ann[r.annotator].append(r)
    longest = [r.signals["chose_longest"] for r in live if r.signals["chose_longest"] is not None]
    base_longer = sum(longest) / len(longest) if longest else 0.5
    for ann, mine in sorted(by_ann.items()):
        stats[ann] = _annotator(ann, mine, reliability, loo, kappas, taus, base_longer, ranking, cfg,
                                n_shared=overlap.get(ann, 0))
    for r in records:
        info = stats[r.annotator]
        reasons = [{"filter": "banned", "detail": "the annotator is banned"}] if r.banned else []
        if filters["too_fast"] and r.signals["too_fast"]:
            reasons.append({"filter": "too_fast", "detail": _speed_detail(r, cfg)})
        if filters["gold"] and r.signals["gold_correct"] is False:
            reasons.append({"filter": "gold", "detail": "wrong answer on a gold task"})
        reasons.extend({"filter": f, "detail": f"annotator: {d}"} for f, d in info["reasons"])
        r.reasons = reasons
        r.included = r.override == "include" or (r.override != "exclude" and not reasons)
        r.weight = 1.0 if r.override == "include" else info["weight"]
    for info in stats.values():
        info["n_included"] = sum(1 for r in by_ann[info["annotator"]] if r.included)
        info["reasons"] = [{"filter": f, "detail": d} for f, d in info["reasons"]]
    included = [r for r in fitted if r.included]
    gold_all = [r.signals["gold_correct"] for r in live if r.signals["gold_correct"] is not None]
    project = {
        "n_judgments": len(records),
        "n_included": sum(1 for r in records if r.included),
        "n_annotators": len(stats),
        "n_flagged": sum(1 for s in stats.values() if s["flagged"]),
        "alpha": _alpha(fitted, ranking),
        "alpha_clean": _alpha(included, ranking),
        "mean_kappa": _num(_mean([k["kappa"] for k in kappas]), 4),
        "mean_tau": _num(_mean(list(taus.values())), 4) if ranking else None,
        "gold_accuracy": _num(sum(gold_all) / len(gold_all), 4) if gold_all else None,
        "details": {"kappa_pairs": kappas[:200], "base_longer_rate": _num(base_longer, 4)},
    }
    return Pass(stats, project)


def _speed_detail(r: Record, cfg: dict[str, Any]) -> str:
    return (
        f"{r.seconds:.1f} s for {r.words_shown} words shown "
        f"(floor {cfg['floor_seconds']} s, at most {cfg['max_words_per_second']} words/s)"
    )


def _annotator(
    ann: int, mine: list[Record], reliability: dict, loo: dict, kappas: list, taus: dict, base_longer: float,
    ranking: bool, cfg: dict[str, Any], n_shared: int = 0,
) -> dict[str, Any]:
    filters, n, min_n = cfg["filters"], len(mine), cfg["min_labels"]
    fast_share = sum(1 for r in mine if r.signals["too_fast"]) / n
    gold = [r.signals["gold_correct"] for r in mine if r.signals["gold_correct"] is not None]
    gold_acc = gold_accuracy(sum(gold), len(gold))
    picks = [r for r in mine if r.signals["picked_position"] is not None]
    n_first = sum(1 for r in picks if r.signals["picked_position"] == 0)
    expected_first = _mean([1.0 / len(r.sample_ids) for r in picks]) or 0.5
    if ranking:
        position = length_bias(n_first, len(picks), base_rate=expected_first, alpha=cfg["bias_alpha"])
    else:
        position = position_bias(n_first, len(picks) - n_first, alpha=cfg["bias_alpha"])
    longer = [r.signals["chose_longest"] for r in mine if r.signals["chose_longest"] is not None]
    length = length_bias(sum(longer), len(longer), base_rate=base_longer, alpha=cfg["bias_alpha"])
    rel, info = reliability.get(ann, (None, None))
    weight = 1.0 if info is None else min(1.0, max(0.0, info))
    agree = loo.get(ann)
    mine_kappa = _mean([k["kappa"] for k in kappas if ann in (k["a"], k["b"]) and k["kappa"] is not None])
    reasons = []
    if filters["too_fast"] and n >= min_n and fast_share >= cfg["too_fast_share"]:
        reasons.append(("too_fast", f"{fast_share:.0%} of judgments too fast"))
    if filters["gold"] and gold_acc.n >= cfg["gold_min_n"] and gold_acc.high < cfg["gold_min_accuracy"]:
        reasons.append(("gold", f"gold accuracy {gold_acc.accuracy:.0%} of {gold_acc.n} "
                                f"(95% CI {gold_acc.low:.0%}-{gold_acc.high:.0%})"))
    if filters["reliability"] and info is not None and n_shared >= min_n and info < cfg["min_informativeness"]:
        reasons.append(("reliability", f"chance-corrected reliability {info:.2f}"))
    if filters["agreement"] and agree and agree.n_compared >= min_n and agree.agreement < cfg["min_loo_agreement"]:
        reasons.append(("agreement", f"agrees with the others' consensus {agree.agreement:.0%} of {agree.n_compared}"))
    effect = cfg["min_bias_effect"]
    if (filters["position_bias"] and len(picks) >= min_n and position.biased
            and abs(position.share - expected_first) >= effect):
        reasons.append(("position_bias", f"picks the first shown {position.share:.0%} (p={position.p_value:.1e})"))
    if filters["length_bias"] and len(longer) >= min_n and length.biased and abs(length.share - base_longer) >= effect:
        reasons.append(("length_bias", f"picks the longest {length.share:.0%} vs {base_longer:.0%} overall "
                                       f"(p={length.p_value:.1e})"))
    seconds = [r.seconds for r in mine]
    return {
        "annotator": ann,
        "n_judgments": n,
        "reliability": _num(rel, 4),
        "informativeness": _num(info, 4),
        "weight": round(weight, 4),
        "median_seconds": _num(median(seconds), 2) if seconds else None,
        "too_fast_share": round(fast_share, 4),
        "gold_n": gold_acc.n,
        "gold_correct": sum(gold),
        "gold_accuracy": _num(gold_acc.accuracy, 4),
        "gold_low": _num(gold_acc.low, 4) if gold_acc.n else None,
        "gold_high": _num(gold_acc.high, 4) if gold_acc.n else None,
        "loo_agreement": _num(agree.agreement, 4) if agree else None,
        "mean_kappa": _num(mine_kappa, 4),
        "mean_tau": _num(taus.get(ann), 4),
        "left_rate": _num(position.share, 4),
        "left_p": _num(position.p_value, 6),
        "longer_rate": _num(length.share, 4),
        "length_p": _num(length.p_value, 6),
        "spammer_score": round(spammer_score(
            informativeness=info if info is not None else float("nan"), too_fast_share=fast_share,
            position=position, gold=gold_acc if gold_acc.n else None,
        ), 4),
        "flagged": bool(reasons),
        "reasons": reasons,
    }
