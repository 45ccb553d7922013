import json

import pytest
import torch
from safetensors.torch import load_file

from rewards.engine import RewardConfig, split_by_prompt, train_reward_model
from rewards.engine.checkpoint import list_checkpoints

from .conftest import toy_elements


def _cfg(base, out, **kw):
    return RewardConfig(base_model=base, output_dir=str(out), batch_size=4, grad_accum_steps=2, precision="fp32",
                        learning_rate=5e-3, logging_steps=1, seed=3, **kw)


def test_checkpoint_resume_equals_uninterrupted(tiny_gpt2, tmp_path):
    elements = toy_elements()
    full = train_reward_model(_cfg(tiny_gpt2, tmp_path / "full", max_steps=6), elements, progress=False)
    part = train_reward_model(_cfg(tiny_gpt2, tmp_path / "part", max_steps=6, save_steps=2), elements,
                              progress=False, stop_at_step=4)
    assert part.stopped_early
    ckpts = list_checkpoints(tmp_path / "part")
    assert [c.name for c in ckpts] == ["step-000002", "step-000004"]
    info = json.loads((ckpts[-1] / "checkpoint.json").read_text())
    assert info["step"] == 4 and info["description"] and info["config"]["max_steps"] == 6
    resumed = train_reward_model(_cfg(tiny_gpt2, tmp_path / "part", max_steps=6, save_steps=2), elements,
                                 progress=False, resume=True)
    assert [h["step"] for h in resumed.history] == [5, 6]
    assert resumed.history[-1]["loss"] == pytest.approx(full.history[-1]["loss"], abs=1e-6)
    a = load_file(str(tmp_path / "full" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "part" / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k


def test_resume_refuses_other_settings(tiny_gpt2, tmp_path):
    train_reward_model(_cfg(tiny_gpt2, tmp_path, max_steps=4, save_steps=2), toy_elements(), progress=False,
                       stop_at_step=2)
    with pytest.raises(ValueError, match="learning_rate"):
        cfg = _cfg(tiny_gpt2, tmp_path, max_steps=4, save_steps=2)
        cfg.learning_rate = 1.0
        train_reward_model(cfg, toy_elements(), progress=False, resume=True)


def test_training_learns_toy_preferences(tiny_bert, tmp_path):
    train, held = split_by_prompt(toy_elements(40), 0.25, seed=0)
    assert train and held
    assert not {e.prompt for e in train} & {e.prompt for e in held}
    cfg = RewardConfig(base_model=tiny_bert, output_dir=str(tmp_path), batch_size=8, precision="fp32",
                       learning_rate=2e-2, num_epochs=6, logging_steps=5, ties="rao_kupper", tie_param=1.5,
                       center_rewards_coef=0.01)
    result = train_reward_model(cfg, train, held, progress=False)
    assert result.metrics["eval_accuracy"] >= 0.9
    assert result.metrics["eval_reward_mean"] == pytest.approx(0.0, abs=2.0)
    meta = json.loads((tmp_path / "reward_config.json").read_text())
    assert meta["format"] == "preflab-reward/1" and "eval_accuracy" in meta["metrics"]


def _synthetic_preferences(n: int, seed: int = 0) -> list:
    """n pairs whose chosen answer mixes 'good' words into filler and the rejected one 'bad' words."""
    import random

    from rewards.engine import pair_element

    from .conftest import WORDS

    rng = random.Random(seed)
    good, bad = "good great helpful kind yes thanks".split(), "bad awful harmful rude no".split()
    filler = "the a is was answer reply says assistant it".split()

    def answer(words: list[str]) -> str:
        return " ".join(f"{rng.choice(filler)} {rng.choice(words)}" for _ in range(3))

    return [pair_element(answer(good), answer(bad), "human says " + " ".join(rng.choice(WORDS) for _ in range(4)))
            for _ in range(n)]


def test_a_default_config_run_learns_a_small_synthetic_preference_set(tiny_bert):
    """Every setting at its default (only the base model and one thread given), 512 pairs, ~1 s. The old
    defaults (learning rate 2e-4, one epoch) left the loss at ln 2 = 0.693, a coin flip."""
    train, held = split_by_prompt(_synthetic_preferences(512), 0.2, seed=0)
    result = train_reward_model(RewardConfig(base_model=tiny_bert, threads=1), train, held, progress=False)
    assert result.steps >= 100  # min_steps: 410 pairs are 26 steps an epoch, 78 by num_epochs alone
    assert result.metrics["train_loss"] < 0.65
    assert result.metrics["eval_accuracy"] >= 0.9
