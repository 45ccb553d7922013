"""A tiny 2-layer GPT-2 causal LM (word-level vocabulary, built offline in a tmp folder) and a
synthetic reward: how often the word "good" appears. One torch thread."""

from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

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


def count_reward(prompts, responses) -> list[float]:
    return [float(r.split().count(TARGET)) for r in responses]
