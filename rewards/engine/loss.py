"""Pairwise reward loss: -log sigma(r_w - r_l - margin), per-comparison weights, optional
tie-aware terms (Rao-Kupper or Davidson) and a reward-centering term."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _log_win_prob(diff: torch.Tensor, ties: str, tie_param: float) -> torch.Tensor:
    """log P(winner beats loser | diff = r_w - r_l) under the chosen tie model."""
    if ties == "rao_kupper":
        return F.logsigmoid(diff - math.log(tie_param))
    if ties == "davidson":
        log_nu = torch.full_like(diff, math.log(tie_param))
        return -torch.logsumexp(torch.stack([torch.zeros_like(diff), -diff, log_nu - diff / 2]), dim=0)
    return F.logsigmoid(diff)


def _log_tie_prob(diff: torch.Tensor, ties: str, tie_param: float) -> torch.Tensor:
    if ties == "rao_kupper":
        lt = math.log(tie_param)
        return math.log(tie_param**2 - 1) + F.logsigmoid(diff - lt) + F.logsigmoid(-diff - lt)
    if ties == "davidson":
        log_nu = math.log(tie_param)
        stacked = torch.stack([diff / 2, -diff / 2, torch.full_like(diff, log_nu)])
        return log_nu - torch.logsumexp(stacked, dim=0)
    raise ValueError("tied comparisons need ties='rao_kupper' or 'davidson' (or drop them first)")


def preference_loss(
    rewards: torch.Tensor,
    winner: torch.Tensor,
    loser: torch.Tensor,
    weight: torch.Tensor,
    n_elements: int,
    *,
    margin: torch.Tensor | None = None,
    tie: torch.Tensor | None = None,
    ties: str = "drop",
    tie_param: float = 1.5,
    center_rewards_coef: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted negative log-likelihood of the comparisons, summed and divided by the number
    of batch elements (prompts), plus ``center_rewards_coef * mean(rewards**2)``.

    ``rewards`` has one entry per sequence; ``winner``/``loser`` index into it. Returns the loss
    and detached metrics (loss, accuracy over non-tied comparisons, margin mean)."""
    rewards = rewards.float()
    diff = rewards[winner] - rewards[loser]
    if margin is not None:
        diff_m = diff - margin
    else:
        diff_m = diff
    nll = -_log_win_prob(diff_m, ties, tie_param)
    if tie is not None and bool(tie.any()):
        nll = torch.where(tie, -_log_tie_prob(diff, ties, tie_param), nll)
    loss = (weight * nll).sum() / max(n_elements, 1)
    if center_rewards_coef:
        loss = loss + center_rewards_coef * rewards.pow(2).mean()
    with torch.no_grad():
        strict = ~tie if tie is not None else torch.ones_like(diff, dtype=torch.bool)
        n = int(strict.sum())
        acc = float((diff[strict] > 0).float().mean()) if n else float("nan")
        metrics = {"loss": float(loss), "accuracy": acc, "reward_gap": float(diff[strict].mean()) if n else 0.0}
    return loss, metrics
