"""Tiny models and tokenizers built offline in tmp folders (2-layer BERT and GPT-2)."""

from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    GPT2Config,
    GPT2ForSequenceClassification,
    PreTrainedTokenizerFast,
)

from rewards.engine import Element, pair_element, ranking_element

WORDS = (
    "the a is was good bad great awful helpful harmful answer question please thanks yes no maybe "
    "human assistant says reply kind rude cats dogs sky blue red why how what i you it"
).split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "<eos>"]


def _tokenizer(encoder: bool) -> PreTrainedTokenizerFast:
    vocab = {w: i for i, w in enumerate(SPECIAL + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    if encoder:
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
        )
        return PreTrainedTokenizerFast(
            tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"
        )
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="<eos>")


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("tiny-bert")
    tok = _tokenizer(encoder=True)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128, num_labels=1, pad_token_id=0)
    BertForSequenceClassification(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("tiny-gpt2")
    tok = _tokenizer(encoder=False)
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=2, n_positions=128, num_labels=1,
                     eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id)
    GPT2ForSequenceClassification(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def toy_elements(n: int = 24) -> list[Element]:
    """Learnable toy pairs: 'good'/'helpful' answers beat 'bad'/'rude' ones."""
    prompts = ["human says why is the sky blue", "human says how are cats", "what is it please", "i ask a question"]
    good = ["assistant says good helpful answer", "great kind reply thanks", "yes helpful answer"]
    bad = ["assistant says bad rude answer", "awful harmful reply", "no rude answer"]
    out = []
    for i in range(n):
        p = prompts[i % len(prompts)] + " " + WORDS[i % len(WORDS)]
        out.append(pair_element(good[i % 3], bad[(i + 1) % 3], p))
    out.append(ranking_element("what is it", ["great answer", "good answer", "bad answer"], [1, 2, 3]))
    return out
