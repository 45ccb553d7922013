"""The quality pass on plain judgments (labeling/quality/pipeline.py), no database."""

import random

import pytest

from labeling.quality.config import QualityConfig
from labeling.quality.pipeline import Judgment, quality_pass


def _record(rid: int, annotator: int, task: int, choice: str, rng: random.Random) -> Judgment:
    a, b = 10 * task, 10 * task + 1
    return Judgment(id=rid, annotator=annotator, task=task, sample_ids=(a, b),
                    shown_order=(a, b) if rng.random() < 0.5 else (b, a), choice=choice, ranking=None,
                    seconds=20.0, words_shown=50, sample_words={a: 20, b: 25})


@pytest.mark.parametrize("answers", ["all_a", "mostly_a", "mixed"])
def test_a_lone_annotator_is_not_flagged_for_a_reliability_nobody_can_measure(answers):
    """One annotator, no task shared with anyone: Dawid-Skene can only compare them with themselves
    (it gave 0.00-0.09 here, flagging and excluding every judgment). No reliability, weight 1, kept."""
    rng = random.Random(1)
    choices = {"all_a": lambda: "a", "mostly_a": lambda: "a" if rng.random() < 0.7 else "b",
               "mixed": lambda: rng.choice(["a", "b", "tie", "both_bad"])}[answers]
    records = [_record(t, 1, t, choices(), rng) for t in range(23)]
    result = quality_pass(records, ranking=False, config=QualityConfig())
    lone = result.annotators[1]
    assert lone.informativeness is None and lone.reliability is None and lone.weight == 1.0
    assert not lone.flagged and all(d.included and d.weight == 1.0 for d in result.decisions)


def test_overlap_is_what_makes_reliability_measurable():
    """Two honest annotators share 30 tasks with a contrarian; a fourth works alone on other tasks. The
    contrarian (measured on shared tasks) is flagged; the loner has no reliability and is not flagged."""
    rng = random.Random(2)
    records, rid = [], 0
    for t in range(30):
        truth = rng.choice("ab")
        for annotator, choice in ((1, truth), (2, truth), (3, "b" if truth == "a" else "a")):
            rid += 1
            records.append(_record(rid, annotator, t, choice, rng))
    for t in range(100, 130):
        rid += 1
        records.append(_record(rid, 4, t, rng.choice("ab"), rng))
    result = quality_pass(records, ranking=False, config=QualityConfig())
    assert "reliability" in [r.filter for r in result.annotators[3].reasons]
    assert result.annotators[1].informativeness > 0.5 and not result.annotators[1].flagged
    loner = result.annotators[4]
    assert loner.informativeness is None and not loner.flagged and loner.weight == 1.0
    # Raw agreement with the others' majority is a filter a project may switch on (off by default).
    assert "agreement" not in [r.filter for r in result.annotators[3].reasons]
    opted_in = quality_pass(records, ranking=False, config=QualityConfig().with_filters(agreement=True))
    assert "agreement" in [r.filter for r in opted_in.annotators[3].reasons]


def test_annotator_statistics_are_the_stored_columns():
    """The typed record is the only list of statistics: every field but the annotator is a column
    of AnnotatorStats, and every column the pass owns is a field."""
    from dataclasses import fields

    from labeling.quality.models import AnnotatorStats
    from labeling.quality.pipeline import AnnotatorQuality

    record = {f.name for f in fields(AnnotatorQuality)} - {"annotator"}
    own = {f.name for f in AnnotatorStats._meta.concrete_fields} - {"id", "project", "annotator", "computed_at"}
    assert record == own


def test_include_and_weight_is_one_rule():
    from labeling.quality.pipeline import include_and_weight

    assert include_and_weight("", False, 0.4) == (True, 0.4)
    assert include_and_weight("", True, 0.4) == (False, 0.4)
    assert include_and_weight("include", True, 0.4) == (True, 1.0)
    assert include_and_weight("exclude", False, 0.4) == (False, 0.4)


def test_the_pass_is_pure_and_decides_in_input_order():
    rng = random.Random(3)
    records = [_record(i, i % 3, i // 3, rng.choice("ab"), rng) for i in range(60)]
    before = list(records)
    result = quality_pass(records, ranking=False, config=QualityConfig())
    assert records == before
    assert [d.judgment for d in result.decisions] == [r.id for r in records]


def test_quality_eval_applies_the_service_rule():
    """quality_eval's adapter runs the service's settings: 40 % too-fast judgments flag an annotator
    (too_fast_share 0.3; the old command's own rule needed a spammer score of 0.7), their too-fast
    judgments are excluded one by one, and switching the filter off (as a project can) keeps them."""
    from labeling.quality.evaluate import LabelLine, evaluate_lines

    rng = random.Random(4)
    lines = []
    for i in range(60):
        truth = rng.choice("ab")
        lines += [LabelLine(f"i{i}", f"w{w}", truth if rng.random() < 0.9 else "tie", 20.0) for w in range(4)]
        lines.append(LabelLine(f"i{i}", "hasty", truth, 1.0 if i % 5 < 2 else 20.0))
    result = evaluate_lines(lines, QualityConfig())
    assert result.flagged == {"hasty"} and result.annotators["hasty"].too_fast_share == 0.4
    assert [r.filter for r in result.annotators["hasty"].reasons] == ["too_fast"]
    assert not evaluate_lines(lines, QualityConfig().with_filters(too_fast=False)).flagged


def test_items_are_labelled_from_the_judgments_kept():
    """A flagged always-left annotator is left out of the item labels: they are those of the same
    lines without them (and differ from those with every filter off). An item only they labelled
    keeps its posterior from the fit over everything."""
    from labeling.quality.config import Filters
    from labeling.quality.evaluate import LabelLine, evaluate_lines

    rng = random.Random(5)
    lines = []
    for i in range(80):
        truth = rng.choice("ab")
        lines += [LabelLine(f"i{i}", f"w{w}", truth if rng.random() < 0.85 else "tie", 20.0) for w in range(3)]
        lines.append(LabelLine(f"i{i}", "lefty", "a", 20.0))
    lines.append(LabelLine("only-lefty", "lefty", "a", 20.0))
    result = evaluate_lines(lines, QualityConfig())
    assert result.flagged == {"lefty"}

    def labels(res) -> dict[str, tuple[str, dict[str, float]]]:
        return {item.item_id: (item.label, item.posterior) for item in res.items if item.item_id != "only-lefty"}

    honest = [line for line in lines if line.annotator_id != "lefty"]
    assert labels(result) == labels(evaluate_lines(honest, QualityConfig()))
    assert labels(result) != labels(evaluate_lines(lines, QualityConfig(filters=Filters.none())))
    assert result.items[-1].item_id == "only-lefty"  # lefty's "a" carries no information: its posterior is the prior
    assert all(abs(sum(item.posterior.values()) - 1) < 1e-4 for item in result.items)


def test_item_labels_have_no_tie_class_built_from_a_habit_or_from_clickers():
    """Item labels have a tie class only where annotators share ties like they share sides: a
    habit of saying tie on hard items gives no tie items, nor do small random clickers (too few
    labels to be flagged); planted ties stay."""
    from labeling.quality.evaluate import LabelLine, evaluate_lines
    from tests.quality.test_dawid_skene import _tie_habit_crowd, planted

    habit, truth = _tie_habit_crowd(0)
    lines = [LabelLine(item, ann, label, 20.0) for item, ann, label in habit]
    rng = random.Random(6)
    for c in range(40):
        lines += [LabelLine(f"i{rng.randrange(500)}", f"clicker{c}", rng.choice(["a", "b", "tie"]), 20.0)
                  for _ in range(8)]
    items = evaluate_lines(lines, QualityConfig()).items
    assert not [item for item in items if item.label == "tie"]
    accuracy = sum(item.label == "ab"[truth[int(item.item_id[1:])]] for item in items) / len(items)
    assert accuracy > 0.9
    tied, _, tie_truth = planted(seed=6, n_items=600)
    items = evaluate_lines([LabelLine(i, a, lab, 20.0) for i, a, lab in tied], QualityConfig()).items
    assert sum(item.label == "tie" for item in items) > 150
    assert sum(item.label == ("a", "b", "tie")[tie_truth[int(item.item_id[1:])]] for item in items) / len(items) > 0.9
