import numpy as np
import pytest

from labeling.quality.agreement import kendall_tau_b
from labeling.quality.crowdbt import fit_crowdbt, pairs_from_ranking


def simulate(seed=1, n_items=30, per_annotator=150):
    rng = np.random.default_rng(seed)
    true = np.linspace(-2.0, 2.0, n_items)
    eta = {f"good{i}": 0.9 for i in range(15)} | {f"adv{i}": 0.1 for i in range(5)}
    comps = []
    for ann, e in eta.items():
        for _ in range(per_annotator):
            i, j = rng.choice(n_items, 2, replace=False)
            win, lose = (i, j) if rng.random() < 1 / (1 + np.exp(true[j] - true[i])) else (j, i)
            if rng.random() > e:  # the annotator reports the wrong order
                win, lose = lose, win
            comps.append((ann, int(win), int(lose)))
    return comps, true


def test_recovers_order_and_flags_adversarial_annotators():
    comps, true = simulate()
    res = fit_crowdbt(comps)
    scores = res.score_of()
    assert kendall_tau_b([scores[i] for i in range(len(true))], true) > 0.85
    quality = res.quality_of()
    assert all(quality[f"adv{i}"] < 0.35 for i in range(5))
    assert all(quality[f"good{i}"] > 0.7 for i in range(15))


def test_adversaries_would_hurt_a_plain_bradley_terry_more():
    comps, true = simulate(seed=2)
    honest_only = fit_crowdbt([c for c in comps if c[0].startswith("good")])
    joint = fit_crowdbt(comps)
    tau_joint = kendall_tau_b([joint.score_of()[i] for i in range(len(true))], true)
    tau_honest = kendall_tau_b([honest_only.score_of()[i] for i in range(len(true))], true)
    assert tau_joint >= tau_honest - 0.05  # adversarial votes are flipped, not harmful


def test_pairs_from_ranking_with_ties():
    assert pairs_from_ranking("w", ["x", ["y", "z"], "v"]) == [
        ("w", "x", "y"),
        ("w", "x", "z"),
        ("w", "x", "v"),
        ("w", "y", "v"),
        ("w", "z", "v"),
    ]


def test_empty_input_raises():
    with pytest.raises(ValueError):
        fit_crowdbt([])
