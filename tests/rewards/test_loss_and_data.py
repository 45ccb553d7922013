import math

import pytest
import torch

from rewards.engine import (
    DataError,
    pair_element,
    preference_loss,
    ranking_element,
    read_elements,
    split_shared_prefix,
)
from rewards.engine.evaluate import expected_calibration_error
from rewards.engine.loss import _log_tie_prob, _log_win_prob
from rewards.engine.tokenize import EncodedElement, bucketed_batches, collate


def _nll(x: float) -> float:
    return -math.log(1 / (1 + math.exp(-x)))


def test_loss_matches_hand_computation():
    r = torch.tensor([1.0, 0.2, -0.5, 0.3], requires_grad=True)
    loss, m = preference_loss(
        r, torch.tensor([0, 2]), torch.tensor([1, 3]), torch.tensor([1.0, 0.5]), 2,
        margin=torch.tensor([0.0, 0.1]), center_rewards_coef=0.01,
    )
    expected = (1.0 * _nll(0.8) + 0.5 * _nll(-0.8 - 0.1)) / 2 + 0.01 * (1 + 0.04 + 0.25 + 0.09) / 4
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert m["accuracy"] == 0.5
    loss.backward()
    assert r.grad is not None and r.grad[0] < 0 < r.grad[1]


@pytest.mark.parametrize("ties,param", [("rao_kupper", 1.5), ("davidson", 0.7)])
def test_tie_models_are_distributions(ties, param):
    d = torch.linspace(-4, 4, 9)
    win, lose = _log_win_prob(d, ties, param).exp(), _log_win_prob(-d, ties, param).exp()
    total = win + lose + _log_tie_prob(d, ties, param).exp()
    assert torch.allclose(total, torch.ones_like(total), atol=1e-6)
    r = torch.tensor([0.3, 0.3])
    loss, _ = preference_loss(r, torch.tensor([0]), torch.tensor([1]), torch.tensor([1.0]), 1,
                              tie=torch.tensor([True]), ties=ties, tie_param=param)
    assert loss.item() == pytest.approx(-_log_tie_prob(torch.tensor(0.0), ties, param).item(), rel=1e-6)


def test_kway_ranking_expands_to_all_pairs_with_weights():
    el = ranking_element("p", ["a", "b", "c", "d"], [2, 1, 3, 1])
    assert len(el.comparisons) == 6
    assert all(c.weight == pytest.approx(1 / 6) for c in el.comparisons)
    ties = [c for c in el.comparisons if c.tie]
    assert [(c.winner, c.loser) for c in ties] == [(1, 3)]
    assert {(c.winner, c.loser) for c in el.comparisons if not c.tie} == {(1, 0), (0, 2), (3, 0), (1, 2), (3, 2)}


def test_collate_offsets_comparisons_per_element():
    a = EncodedElement([[1, 2], [3]], None, [0], [1], [1.0], [0.0], [False], [float("nan")])
    b = EncodedElement([[4], [5, 6, 7], [8]], None, [1, 0], [0, 2], [0.5, 0.5], [0, 0], [False, False], [1, 1])
    batch = collate([a, b], pad_id=0)
    assert batch.input_ids.shape == (5, 3)
    assert batch.winner.tolist() == [0, 3, 2] and batch.loser.tolist() == [1, 2, 4]
    assert batch.attention_mask.sum(1).tolist() == [2, 1, 1, 3, 1]
    assert batch.n_elements == 2


def test_shared_prefix_is_the_prompt_and_cut_at_whitespace():
    p, a, b = split_shared_prefix("\n\nHuman: hi\n\nAssistant: No way", "\n\nHuman: hi\n\nAssistant: Not now")
    assert p == "\n\nHuman: hi\n\nAssistant:" and a == " No way" and b == " Not now"
    el = pair_element("Q? yes", "Q? no")
    assert el.prompt == "Q?" and el.responses == [" yes", " no"]


def test_bucketed_batches_deterministic_and_complete():
    lengths = [5, 100, 7, 90, 6, 95, 8, 99] * 5
    b1 = bucketed_batches(lengths, 4, seed=1, epoch=0, multiplier=50)
    assert b1 == bucketed_batches(lengths, 4, seed=1, epoch=0, multiplier=50)
    assert b1 != bucketed_batches(lengths, 4, seed=1, epoch=1, multiplier=50)
    assert sorted(i for b in b1 for i in b) == list(range(len(lengths)))
    assert all(max(lengths[i] for i in b) - min(lengths[i] for i in b) <= 10 for b in b1)


def test_ece_zero_when_calibrated():
    conf = torch.tensor([0.75] * 4)
    assert expected_calibration_error(conf, torch.tensor([True, True, True, False])) == pytest.approx(0.0)
    assert expected_calibration_error(conf, torch.tensor([True] * 4)) == pytest.approx(0.25)


def test_bad_input_names_file_and_line(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text('{"chosen": "a", "rejected": "b"}\n\n{"chosen": 3, "rejected": "b"}\n')
    with pytest.raises(DataError, match=r"p.jsonl:3: field 'chosen'"):
        read_elements(f)
    f.write_text('{"chosen": "a", "rejected": "b"}\nnot json\n')
    with pytest.raises(DataError, match=r"p.jsonl:2: invalid JSON"):
        read_elements(f)
