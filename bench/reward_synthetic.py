"""Synthetic but learnable preference pairs and a tiny GPT-2 built offline (bench-only)."""

from __future__ import annotations

import random
from pathlib import Path

N_WORDS = 400
POSITIVE = [f"w{i}" for i in range(0, 20)]
NEGATIVE = [f"w{i}" for i in range(20, 40)]


def synthetic_pairs(n: int, seed: int = 0, max_words: int = 200) -> list[dict[str, str]]:
    """Pairs sharing a prompt; the chosen response has more 'positive' minus 'negative' words.
    Response lengths vary (10..max_words words) so that padding strategy matters."""
    rng = random.Random(seed)
    neutral = [f"w{i}" for i in range(40, N_WORDS)]

    def response(score: int) -> str:
        length = rng.randint(10, max_words)
        words = [rng.choice(neutral) for _ in range(length)]
        k_pos, k_neg = (score, 0) if score >= 0 else (0, -score)
        for w in [rng.choice(POSITIVE) for _ in range(k_pos)] + [rng.choice(NEGATIVE) for _ in range(k_neg)]:
            words.insert(rng.randrange(len(words) + 1), w)
        return " ".join(words)

    out = []
    for _ in range(n):
        prompt = " ".join(rng.choice(neutral) for _ in range(rng.randint(3, 30)))
        a, b = rng.sample(range(-4, 5), 2)
        hi, lo = max(a, b), min(a, b)
        out.append({"prompt": prompt, "chosen": prompt + " " + response(hi), "rejected": prompt + " " + response(lo)})
    return out


def build_tiny_gpt2(path: Path, *, n_layer: int = 4, n_embd: int = 256, n_head: int = 4, seed: int = 0) -> str:
    """A randomly initialised GPT-2 with a word-level tokenizer over the synthetic vocabulary."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2ForSequenceClassification, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<pad>", "<unk>", "<eos>"] + [f"w{i}" for i in range(N_WORDS)])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<eos>", pad_token="<pad>")
    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=len(vocab), n_layer=n_layer, n_embd=n_embd, n_head=n_head, n_positions=512,
                     num_labels=1, pad_token_id=0, eos_token_id=2, bos_token_id=2)
    GPT2ForSequenceClassification(cfg).save_pretrained(path)
    fast.save_pretrained(path)
    return str(path)
