import numpy as np
import pytest

from labeling.quality.config import QualityConfig
from labeling.quality.evaluate import LabelLine, evaluate_lines
from labeling.quality.honeypots import pick_other_prompt_sample, shuffle_sentences, truncate_mid_sentence
from labeling.quality.signals import (
    BiasTest,
    gold_accuracy,
    length_bias,
    position_bias,
    spammer_score,
    too_fast,
    wilson_interval,
)


def test_too_fast_floor_and_reading_speed():
    assert too_fast(2.0)
    assert not too_fast(None)
    assert not too_fast(30.0, 200)
    assert too_fast(10.0, 200)  # 200 words at 10 words/s needs 20 s
    assert not too_fast(10.0, 200, max_words_per_second=25)


def test_position_and_length_bias():
    assert position_bias(20, 0).biased
    assert not position_bias(11, 9).biased
    # binomtest(18, 20, 0.5) two-sided p = 2 * (C(20,18)+C(20,19)+C(20,20)) / 2^20.
    assert position_bias(18, 2).p_value == pytest.approx(2 * (190 + 20 + 1) / 2**20)
    assert not length_bias(70, 100, base_rate=0.7).biased
    assert length_bias(95, 100, base_rate=0.7).biased


def test_wilson_interval_textbook_value():
    # 8 of 10 at 95%: centre (0.8 + 1.92/10)/(1.384) -> (0.4902, 0.9433).
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    g = gold_accuracy(0, 12)
    assert g.accuracy == 0 and g.high < 0.3


def test_spammer_score_takes_strongest_signal():
    assert spammer_score(informativeness=0.6) == 0.0
    assert spammer_score(informativeness=0.0) == 1.0
    assert spammer_score(informativeness=0.6, too_fast_share=0.9) == 0.9
    assert spammer_score(informativeness=0.6, position=BiasTest(1.0, 1e-6, True)) == 1.0
    assert spammer_score(informativeness=0.6, position=BiasTest(1.0, 0.2, False)) == 0.0
    assert spammer_score(informativeness=0.6, gold=gold_accuracy(0, 30)) > 0.85


def test_filters_flag_planted_spammers():
    rng = np.random.default_rng(0)
    classes = ("a", "b", "tie")
    judgments = []
    for i in range(400):
        truth = classes[rng.integers(3)]
        for w in range(6):
            label = truth if rng.random() < 0.8 else classes[rng.integers(3)]
            judgments.append(LabelLine(f"i{i}", f"honest{w}", label, float(rng.uniform(15, 60))))
        if i < 150:
            judgments.append(LabelLine(f"i{i}", "always-left", "a", 20.0))
            judgments.append(LabelLine(f"i{i}", "random", classes[rng.integers(3)], 25.0))
            judgments.append(LabelLine(f"i{i}", "too-fast", truth if rng.random() < 0.5 else "a", 1.0))
    res = evaluate_lines(judgments, QualityConfig())
    assert res.flagged == {"always-left", "random", "too-fast"}
    reports = res.annotators
    assert reports["too-fast"].too_fast_share == 1.0
    assert reports["always-left"].left_rate == 1.0
    assert all(reports[f"honest{w}"].spammer_score < 0.3 for w in range(6))


def test_truncate_mid_sentence():
    text = "The cat sat on the mat. It was warm. Then it slept all day long."
    cut = truncate_mid_sentence(text, fraction=0.5)
    assert text.startswith(cut) and len(cut) < len(text)
    assert not cut.endswith((".", "!", "?"))


def test_shuffle_sentences_is_deterministic_and_different():
    text = "One. Two. Three. Four."
    a, b = shuffle_sentences(text, seed=3), shuffle_sentences(text, seed=3)
    assert a == b and a != text
    assert sorted(a.split()) == sorted(text.split())
    assert shuffle_sentences("Only one sentence.", seed=1) == "Only one sentence."


def test_pick_other_prompt_sample():
    samples = {"p1": ["s1", "s2"], "p2": ["s3"], "p3": ["s4", "s5"], "p4": []}
    picks = {pick_other_prompt_sample(samples, "p1", seed=s) for s in range(20)}
    assert picks <= {"s3", "s4", "s5"} and len(picks) > 1
    assert pick_other_prompt_sample(samples, "p1", seed=7) == pick_other_prompt_sample(
        dict(reversed(list(samples.items()))), "p1", seed=7
    )
    with pytest.raises(ValueError):
        pick_other_prompt_sample({"p1": ["s1"]}, "p1", seed=0)
