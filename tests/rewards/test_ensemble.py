import json

import pytest
import torch

from rewards.engine import (
    RewardConfig,
    encode_elements,
    evaluate_reward_model,
    load_reward_model,
    planned_steps,
    resume_step,
    score_encoded,
    score_texts,
    train_reward_model,
)

from .conftest import toy_elements


def _cfg(base, out, **kw):
    kw.setdefault("max_steps", 3)
    return RewardConfig(base_model=base, output_dir=str(out), batch_size=4, precision="fp32", learning_rate=1e-2,
                        logging_steps=1, seed=5, **kw)


def test_ensemble_scores_are_the_mean_of_its_offset_corrected_members(tiny_bert, tiny_gpt2, tmp_path):
    train, held = toy_elements(16), toy_elements(6)
    for base in (tiny_bert, tiny_gpt2):
        out = tmp_path / ("ens" + str(base == tiny_gpt2))
        cfg = _cfg(base, out, ensemble_size=3)
        result = train_reward_model(cfg, train, held, progress=False)
        assert result.steps == planned_steps(cfg, train) == 9
        assert [h["step"] for h in result.history] == list(range(1, 10))
        assert [h["member"] for h in result.history] == [0] * 3 + [1] * 3 + [2] * 3
        meta = json.loads((out / "reward_config.json").read_text())
        assert meta["ensemble"] == ["member-0", "member-1", "member-2"]
        members = [load_reward_model(out / name) for name in meta["ensemble"]]
        seeds = [json.loads((out / n / "reward_config.json").read_text())["config"]["seed"] for n in meta["ensemble"]]
        assert seeds == [5, 6, 7]
        first_lora_b = [next(v for k, v in m.model.state_dict().items() if "lora_B" in k) for m in members]
        assert not torch.equal(first_lora_b[0], first_lora_b[1]), "members must differ (different seeds)"

        ens = load_reward_model(out)
        assert [name for name, _ in ens.members] == meta["ensemble"]
        prompts = ["why is the sky blue", "how are cats"]
        responses = ["a good helpful answer", "a rude answer"]
        expected = torch.tensor([score_texts(m, prompts, responses) for m in members]).mean(0)
        got = torch.tensor(score_texts(ens, prompts, responses))
        assert torch.allclose(got, expected, atol=1e-5)
        assert all(offset != 0.0 for _, offset in ens.members)  # offsets really are applied per member

        again = evaluate_reward_model(ens, held)
        assert again["accuracy"] == pytest.approx(result.metrics["eval_accuracy"])
        assert len(result.metrics["member_eval_accuracy"]) == 3


def test_single_member_scores_unchanged_by_ensemble_loading(tiny_bert, tmp_path):
    cfg = _cfg(tiny_bert, tmp_path / "one")
    train_reward_model(cfg, toy_elements(8), progress=False)
    rm = load_reward_model(tmp_path / "one")
    assert rm.members == []
    enc = encode_elements(toy_elements(4), rm.tokenizer, max_length=64, is_decoder=False)
    raw = score_encoded(rm.model, enc, is_decoder=False, pad_id=rm.tokenizer.pad_token_id, pooling=rm.pooling)
    assert evaluate_reward_model(rm, toy_elements(4))["reward_mean"] == pytest.approx(
        float(torch.cat(raw).double().mean()) - rm.reward_offset, abs=1e-5)


def test_ensemble_interrupted_then_resumed_keeps_finished_members(tiny_gpt2, tmp_path):
    elements = toy_elements(16)
    cfg = _cfg(tiny_gpt2, tmp_path, ensemble_size=2, max_steps=4, save_steps=2)
    part = train_reward_model(cfg, elements, progress=False, stop_at_step=6)
    assert part.stopped_early and part.steps == 6
    first = tmp_path / "member-0" / "adapter_model.safetensors"
    assert first.is_file() and not (tmp_path / "member-1" / "reward_config.json").exists()
    stamp = first.stat().st_mtime_ns
    assert resume_step(cfg, elements) == 6  # member 0 done (4) + member 1's checkpoint at its step 2
    resumed = train_reward_model(cfg, elements, progress=False, resume=True)
    assert [h["step"] for h in resumed.history] == [7, 8]
    assert first.stat().st_mtime_ns == stamp
    assert load_reward_model(tmp_path).members[1][0] == "member-1"


def test_ensemble_fine_tunes_member_by_member_and_refuses_a_size_mismatch(tiny_bert, tmp_path):
    train_reward_model(_cfg(tiny_bert, tmp_path / "a", ensemble_size=2), toy_elements(8), progress=False)
    cont = train_reward_model(_cfg(tiny_bert, tmp_path / "b", ensemble_size=2, init_adapter=str(tmp_path / "a")),
                              toy_elements(8), progress=False)
    assert cont.steps == 6
    with pytest.raises(ValueError, match="ensemble of 2; set ensemble_size to 2"):
        train_reward_model(_cfg(tiny_bert, tmp_path / "c", ensemble_size=3, init_adapter=str(tmp_path / "a")),
                           toy_elements(8), progress=False)
