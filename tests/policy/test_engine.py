"""The policy engine on a tiny GPT-2: PPO arithmetic by hand, one base for every role,
mixed-adapter generation, PPO and SFT learning, resume after an interruption."""

from __future__ import annotations

import pytest
import torch

from policy.engine import (
    GenerationConfig,
    PolicyTrainingError,
    PPOConfig,
    SFTConfig,
    gae,
    generate_completions,
    load_causal_base,
    load_for_generation,
    policy_loss,
    sft_example,
    train_ppo,
    train_sft,
    value_loss,
    whiten,
)
from policy.engine.adapters import POLICY, VALUE, add_adapter, attach_policy, use_adapter
from policy.engine.ppo_core import kl_per_token, shape_rewards
from tests.policy.conftest import PROMPTS, count_reward


def test_gae_matches_hand_computation():
    rewards = torch.tensor([[1.0, 0.0, 2.0], [0.5, 1.0, 0.0]])
    values = torch.tensor([[0.5, 0.2, 0.1], [0.3, 0.4, 9.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    gamma, lam = 0.9, 0.8
    adv, ret = gae(rewards, values, mask, gamma, lam)
    # Row 0: deltas d2 = 2 - 0.1, d1 = 0 + .9*.1 - .2, d0 = 1 + .9*.2 - .5
    d2, d1, d0 = 1.9, 0.09 - 0.2, 1 + 0.18 - 0.5
    a2, a1 = d2, d1 + 0.72 * d2
    a0 = d0 + 0.72 * a1
    assert adv[0].tolist() == pytest.approx([a0, a1, a2], abs=1e-6)
    # Row 1 ends after 2 tokens: the padded value (9.0) must not leak in.
    e1 = 1.0 - 0.4
    e0 = 0.5 + 0.9 * 0.4 - 0.3
    assert adv[1].tolist() == pytest.approx([e0 + 0.72 * e1, e1, 0.0], abs=1e-6)
    assert ret[0].tolist() == pytest.approx([a0 + 0.5, a1 + 0.2, a2 + 0.1], abs=1e-6)


def test_clipped_losses_match_hand_computation():
    old = torch.log(torch.tensor([[0.5, 0.5]]))
    new = torch.log(torch.tensor([[0.75, 0.25]]))  # ratios 1.5 and 0.5
    adv = torch.tensor([[1.0, 1.0]])
    mask = torch.ones(1, 2)
    loss, stats = policy_loss(new, old, adv, mask, cliprange=0.2)
    # token 0: max(-1.5, -1.2) = -1.2 (clipped); token 1: max(-0.5, -0.8) = -0.5
    assert float(loss) == pytest.approx((-1.2 - 0.5) / 2)
    assert float(stats["clipfrac"]) == pytest.approx(0.5)
    values, old_values, returns = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 0.0]]), torch.tensor([[2.0, 1.0]])
    vloss, _ = value_loss(values, old_values, returns, mask, cliprange_value=0.5)
    # token 0: clipped v = 0.5: max((1-2)^2, (0.5-2)^2) = 2.25; token 1: max(1, 1) = 1
    assert float(vloss) == pytest.approx(0.5 * (2.25 + 1.0) / 2)


def test_whitening_and_shaping_ignore_padding():
    values = torch.tensor([[1.0, 3.0, 100.0]])
    mask = torch.tensor([[1, 1, 0]])
    out = whiten(values, mask)
    assert out[0, 2] == 0 and float(out[0, :2].mean()) == pytest.approx(0.0, abs=1e-6)
    kl = torch.tensor([[0.1, 0.2, 0.3]])
    rewards, non_score = shape_rewards(torch.tensor([5.0]), kl, mask, kl_coef=0.5)
    assert rewards.tolist()[0] == pytest.approx([-0.05, -0.1 + 5.0, 0.0])
    k3 = kl_per_token(torch.tensor([0.0]), torch.tensor([-1.0]), "k3")  # r = e^-1
    assert float(k3) == pytest.approx(torch.exp(torch.tensor(-1.0)).item() - 1 + 1)


def test_adapters_disabled_give_the_base_logits(tiny_lm):
    base, tokenizer, _ = load_causal_base(tiny_lm, precision="fp32")
    ids = tokenizer(["why cat question"], return_tensors="pt")["input_ids"]
    expected = base(input_ids=ids).logits.clone()
    cfg = PPOConfig(base_model=tiny_lm)
    model = attach_policy(base, cfg)
    add_adapter(model, VALUE, cfg=cfg, trainable=True)
    for name, param in model.named_parameters():  # make both adapters non-trivial
        if "lora_B" in name:
            param.data.normal_(0, 0.5)
    trainable = [p for n, p in model.named_parameters() if "lora_" in n]
    with torch.no_grad():
        assert not torch.allclose(model(input_ids=ids).logits, expected)
        with use_adapter(model, None, trainable):
            assert torch.allclose(model(input_ids=ids).logits, expected, atol=1e-6)
        with use_adapter(model, VALUE, trainable):
            assert not torch.allclose(model(input_ids=ids).logits, expected)
    assert model.active_adapter == POLICY
    assert all(p.requires_grad for p in trainable)


def _random_adapter(tiny_lm, folder, seed):
    base, tokenizer, _ = load_causal_base(tiny_lm, precision="fp32")
    model = attach_policy(base, PPOConfig(base_model=tiny_lm, seed=seed))
    torch.manual_seed(seed)
    for name, param in model.named_parameters():
        if "lora_B" in name:
            param.data.normal_(0, 1.0)
    from policy.engine import save_adapter

    save_adapter(model, POLICY, folder, tokenizer=tokenizer, meta={"base_model": tiny_lm})
    return str(folder)


def test_mixed_adapter_batch_equals_one_adapter_at_a_time(tiny_lm, tmp_path):
    folders = [_random_adapter(tiny_lm, tmp_path / f"ad{i}", seed=i) for i in range(3)]
    greedy = GenerationConfig(max_new_tokens=6, temperature=0.0, batch_size=64)
    model, tokenizer, names = load_for_generation(tiny_lm, folders, precision="fp32")
    prompts = PROMPTS[:5]
    mixed = generate_completions(model, tokenizer, prompts, greedy, adapters=[*names, None])
    alone = {}
    for name in [*names, None]:
        for c in generate_completions(model, tokenizer, prompts, greedy, adapters=[name]):
            alone[(c.prompt_index, name)] = c.text
    assert len(mixed) == len(prompts) * 4
    assert {(c.prompt_index, c.adapter): c.text for c in mixed} == alone
    # The adapters really differ from each other and from the base.
    assert len({tuple(alone[(i, n)] for i in range(5)) for n in [*names, None]}) == 4


def _ppo_config(tiny_lm, out, **kw):
    values = dict(base_model=tiny_lm, output_dir=str(out), steps=14, batch_size=16, mini_batch_size=8,
                  max_new_tokens=8, temperature=1.0, learning_rate=1e-2, value_learning_rate=3e-3, kl_coef=0.1,
                  threads=1, precision="fp32", seed=0)
    values.update(kw)
    return PPOConfig(**values)


def test_ppo_raises_a_synthetic_reward_with_bounded_kl(tiny_lm, tmp_path):
    result = train_ppo(_ppo_config(tiny_lm, tmp_path / "out"), PROMPTS, count_reward)
    first = sum(h["reward_mean"] for h in result.history[:3]) / 3
    last = sum(h["reward_mean"] for h in result.history[-3:]) / 3
    assert last > first + 1.0, [h["reward_mean"] for h in result.history]
    assert all(h["kl"] < 20 for h in result.history), [h["kl"] for h in result.history]
    # The KL penalty bites: a 10x larger beta keeps the policy closer to the reference.
    tight = train_ppo(_ppo_config(tiny_lm, tmp_path / "tight", kl_coef=1.0), PROMPTS, count_reward, save=False)
    assert sum(h["kl"] for h in tight.history[-3:]) < sum(h["kl"] for h in result.history[-3:])
    for key in ("reward_std", "entropy", "clipfrac", "approx_kl", "value_loss", "explained_variance",
                "response_length", "tokens_per_s"):
        assert key in result.history[-1]
    assert (tmp_path / "out" / "adapter_config.json").is_file()
    assert (tmp_path / "out" / "value" / "value_head.safetensors").is_file()


def test_ppo_fails_loudly_when_the_adapter_cannot_change(tiny_lm, tmp_path):
    with pytest.raises(PolicyTrainingError, match="did not change"):
        train_ppo(_ppo_config(tiny_lm, tmp_path / "o", steps=1, learning_rate=0.0), PROMPTS, count_reward)


def test_ppo_resumes_from_its_checkpoint(tiny_lm, tmp_path):
    cfg = _ppo_config(tiny_lm, tmp_path / "out", steps=4, save_steps=2)

    class Killed(Exception):
        pass

    def kill_at_3(step, _trainer):
        if step == 3:
            raise Killed()

    with pytest.raises(Killed):
        train_ppo(cfg, PROMPTS, count_reward, on_step=kill_at_3)
    seen = []
    resumed = train_ppo(cfg, PROMPTS, count_reward, resume=True, on_step=lambda s, _t: seen.append(s))
    assert seen == [3, 4]  # steps 1-2 came from the checkpoint
    assert [h["step"] for h in resumed.history] == [1, 2, 3, 4]
    straight = train_ppo(_ppo_config(tiny_lm, tmp_path / "straight", steps=4), PROMPTS, count_reward)
    assert [h["reward_mean"] for h in resumed.history] == pytest.approx(
        [h["reward_mean"] for h in straight.history], abs=1e-6)


def test_sft_lowers_the_loss_on_its_data(tiny_lm, tmp_path):
    examples = [sft_example({"prompt": f"why {w} question", "response": "yes good answer thanks"})
                for w in ("cat", "dog", "sky", "it", "red", "blue")]
    examples.append(sft_example({"messages": [{"role": "user", "content": "how cat"},
                                              {"role": "assistant", "content": "good kind answer"}]}))
    cfg = SFTConfig(base_model=tiny_lm, output_dir=str(tmp_path / "sft"), num_epochs=10, batch_size=4,
                    learning_rate=1e-2, precision="fp32", threads=1)
    result = train_sft(cfg, examples)
    assert result.history[-1]["loss"] < 0.5 * result.history[0]["loss"]
    assert (tmp_path / "sft" / "adapter_config.json").is_file()
    model, tokenizer, names = load_for_generation(tiny_lm, [str(tmp_path / "sft")], precision="fp32")
    out = generate_completions(model, tokenizer, ["why cat question"], GenerationConfig(temperature=0.0,
                               max_new_tokens=4), adapters=names)
    assert out[0].text.startswith("yes good")


def test_full_parameter_ppo_trains_every_weight_with_three_copies(tiny_lm, tmp_path):
    from policy.engine.ppo import PPOTrainer

    cfg = _ppo_config(tiny_lm, tmp_path / "full", steps=3, full_finetune=True, learning_rate=1e-4)
    trainer = PPOTrainer(cfg, PROMPTS, count_reward)
    n_policy = sum(p.numel() for p in trainer.policy_params)
    assert n_policy == sum(p.numel() for p in trainer.model.parameters())
    assert trainer.roles.value_model is not trainer.model and trainer.roles.reference_model is not trainer.model
    result = train_ppo(cfg, PROMPTS, count_reward)
    assert len(result.history) == 3 and (tmp_path / "full" / "model.safetensors").is_file()


def test_generation_logprobs_match_a_teacher_forced_pass(tiny_lm):
    from policy.engine import generate_batch
    from policy.engine.forward import response_logprobs
    from policy.engine.generate import encode_prompt

    model, tokenizer, _ = load_causal_base(tiny_lm, precision="fp32")
    config = GenerationConfig(max_new_tokens=6, temperature=0.8)
    rows = [encode_prompt(tokenizer, p) for p in PROMPTS[:4]]
    torch.manual_seed(0)
    gen = generate_batch(model, tokenizer, rows, config, return_logprobs=True)
    ids = torch.cat([gen.prompt_ids, gen.response_ids], 1)
    mask = torch.cat([gen.prompt_mask, gen.response_mask], 1)
    with torch.no_grad():
        forward, _ = response_logprobs(model, ids, mask, gen.response_ids.shape[1], 0.8)
    assert torch.allclose(gen.logprobs, forward * gen.response_mask, atol=1e-4)
    assert (gen.logprobs <= 0).all() and gen.response_mask.sum() > 0



@pytest.mark.parametrize("reference", ["base", "init"])
def test_value_trunk_replay_equals_a_full_value_pass(tiny_lm, tmp_path, reference):
    """The value adapter covers the top layer only; replaying the captured trunk gives the values
    (and gradients) of a full pass, whichever role's pass captured it."""
    from policy.engine.roles import LoraRoles

    init = _random_adapter(tiny_lm, tmp_path / "init", seed=3) if reference == "init" else ""
    roles = LoraRoles(_ppo_config(tiny_lm, tmp_path / "o", value_layers=0.5, init_adapter=init, reference="init"))
    value_lora = [n for n, _ in roles.policy.named_parameters() if "lora_" in n and f".{VALUE}." in n]
    assert value_lora and all(".h.1." in n for n in value_lora), value_lora
    assert roles.trunk.first == 1
    torch.manual_seed(0)
    for p in roles.value_params:
        p.data.normal_(0, 0.3)
    tok = roles.tokenizer
    batch = tok(["why cat question good", "how is it", "please answer the dog question yes"], return_tensors="pt",
                padding=True)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    _, rollout_values, trunk = roles.rollout_pass(ids, mask, 2, 1.0)
    assert trunk is not None and trunk.shape[:2] == ids.shape

    full = roles.values(ids, mask, 2)
    full.sum().backward()
    full_grads = [p.grad.clone() for p in roles.value_params]
    for p in roles.value_params:
        p.grad = None
    rows = torch.tensor([2, 0])
    replayed = roles.values(ids[rows], mask[rows], 2, trunk[rows])
    torch.testing.assert_close(replayed, full[rows].detach())
    torch.testing.assert_close(rollout_values, full.detach())
    roles.values(ids, mask, 2, trunk).sum().backward()
    for p, g in zip(roles.value_params, full_grads, strict=True):
        torch.testing.assert_close(p.grad, g)
    # The replay is undone: the lower layer is the real block again.
    assert type(roles.trunk.layers[0]).__name__ == "GPT2Block"


def test_micro_batches_accumulate_to_the_minibatch_gradient(tiny_lm, tmp_path):
    """Passes of 3 rollouts (uneven chunks of a minibatch of 8) train exactly like one pass of 8."""
    whole = train_ppo(_ppo_config(tiny_lm, tmp_path / "a", steps=2, micro_batch_size=0), PROMPTS, count_reward,
                      save=False)
    split = train_ppo(_ppo_config(tiny_lm, tmp_path / "b", steps=2, micro_batch_size=3), PROMPTS, count_reward,
                      save=False)
    for a, b in zip(whole.history, split.history, strict=True):
        for key in ("reward_mean", "policy_loss", "value_loss", "clipfrac", "approx_kl", "kl"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), key
    with pytest.raises(ValueError, match="micro_batch_size"):
        _ppo_config(tiny_lm, tmp_path / "c", micro_batch_size=-1)


def test_value_trunk_replay_on_llama_layers(tmp_path):
    """Llama blocks take rotary embeddings from the model: replaying the trunk still equals a full pass."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from policy.engine.roles import LoraRoles
    from tests.policy.conftest import build_tiny_lm

    gpt2 = build_tiny_lm(tmp_path / "gpt2")
    tokenizer = AutoTokenizer.from_pretrained(gpt2)
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=4,
                                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                                 eos_token_id=1, bos_token_id=1, pad_token_id=1)).save_pretrained(tmp_path / "llama")
    tokenizer.save_pretrained(tmp_path / "llama")
    roles = LoraRoles(PPOConfig(base_model=str(tmp_path / "llama"), precision="fp32", threads=1))
    assert roles.trunk.first == 3  # a quarter of 4 layers
    for p in roles.value_params:
        p.data.normal_(0, 0.3)
    batch = roles.tokenizer(["why cat question good", "how is it"], return_tensors="pt", padding=True)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    _, rollout_values, trunk = roles.rollout_pass(ids, mask, 2, 1.0)
    full = roles.values(ids, mask, 2)
    torch.testing.assert_close(roles.values(ids, mask, 2, trunk), full)
    torch.testing.assert_close(rollout_values, full.detach())
