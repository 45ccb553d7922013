import torch

from rewards.engine import (
    Element,
    RewardConfig,
    build_reward_model,
    encode_elements,
    forward_rewards,
    load_reward_model,
    save_reward_model,
    score_encoded,
    train_reward_model,
)
from rewards.engine.tokenize import pad_sequences

from .conftest import toy_elements


def _cfg(base, out="", **kw):
    kw.setdefault("precision", "fp32")
    return RewardConfig(base_model=base, output_dir=str(out), batch_size=4, logging_steps=2, **kw)


def test_decoder_reward_read_at_last_real_token_left_and_right(tiny_gpt2):
    model, tok = build_reward_model(_cfg(tiny_gpt2))
    model.eval()
    # pad id == eos id, and eos also occurs inside the text: only the mask can tell them apart.
    eos = tok.eos_token_id
    assert tok.pad_token_id == eos
    seqs = [[10, eos, 11, 12, eos], [13, 14], [15, 16, 17, 18, 19, 20, 21]]
    with torch.no_grad():
        alone = [forward_rewards(model, torch.tensor([s]), torch.ones(1, len(s), dtype=torch.long)) for s in seqs]
        alone = torch.cat(alone)
        for side in ("right", "left"):
            ids, mask, _ = pad_sequences(seqs, tok.pad_token_id, padding_side=side)
            batched = forward_rewards(model, ids, mask)
            assert torch.allclose(batched, alone, atol=1e-5), side


def test_lora_and_head_change_base_does_not(tiny_bert, tmp_path):
    model, tok = build_reward_model(_cfg(tiny_bert))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any("lora_" in n for n in trainable) and any("classifier" in n for n in trainable)
    train_reward_model(_cfg(tiny_bert, max_steps=3, learning_rate=1e-2), toy_elements(), model=model,
                       tokenizer=tok, progress=False, save=False)
    for n, p in model.named_parameters():
        changed = not torch.equal(before[n], p.detach())
        if "lora_B" in n or n in trainable and "classifier" in n and "weight" in n:
            assert changed, n
        if n not in trainable:
            assert not changed, n


def test_save_then_load_gives_identical_rewards(tiny_bert, tiny_gpt2, tmp_path):
    elements = toy_elements(8) + [Element("what", ["a great answer"])]
    for base in (tiny_bert, tiny_gpt2):
        out = tmp_path / ("m" + str(base == tiny_gpt2))
        cfg = _cfg(base, out, max_steps=2, learning_rate=1e-2)
        model, tok = build_reward_model(cfg)
        train_reward_model(cfg, toy_elements(), model=model, tokenizer=tok, progress=False, save=False)
        save_reward_model(model, tok, out, config=cfg, reward_offset=0.25)
        assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
        enc = encode_elements(elements, tok, max_length=cfg.max_length, is_decoder=base == tiny_gpt2)
        r1 = score_encoded(model, enc, is_decoder=base == tiny_gpt2, pad_id=tok.pad_token_id)
        rm = load_reward_model(out)
        assert rm.reward_offset == 0.25 and rm.is_decoder == (base == tiny_gpt2)
        r2 = score_encoded(rm.model, enc, is_decoder=rm.is_decoder, pad_id=rm.tokenizer.pad_token_id)
        for a, b in zip(r1, r2, strict=True):
            assert torch.equal(a, b)


def test_bf16_training_runs_and_keeps_trainable_fp32(tiny_gpt2):
    cfg = _cfg(tiny_gpt2, max_steps=2, precision="bf16")
    model, tok = build_reward_model(cfg)
    result = train_reward_model(cfg, toy_elements(), model=model, tokenizer=tok, progress=False, save=False)
    assert all(p.dtype == torch.float32 for p in model.parameters() if p.requires_grad)
    assert any(p.dtype == torch.bfloat16 for p in model.parameters() if not p.requires_grad)
    assert result.history and torch.isfinite(torch.tensor(result.history[-1]["loss"]))


def test_mean_pooling_ignores_padding_and_survives_save_load(tiny_bert, tmp_path):
    out = tmp_path / "mean"
    cfg = _cfg(tiny_bert, out, max_steps=2, learning_rate=1e-2, pooling="mean")
    model, tok = build_reward_model(cfg)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert not any("pooler" in n for n in trainable)  # unused with mean pooling
    model.eval()
    seqs = [[2, 10, 11, 3], [2, 12, 3, 13, 14, 15, 3], [2, 16, 3]]
    with torch.no_grad():
        alone = torch.cat([forward_rewards(model, torch.tensor([s]), torch.ones(1, len(s), dtype=torch.long),
                                           pooling="mean") for s in seqs])
        ids, mask, _ = pad_sequences(seqs, tok.pad_token_id)
        batched = forward_rewards(model, ids, mask, pooling="mean")
        cls = forward_rewards(model, ids, mask)
    assert batched.shape == cls.shape == (3,)
    assert torch.allclose(batched, alone, atol=1e-5)
    assert not torch.allclose(batched, cls)
    train_reward_model(cfg, toy_elements(), model=model, tokenizer=tok, progress=False, save=False)
    save_reward_model(model, tok, out, config=cfg)
    enc = encode_elements(toy_elements(6), tok, max_length=cfg.max_length, is_decoder=False)
    r1 = score_encoded(model, enc, is_decoder=False, pad_id=tok.pad_token_id, pooling="mean")
    rm = load_reward_model(out)
    assert rm.pooling == "mean"
    r2 = score_encoded(rm.model, enc, is_decoder=False, pad_id=rm.tokenizer.pad_token_id, pooling=rm.pooling)
    for a, b in zip(r1, r2, strict=True):
        assert torch.equal(a, b)


def test_pooling_validation(tiny_gpt2):
    import pytest

    with pytest.raises(ValueError):
        RewardConfig(pooling="max")
    model, _ = build_reward_model(_cfg(tiny_gpt2))
    with pytest.raises(ValueError):
        forward_rewards(model, torch.tensor([[10, 11]]), torch.ones(1, 2, dtype=torch.long), pooling="cls")
    with torch.no_grad():
        r = forward_rewards(model, torch.tensor([[10, 11]]), torch.ones(1, 2, dtype=torch.long), pooling="mean")
    assert r.shape == (1,)


def test_auto_pooling_follows_a_sentence_transformers_base_and_is_saved_resolved(tiny_bert, tmp_path):
    import json
    import shutil

    st_base = tmp_path / "st-bert"
    shutil.copytree(tiny_bert, st_base)
    (st_base / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]))
    (st_base / "1_Pooling").mkdir()
    (st_base / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    for base, expected in ((str(st_base), "mean"), (tiny_bert, "cls")):
        out = tmp_path / f"out-{expected}"
        train_reward_model(_cfg(base, out, max_steps=1), toy_elements(8), progress=False)
        assert load_reward_model(out).pooling == expected
        saved = json.loads((out / "adapter_config.json").read_text())["modules_to_save"]
        assert ("pooler" in saved) == (expected == "cls")  # the pooler is trained only when read


def _lora_state(model) -> dict[str, torch.Tensor]:
    return {n.split("base_model.model.")[-1]: p.detach().clone() for n, p in model.named_parameters()
            if p.requires_grad}


def test_init_adapter_continues_a_saved_model(tiny_bert, tmp_path):
    import json

    import pytest

    first = tmp_path / "first"
    cfg = _cfg(tiny_bert, first, max_steps=3, learning_rate=1e-2, pooling="mean")
    train_reward_model(cfg, toy_elements(12), progress=False)
    saved = _lora_state(build_reward_model(_cfg(tiny_bert, init_adapter=str(first)))[0])
    assert any("lora_A" in n for n in saved) and any("classifier" in n for n in saved)
    assert any(not torch.all(v == 0) for n, v in saved.items() if "lora_B" in n)  # the trained update
    on_disk = {n.split("base_model.model.")[-1]: p for n, p in load_reward_model(first).model.named_parameters()}
    for name, value in saved.items():
        assert torch.equal(value, on_disk[name].float())  # starts exactly where the first run stopped

    second = tmp_path / "second"
    result = train_reward_model(_cfg(tiny_bert, second, max_steps=3, learning_rate=1e-2, init_adapter=str(first)),
                                toy_elements(12), progress=False)
    assert result.steps == 3
    continued = _lora_state(build_reward_model(_cfg(tiny_bert, init_adapter=str(second)))[0])
    assert continued.keys() == saved.keys()
    assert any(not torch.equal(continued[n], saved[n]) for n in saved)  # it trained on
    assert json.loads((second / "reward_config.json").read_text())["pooling"] == "mean"  # kept from the first
    still = _lora_state(build_reward_model(_cfg(tiny_bert, init_adapter=str(first)))[0])
    assert all(torch.equal(still[n], saved[n]) for n in saved)  # the first model's folder is untouched

    with pytest.raises(ValueError, match="was trained on base"):
        build_reward_model(_cfg(tiny_bert + "-other", init_adapter=str(first)))
    with pytest.raises(ValueError, match="pooling 'mean', not 'cls'"):
        train_reward_model(_cfg(tiny_bert, tmp_path / "x", max_steps=1, pooling="cls", init_adapter=str(first)),
                           toy_elements(4), progress=False)


def test_response_mean_pooling_reads_only_the_response(tiny_bert, tmp_path):
    import pytest

    out = tmp_path / "resp"
    cfg = _cfg(tiny_bert, out, max_steps=2, learning_rate=1e-2, pooling="response_mean")
    result = train_reward_model(cfg, toy_elements(8), progress=False)
    rm = load_reward_model(out)
    assert rm.pooling == "response_mean" and result.steps == 2
    model = rm.model
    ids = torch.tensor([[2, 10, 11, 3, 20, 21, 3, 0], [2, 12, 3, 20, 21, 22, 23, 3]])
    types = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 0], [0, 0, 0, 1, 1, 1, 1, 1]])
    mask = torch.tensor([[1] * 7 + [0], [1] * 8])
    with torch.no_grad():
        got = forward_rewards(model, ids, mask, types, pooling="response_mean")
        hf = model.get_base_model()
        hidden = hf.bert(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
        by_hand = torch.stack([hidden[0, 4:7].mean(0), hidden[1, 3:8].mean(0)])  # type-1 tokens only
        expected = hf.classifier(by_hand)[:, 0]
        mean_all = forward_rewards(model, ids, mask, types, pooling="mean")
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.allclose(got, mean_all)
    with pytest.raises(ValueError, match="needs token_type_ids"):
        forward_rewards(model, ids, mask, None, pooling="response_mean")


def test_load_report_is_dropped_only_when_just_the_new_head_is_missing(tiny_bert, tmp_path):
    """A base model without a score head: transformers' "classifier.weight MISSING" report is expected
    (the head is trained here) and not printed; any other missing weight still is."""
    import logging

    from transformers import BertConfig, BertModel

    from rewards.engine.model import load_base

    class Collect(logging.Handler):
        def __init__(self):
            super().__init__()
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    config = BertConfig.from_pretrained(tiny_bert)
    with_pooler, without_pooler = tmp_path / "with-pooler", tmp_path / "without-pooler"
    BertModel(config).save_pretrained(with_pooler)
    BertModel(config, add_pooling_layer=False).save_pretrained(without_pooler)
    logger = logging.getLogger("transformers.modeling_utils")
    collect = Collect()
    logger.addHandler(collect)
    try:
        load_base(str(with_pooler))
        assert not [m for m in collect.messages if "LOAD REPORT" in m]
        load_base(str(without_pooler))  # the pooler is missing too: that is worth a report
        [report] = [m for m in collect.messages if "LOAD REPORT" in m]
        assert "pooler" in report and "classifier.weight" in report
    finally:
        logger.removeHandler(collect)
