import math

import pytest
from scipy.stats import kendalltau

from labeling.quality.agreement import cohen_kappa, kendall_tau_b, krippendorff_alpha, leave_one_out_agreement

N = None
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers x 12 units.
OBSERVERS = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
    [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
]
UNITS = [list(u) for u in zip(*OBSERVERS, strict=True)]


def test_alpha_nominal_matches_published_example():
    assert krippendorff_alpha(UNITS, "nominal") == pytest.approx(0.743, abs=5e-4)


def test_alpha_accepts_nan_as_missing():
    with_nan = [[math.nan if v is None else v for v in u] for u in UNITS]
    assert krippendorff_alpha(with_nan) == pytest.approx(krippendorff_alpha(UNITS))


def test_alpha_ordinal_hand_computed():
    # Coincidences o = [[2,1,0],[1,2,1],[0,1,0]], n_c = (3,4,1), n = 8.
    # delta_12 = (3+4 - 3.5)^2 = 12.25, delta_23 = (4+1 - 2.5)^2 = 6.25, delta_13 = (8 - 2)^2 = 36.
    # alpha = 1 - 7 * (2*12.25 + 2*6.25) / (2*(12*12.25 + 3*36 + 4*6.25)) = 1 - 259/560.
    data = [[1, 1], [1, 2], [2, 2], [2, 3]]
    assert krippendorff_alpha(data, "ordinal") == pytest.approx(301 / 560)
    # Nominal on the same data: 1 - 7 * 4 / 38.
    assert krippendorff_alpha(data, "nominal") == pytest.approx(10 / 38)


def test_alpha_ordinal_matches_published_example():
    # The paper's ordinal value for these data is 0.815 (the `krippendorff` package on PyPI checks
    # the same figure on the same matrix in its own test suite).
    assert krippendorff_alpha(UNITS, "ordinal") == pytest.approx(0.815, abs=5e-4)


def test_alpha_perfect_agreement_and_unpairable_units():
    assert krippendorff_alpha([[1, 1], [2, 2], [3, N]]) == 1.0


def test_cohen_kappa_wikipedia_example():
    # 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> p_o = 0.7, p_e = 0.5, kappa = 0.4.
    pairs = [("y", "y")] * 20 + [("y", "n")] * 5 + [("n", "y")] * 10 + [("n", "n")] * 15
    a = {i: p[0] for i, p in enumerate(pairs)}
    b = {i: p[1] for i, p in enumerate(pairs)}
    b["only-b"] = "y"  # items not labelled by both are ignored
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_cohen_kappa_no_overlap_is_nan():
    assert math.isnan(cohen_kappa({1: "a"}, {2: "a"}))


def test_kendall_tau_b_hand_examples():
    assert kendall_tau_b([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    # Ties: one tied pair in each ranking, 4 concordant -> 4 / sqrt(5 * 5).
    assert kendall_tau_b([1, 1, 2, 3], [1, 2, 2, 3]) == pytest.approx(0.8)
    x, y = [3, 1, 4, 1, 5, 9, 2, 6], [2, 7, 1, 8, 2, 8, 1, 8]
    assert kendall_tau_b(x, y) == pytest.approx(kendalltau(x, y).statistic)


def test_leave_one_out_agreement():
    labels = [
        ("i1", "x", "a"),
        ("i1", "y", "a"),
        ("i1", "z", "b"),
        ("i2", "x", "b"),
        ("i2", "y", "b"),
        ("i2", "z", "b"),
        ("i3", "x", "a"),
        ("i3", "y", "b"),  # others of each are a single vote
    ]
    out = leave_one_out_agreement(labels)
    # x: i1 others {a, b} tie -> skipped; i2 others b -> hit; i3 other b -> miss.
    assert out["x"].n_compared == 2 and out["x"].agreement == pytest.approx(0.5)
    # z: i1 others a,a -> miss; i2 others b,b -> hit.
    assert out["z"].agreement == pytest.approx(0.5)
    assert out["y"].n_compared == 2
