"""Scoring and evaluation: held-out accuracy (strict >) with its 95% Wilson interval, accuracy by
agreement level, calibration of P(A>B) (ECE), reward mean/std, and the reward offset."""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from typing import Any

import torch

from training.torch_setup import autocast

from .data import Element
from .model import RewardModel, forward_rewards
from .tokenize import EncodedElement, collate, encode_elements, sorted_batches

_ensemble_lock = threading.Lock()


@torch.inference_mode()
def score_encoded(
    model: torch.nn.Module,
    encoded: list[EncodedElement],
    *,
    is_decoder: bool,
    pad_id: int,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    progress: bool = False,
    pooling: str = "auto",
) -> list[torch.Tensor]:
    """Rewards per element (a float tensor with one entry per response), in input order."""
    was_training = model.training
    model.eval()
    device = torch.device(device)
    out: list[torch.Tensor | None] = [None] * len(encoded)
    batches = sorted_batches([e.cost for e in encoded], batch_size)
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, desc="scoring", unit="batch")
    for idx in batches:
        batch = collate([encoded[i] for i in idx], pad_id).to(device)
        with autocast(device, precision):
            rewards = forward_rewards(
                model, batch.input_ids, batch.attention_mask, batch.token_type_ids, is_decoder=is_decoder,
                pooling=pooling,
            ).float().cpu()
        pos = 0
        for i in idx:
            k = len(encoded[i].seqs)
            out[i] = rewards[pos : pos + k]
            pos += k
    model.train(was_training)
    return out  # type: ignore[return-value]


Z95 = 1.959963984540054  # the normal quantile of 0.975


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (sane at 0/n and n/n, unlike Wald); (0, 1) for n=0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def expected_calibration_error(confidence: torch.Tensor, correct: torch.Tensor, n_bins: int = 10) -> float:
    """ECE of binary predictions: confidence in [0.5, 1] split into equal-width bins."""
    if confidence.numel() == 0:
        return float("nan")
    edges = torch.linspace(0.5, 1.0, n_bins + 1)
    which = torch.bucketize(confidence.clamp(0.5, 1.0), edges[1:-1], right=True)
    ece = 0.0
    for b in range(n_bins):
        sel = which == b
        if sel.any():
            ece += float(sel.float().mean()) * abs(float(correct[sel].float().mean()) - float(confidence[sel].mean()))
    return ece


def compute_metrics(
    rewards: list[torch.Tensor], encoded: list[EncodedElement], *, reward_offset: float = 0.0, n_bins: int = 10
) -> dict[str, Any]:
    """Accuracy over non-tied comparisons (correct only if r_winner > r_loser), by agreement,
    ECE of P(winner > loser) = sigmoid(r_w - r_l), and reward statistics (offset applied)."""
    diffs, agreements = [], []
    for r, e in zip(rewards, encoded, strict=True):
        for w, lo, tie, agr in zip(e.winner, e.loser, e.tie, e.agreement, strict=True):
            if not tie:
                diffs.append(float(r[w] - r[lo]))
                agreements.append(agr)
    d = torch.tensor(diffs, dtype=torch.float64)
    correct = d > 0
    p = torch.sigmoid(d)
    confidence = torch.maximum(p, 1 - p)
    by_agreement: dict[str, dict[str, float]] = {}
    groups: dict[float, list[bool]] = defaultdict(list)
    for ok, agr in zip(correct.tolist(), agreements, strict=True):
        if not math.isnan(agr):
            groups[round(agr, 2)].append(ok)
    for agr in sorted(groups):
        by_agreement[f"{agr:.2f}"] = {"accuracy": sum(groups[agr]) / len(groups[agr]), "n": len(groups[agr])}
    all_r = torch.cat(rewards).double() - reward_offset if rewards else torch.zeros(0, dtype=torch.float64)
    low, high = wilson_interval(int(correct.sum()), len(d)) if len(d) else (float("nan"), float("nan"))
    return {
        "accuracy": float(correct.double().mean()) if len(d) else float("nan"),
        "n": len(d),
        "accuracy_low": low,  # 95% Wilson interval of the accuracy
        "accuracy_high": high,
        "accuracy_by_agreement": by_agreement,
        "ece": expected_calibration_error(confidence, correct, n_bins),
        "mean_prob_correct": float(p.mean()) if len(d) else float("nan"),
        "reward_mean": float(all_r.mean()) if len(all_r) else float("nan"),
        "reward_std": float(all_r.std()) if len(all_r) > 1 else 0.0,
    }


def reward_offset(rewards: list[torch.Tensor], limit: int = 0) -> float:
    """Mean reward of the reference sequences (the first ``limit`` of them if limit > 0):
    subtracting it makes the reference average 0."""
    flat = torch.cat(rewards) if rewards else torch.zeros(0)
    if limit > 0:
        flat = flat[:limit]
    return float(flat.double().mean()) if len(flat) else 0.0


def evaluate_reward_model(
    rm: RewardModel,
    elements: list[Element],
    *,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    progress: bool = False,
) -> dict[str, Any]:
    """Encode ``elements`` with the model's tokenizer and settings, score them and compute metrics."""
    encoded = encode_elements(elements, rm.tokenizer, max_length=rm.max_length, is_decoder=rm.is_decoder)
    rewards = score_reward_model(rm, encoded, batch_size=batch_size, device=device, precision=precision,
                                 progress=progress)
    return compute_metrics(rewards, encoded, reward_offset=rm.reward_offset)


def score_reward_model(
    rm: RewardModel,
    encoded: list[EncodedElement],
    *,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    progress: bool = False,
) -> list[torch.Tensor]:
    """Rewards per element from a loaded model, before ``rm.reward_offset``; for an ensemble, the
    mean over its members of each member's offset-corrected rewards."""
    per_member = score_reward_model_members(rm, encoded, batch_size=batch_size, device=device,
                                            precision=precision, progress=progress)
    if len(per_member) == 1:
        return per_member[0]
    return [torch.stack(rs).mean(0) for rs in zip(*per_member, strict=True)]


def score_reward_model_members(
    rm: RewardModel,
    encoded: list[EncodedElement],
    *,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    progress: bool = False,
) -> list[list[torch.Tensor]]:
    """Rewards per member, then per element: a single model is one member (before
    ``rm.reward_offset``); an ensemble's members are each offset-corrected."""
    kw = {"is_decoder": rm.is_decoder, "pad_id": rm.tokenizer.pad_token_id, "batch_size": batch_size,
          "device": device, "precision": precision, "progress": progress, "pooling": rm.pooling}
    if not rm.members:
        return [score_encoded(rm.model, encoded, **kw)]
    per_member = []
    with _ensemble_lock:  # set_adapter switches shared state; scoring threads must not interleave
        for name, offset in rm.members:
            rm.model.set_adapter(name)
            per_member.append([r - offset for r in score_encoded(rm.model, encoded, **kw)])
    return per_member


def _encode_texts(rm: RewardModel, prompts: list[str], responses: list[str]) -> tuple[list[EncodedElement], Any]:
    """(prompt, response) pairs as one-response elements encoded for ``rm``, and the model's device."""
    elements = [Element(p, [r]) for p, r in zip(prompts, responses, strict=True)]
    encoded = encode_elements(elements, rm.tokenizer, max_length=rm.max_length, is_decoder=rm.is_decoder)
    return encoded, next(rm.model.parameters()).device


def score_texts(
    rm: RewardModel, prompts: list[str], responses: list[str], *, batch_size: int = 32, precision: str = "fp32"
) -> list[float]:
    """Offset-corrected rewards of (prompt, response) pairs."""
    encoded, device = _encode_texts(rm, prompts, responses)
    rewards = score_reward_model(rm, encoded, batch_size=batch_size, device=device, precision=precision)
    return [float(r[0]) - rm.reward_offset for r in rewards]


def score_texts_by_member(
    rm: RewardModel, prompts: list[str], responses: list[str], *, batch_size: int = 32, precision: str = "fp32"
) -> list[list[float]]:
    """Offset-corrected rewards of (prompt, response) pairs, one list per ensemble member; their
    mean is ``score_texts`` (a single model: one list)."""
    encoded, device = _encode_texts(rm, prompts, responses)
    per_member = score_reward_model_members(rm, encoded, batch_size=batch_size, device=device, precision=precision)
    return [[float(r[0]) - rm.reward_offset for r in rewards] for rewards in per_member]
