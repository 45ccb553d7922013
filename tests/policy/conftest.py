"""A tiny 2-layer GPT-2 causal LM (word-level vocabulary, built offline in a tmp folder) and a
synthetic reward: how often the word "good" appears. One torch thread."""

from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import BertConfig, BertForSequenceClassification, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from tests.rewards.conftest import _tokenizer

WORDS = ("good bad the a is it yes no maybe cat dog sky blue red why how what you i answer question "
         "please thanks kind rude one two three").split()
TARGET = "good"
PROMPTS = [f"{a} {b} question" for a in ("why", "how", "what", "please") for b in ("cat", "dog", "sky", "it")]


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def build_tiny_lm(path, seed: int = 0) -> str:
    vocab = {w: i for i, w in enumerate(["<unk>", "<eos>", *WORDS])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", eos_token="<eos>")
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(vocab), n_embd=32, n_layer=2, n_head=2, n_positions=128,
                        eos_token_id=1, bos_token_id=1, initializer_range=0.3)
    GPT2LMHeadModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> str:
    return build_tiny_lm(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture(scope="session")
def tiny_reward_folder(tmp_path_factory) -> str:
    from rewards.engine import RewardConfig, build_reward_model, save_reward_model

    base = tmp_path_factory.mktemp("rm-base")
    tokenizer = _tokenizer(encoder=True)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=1, pad_token_id=0)
    BertForSequenceClassification(config).save_pretrained(base)
    tokenizer.save_pretrained(base)
    out = tmp_path_factory.mktemp("rm")
    rm_config = RewardConfig(base_model=str(base), output_dir=str(out), max_length=32, seed=1)
    model, tok = build_reward_model(rm_config)
    save_reward_model(model, tok, out, config=rm_config)
    return str(out)


def count_reward(prompts, responses) -> list[float]:
    return [float(r.split().count(TARGET)) for r in responses]
