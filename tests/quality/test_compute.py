"""The quality pass on plain records (labeling/quality/compute.py), no database."""

import copy
import random

import pytest

from labeling.quality.compute import Record, quality_pass
from labeling.quality.config import DEFAULTS


def _record(rid: int, annotator: int, task: int, choice: str, rng: random.Random) -> Record:
    a, b = 10 * task, 10 * task + 1
    return Record(id=rid, annotator=annotator, task=task, sample_ids=[a, b],
                  shown_order=[a, b] if rng.random() < 0.5 else [b, a], choice=choice, ranking=None,
                  seconds=20.0, words_shown=50, sample_words={a: 20, b: 25})


@pytest.mark.parametrize("answers", ["all_a", "mostly_a", "mixed"])
def test_a_lone_annotator_is_not_flagged_for_a_reliability_nobody_can_measure(answers):
    """One annotator, no task shared with anyone: Dawid-Skene can only compare them with themselves
    (it gave 0.00-0.09 here, flagging and excluding every judgment). No reliability, weight 1, kept."""
    rng = random.Random(1)
    choices = {"all_a": lambda: "a", "mostly_a": lambda: "a" if rng.random() < 0.7 else "b",
               "mixed": lambda: rng.choice(["a", "b", "tie", "both_bad"])}[answers]
    records = [_record(t, 1, t, choices(), rng) for t in range(23)]
    result = quality_pass(records, ranking=False, cfg=copy.deepcopy(DEFAULTS))
    lone = result.annotators[1]
    assert lone["informativeness"] is None and lone["reliability"] is None and lone["weight"] == 1.0
    assert not lone["flagged"] and all(r.included and r.weight == 1.0 for r in records)


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
    result = quality_pass(records, ranking=False, cfg=copy.deepcopy(DEFAULTS))
    assert "reliability" in [f["filter"] for f in result.annotators[3]["reasons"]]
    assert result.annotators[1]["informativeness"] > 0.5 and not result.annotators[1]["flagged"]
    loner = result.annotators[4]
    assert loner["informativeness"] is None and not loner["flagged"] and loner["weight"] == 1.0
