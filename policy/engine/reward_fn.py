"""Reward callables for PPO. The policy hands over plain texts; the reward model re-tokenizes
them with its own tokenizer, so policy and reward model need not share a vocabulary."""

from __future__ import annotations

from pathlib import Path

from .generate import Prompt, prompt_plain_text
from .ppo import RewardFn


def reward_fn_from_folder(adapter_dir: str | Path, *, base_model: str | None = None, offset: float | None = None,
                          batch_size: int = 32) -> RewardFn:
    """Score with a saved reward model (a single model or an ensemble folder). Chat prompts are
    flattened the way reward snapshots flatten them (`role: content` lines)."""
    from rewards.engine import load_reward_model, score_texts

    model = load_reward_model(adapter_dir, base_model=base_model or None)
    if offset is not None:
        model.reward_offset = offset

    def score(prompts: list[Prompt], responses: list[str]) -> list[float]:
        return score_texts(model, [prompt_plain_text(p) for p in prompts], responses, batch_size=batch_size)

    return score
