"""Offline, deterministic models for the PPO benchmarks (ours vs TRL's PPO): a policy, a reward model, prompts.

    python bench/policy_models.py --out /tmp/ppo-bench          # .venv or /work/trl-venv: torch/transformers only

Writes, from seed 0 and nothing downloaded:

- ``OUT/policy``: a randomly initialised GPT-2 causal LM (``GPT2LMHeadModel``, 8 layers, d=512, 8 heads,
  256 positions, ~25.5M parameters: ~100 MB in fp32, big enough that model memory shows above the
  Python/torch baseline RSS) and its tokenizer. Dropout is 0 in the config (PPO must sample and train
  the same policy).
- ``OUT/reward``: a ``GPT2ForSequenceClassification`` (num_labels=1) of the same shape and the SAME tokenizer
  (TRL's PPO feeds the policy's token ids to the reward model). TRL's examples build the value model from the
  reward folder, so policy, reward and value are all the same size here.
- ``OUT/prompts.jsonl``: 256 prompts ``{"prompt": "..."}`` of 4-10 neutral words.
- ``OUT/meta.json``: the word lists and the reward's formula, for checks.

Tokenizer: word level (``tokenizers`` WordLevel + whitespace split) over ~330 English words, so every word is one
token and the reward is exactly about tokens. Special tokens: ``<pad>`` = 0, ``<unk>`` = 1, ``<eos>`` = 2 (also bos).
The pad token is deliberately NOT the eos token: TRL's PPO marks padding as ``ids == pad_token_id`` everywhere
(attention masks, truncation after the stop token, the score index), so with pad == eos a generated EOS is treated
as padding: the score is read at the token before it and the EOS action gets no KL, loss or gradient. TRL's own
examples add a separate ``[PAD]`` token for the same reason.

Reward (synthetic, learnable, exact by construction rather than trained):
``score ~= 10 * (#positive - #negative) / #tokens`` over the whole query+response (every non-pad token, EOS
included), read at the last non-pad token. 24 words are positive ("good", "great", ...), 24 negative ("bad", ...),
the rest neutral; prompts use neutral words only, so a prompt scores 0 and a uniform random response ~0. The
policy raises it by writing positive words. The weights are set by hand: position embeddings 0; each token embedding
is a constant zero-mean +-1 carrier on dims 8..d-1 (so LayerNorm statistics are ~unit and nearly constant, as in a
normal residual stream) plus ``s*(e2 - e3)`` with ``s`` = +1/-1/0 for positive/negative/neutral;
layer 0's attention has zero query/key (so it averages uniformly over the attended, i.e. non-pad, tokens) and a value
that reads ``s``, projected to ``e5 - e6``; every other attention/MLP output projection is 0 (identity blocks); the
score head reads ``e5 - e6`` after ``ln_f`` (weights ~+-5). The carrier dominates the LayerNorm statistics, so the
result is linear in the mean of ``s`` to within ~0.5% (checked on build). The unused weights (MLPs, later layers'
inputs) keep their seeded random init, so the folder is a normal trainable model (TRL trains a value model
initialised from it).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

POSITIVE = (
    "good great happy kind warm bright calm gentle brave clever friendly honest joyful lovely nice proud safe strong "
    "sweet wise fresh clean fair glad"
).split()
NEGATIVE = (
    "bad sad angry cruel cold dark harsh rude weak lazy dirty ugly nasty awful bitter broken sick poor wrong afraid "
    "boring dull gloomy mean"
).split()
NEUTRAL = (
    "the a an and or but of to in on at by for with from up down over under about into after before then when "
    "where why how what who this that these those it he she they we you i my your his her their our its is are was "
    "were be been has have had do does did will would can could should may might must not no yes very more most "
    "some many much few all every each other another same such only just also still even again here there now "
    "today tomorrow yesterday morning evening night day week month year time place home house room door window "
    "table chair bed floor wall roof garden street road city town village country world river lake sea ocean "
    "mountain hill forest tree flower grass stone rock sand sky sun moon star cloud rain snow wind fire water "
    "air earth light shadow color sound voice word name story book letter page paper pen school teacher student "
    "class lesson friend family mother father brother sister child baby man woman boy girl people person "
    "king queen doctor farmer driver worker cook dog cat bird fish horse cow sheep mouse rabbit bear lion "
    "food bread milk tea coffee apple orange egg rice soup cake sugar salt meat box bag cup plate bottle "
    "ball car bus train ship boat plane bike phone clock key map picture song game music dance walk run jump "
    "swim sit stand sleep eat drink read write speak listen look see watch hear feel think know want need "
    "like make take give find keep hold open close begin end start stop come go leave stay turn move carry "
    "bring buy sell pay send help play work live learn teach ask answer call wait big small long short tall "
    "high low old new young early late fast slow hot full empty heavy light near far left right first last "
    "next red blue green yellow white black brown round square one two three four five six seven eight nine ten"
).split()
SPECIALS = ["<pad>", "<unk>", "<eos>"]
SCORE_SCALE = 10.0


def vocabulary() -> list[str]:
    words: list[str] = []
    for w in SPECIALS + POSITIVE + NEGATIVE + NEUTRAL:
        if w not in words:
            words.append(w)
    return words


def expected_score(text: str) -> float:
    """The reward the model approximates: 10 * (#positive - #negative) / #tokens (EOS counts as a token)."""
    toks = text.split()
    pos, neg = set(POSITIVE), set(NEGATIVE)
    return SCORE_SCALE * (sum(t in pos for t in toks) - sum(t in neg for t in toks)) / max(len(toks), 1)


def build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(vocabulary())}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins word tokens with single spaces
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", eos_token="<eos>", bos_token="<eos>", pad_token="<pad>",
        padding_side="left", model_max_length=256,
    )


def gpt2_config(vocab_size: int, *, n_layer: int, n_embd: int, n_head: int):
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=vocab_size, n_positions=256, n_layer=n_layer, n_embd=n_embd, n_head=n_head,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, summary_first_dropout=0.0,
        pad_token_id=0, eos_token_id=2, bos_token_id=2, num_labels=1,
    )


def set_reward_weights(model, signs: list[int], *, c: float = 1.0, a: float = 1.0, g: float = 1.0) -> None:
    """Hand-set the weights so that score ~= SCORE_SCALE * mean(sign) over attended tokens (see module doc)."""
    import torch

    d = model.config.n_embd
    tr = model.transformer
    carrier = torch.zeros(d)
    carrier[8:] = torch.tensor([c if i % 2 == 0 else -c for i in range(d - 8)])  # zero mean, ~unit LayerNorm std
    with torch.no_grad():
        tr.wpe.weight.zero_()
        emb = carrier.repeat(tr.wte.weight.shape[0], 1).to(tr.wte.weight.dtype)
        s = torch.tensor(signs, dtype=emb.dtype)
        emb[:, 2], emb[:, 3] = a * s, -a * s
        tr.wte.weight.copy_(emb)
        for i, block in enumerate(tr.h):
            block.ln_1.weight.fill_(1.0)
            block.ln_1.bias.zero_()
            block.attn.c_proj.weight.zero_()
            block.attn.c_proj.bias.zero_()
            block.mlp.c_proj.weight.zero_()
            block.mlp.c_proj.bias.zero_()
            if i == 0:
                w = block.attn.c_attn.weight  # Conv1D: (d, 3d), out = x @ w + b; columns [q | k | v]
                w.zero_()
                block.attn.c_attn.bias.zero_()
                w[2, 2 * d + 4], w[3, 2 * d + 4] = 0.5, -0.5  # v[4] = (x2 - x3) / 2, head 0 (uniform attention)
                block.attn.c_proj.weight[4, 5], block.attn.c_proj.weight[4, 6] = g, -g
        tr.ln_f.weight.fill_(1.0)
        tr.ln_f.bias.zero_()
        # Both LayerNorms divide by ~ the carrier's std; after ln_f, (h5 - h6) / 2 ~= g * a * mean(s) / std**2.
        std = c * ((d - 8) / d) ** 0.5
        unit = g * a / std**2
        model.score.weight.zero_()
        model.score.weight[0, 5], model.score.weight[0, 6] = SCORE_SCALE / unit / 2, -SCORE_SCALE / unit / 2


def make_prompts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(NEUTRAL) for _ in range(rng.randint(4, 10))) for _ in range(n)]


def check_reward(reward_dir: Path) -> float:
    """Largest |model score - expected score| on a few texts (left-padded batch, HF's own forward)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(reward_dir)
    tok.padding_side = "left"
    model = AutoModelForSequenceClassification.from_pretrained(reward_dir, num_labels=1).eval()
    rng = random.Random(1)
    vocab = POSITIVE + NEGATIVE + NEUTRAL
    texts = ["the dog ran", "good good good", "bad", "the good dog was very bad <eos>", "happy sad kind cruel"]
    texts += [" ".join(rng.choice(vocab) for _ in range(rng.randint(3, 40))) for _ in range(20)]
    enc = tok(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        got = model(**enc).logits.squeeze(-1).tolist()
    return max(abs(g - expected_score(t)) for g, t in zip(got, texts, strict=True))


def build(out: Path, *, n_layer: int = 8, n_embd: int = 512, n_head: int = 8, n_prompts: int = 256) -> dict:
    import torch
    from transformers import GPT2ForSequenceClassification, GPT2LMHeadModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    vocab = vocabulary()
    cfg = gpt2_config(len(vocab), n_layer=n_layer, n_embd=n_embd, n_head=n_head)

    torch.manual_seed(0)
    policy = GPT2LMHeadModel(cfg)
    policy.generation_config.pad_token_id = 0
    policy.generation_config.eos_token_id = 2
    policy.generation_config.bos_token_id = 2
    policy.save_pretrained(out / "policy")
    tokenizer.save_pretrained(out / "policy")

    torch.manual_seed(1)
    reward = GPT2ForSequenceClassification(cfg)
    pos, neg = set(POSITIVE), set(NEGATIVE)
    set_reward_weights(reward, [1 if w in pos else -1 if w in neg else 0 for w in vocab])
    reward.save_pretrained(out / "reward")
    tokenizer.save_pretrained(out / "reward")

    prompts = make_prompts(n_prompts)
    with open(out / "prompts.jsonl", "w") as f:
        for p in prompts:
            f.write(json.dumps({"prompt": p}) + "\n")

    err = check_reward(out / "reward")
    if err > 0.1:
        raise RuntimeError(f"hand-set reward model is off by {err:.3f}")
    meta = {
        "policy_params": sum(p.numel() for p in policy.parameters()),
        "reward_params": sum(p.numel() for p in reward.parameters()),
        "vocab_size": len(vocab), "n_layer": n_layer, "n_embd": n_embd, "n_head": n_head,
        "pad_token": "<pad>", "pad_token_id": 0, "eos_token": "<eos>", "eos_token_id": 2,
        "reward": f"{SCORE_SCALE:g} * (#positive - #negative) / #tokens over query+response, at the last non-pad token",
        "reward_max_abs_error_on_check": round(err, 4),
        "positive": POSITIVE, "negative": NEGATIVE, "n_prompts": len(prompts),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path, help="Folder to write policy/, reward/, prompts.jsonl into.")
    ap.add_argument("--n-layer", type=int, default=8)
    ap.add_argument("--n-embd", type=int, default=512)
    ap.add_argument("--n-head", type=int, default=8)
    ap.add_argument("--prompts", type=int, default=256)
    args = ap.parse_args()
    meta = build(args.out, n_layer=args.n_layer, n_embd=args.n_embd, n_head=args.n_head, n_prompts=args.prompts)
    print(
        f"wrote {args.out}: policy {meta['policy_params'] / 1e6:.1f}M params,"
        f" reward {meta['reward_params'] / 1e6:.1f}M,"
        f" vocab {meta['vocab_size']}, {meta['n_prompts']} prompts; reward check max error"
        f" {meta['reward_max_abs_error_on_check']}"
    )


if __name__ == "__main__":
    main()
