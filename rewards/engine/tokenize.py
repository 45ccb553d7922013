"""Tokenization, length-bucketed batching and dynamic-padding collation.

Encoders see ``[CLS] prompt [SEP] response [SEP]`` (the tokenizer's pair template); decoders
see ``prompt + response`` followed by EOS. Over-long inputs lose the start of the prompt and
the end of the response. Needs a fast (Rust-backed) tokenizer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from tokenizers import Tokenizer

from .data import Element


@dataclass
class EncodedElement:
    seqs: list[list[int]]
    type_ids: list[list[int]] | None
    winner: list[int]
    loser: list[int]
    weight: list[float]
    margin: list[float]
    tie: list[bool]
    agreement: list[float]

    @property
    def length(self) -> int:
        return max(len(s) for s in self.seqs)

    @property
    def cost(self) -> int:
        return self.length * len(self.seqs)


@dataclass
class Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor | None
    winner: torch.Tensor
    loser: torch.Tensor
    weight: torch.Tensor
    margin: torch.Tensor
    tie: torch.Tensor
    agreement: torch.Tensor
    n_elements: int

    def to(self, device: torch.device) -> Batch:
        if device.type == "cpu":
            return self
        moved = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in self.__dict__.items()}
        return Batch(**moved)


def _backend(tokenizer) -> Tokenizer:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise TypeError("a fast (tokenizers-backed) tokenizer is required")
    backend = Tokenizer.from_str(backend.to_str())
    backend.no_truncation()
    backend.no_padding()
    return backend


def _cut(p_enc, r_enc, budget: int, max_prompt_fraction: float) -> tuple[int | None, int]:
    """Character offsets (prompt start, response end) keeping at most ``budget`` tokens."""
    np_, nr = len(p_enc.ids), len(r_enc.ids)
    if np_ + nr <= budget:
        return 0, -1
    keep_p = min(np_, max(int(budget * max_prompt_fraction), budget - nr))
    keep_r = min(nr, budget - keep_p)
    if keep_p == np_:
        p_start = 0
    else:
        p_start = p_enc.offsets[np_ - keep_p][0] if keep_p > 0 else None
    if keep_r == nr:
        r_end = -1
    else:
        r_end = r_enc.offsets[keep_r - 1][1] if keep_r > 0 else 0
    return p_start, r_end


def encode_elements(
    elements: list[Element],
    tokenizer,
    *,
    max_length: int,
    is_decoder: bool,
    max_prompt_fraction: float = 0.75,
    append_eos: bool = True,
) -> list[EncodedElement]:
    """Tokenize every (prompt, response) of every element, cutting to ``max_length``."""
    backend = _backend(tokenizer)
    eos = tokenizer.eos_token_id if (is_decoder and append_eos) else None
    n_special = backend.num_special_tokens_to_add(not is_decoder) + (1 if eos is not None else 0)
    budget = max_length - n_special
    prompts = sorted({el.prompt for el in elements})
    p_encs = dict(zip(prompts, backend.encode_batch(prompts, add_special_tokens=False), strict=True))
    flat = [(el.prompt, r) for el in elements for r in el.responses]
    r_encs = backend.encode_batch([r for _, r in flat], add_special_tokens=False)
    inputs = []
    for (prompt, resp), r_enc in zip(flat, r_encs, strict=True):
        p_start, r_end = _cut(p_encs[prompt], r_enc, budget, max_prompt_fraction)
        prompt = "" if p_start is None else prompt[p_start:]
        resp = resp if r_end == -1 else resp[:r_end]
        inputs.append(prompt + resp if is_decoder else (prompt, resp))
    encs = backend.encode_batch(inputs, add_special_tokens=True)
    out, pos = [], 0
    for el in elements:
        seqs, types = [], []
        for enc in encs[pos : pos + len(el.responses)]:
            ids, tt = list(enc.ids), list(enc.type_ids)
            if eos is not None and (not ids or ids[-1] != eos):
                ids, tt = ids + [eos], tt + [tt[-1] if tt else 0]
            if len(ids) > max_length:  # re-tokenization after the cut can differ by a token or two
                ids, tt = (ids[-max_length:], tt[-max_length:]) if is_decoder else (ids[:max_length], tt[:max_length])
            seqs.append(ids)
            types.append(tt)
        pos += len(el.responses)
        c = el.comparisons
        out.append(EncodedElement(
            seqs, None if is_decoder else types,
            [x.winner for x in c], [x.loser for x in c], [x.weight for x in c], [x.margin for x in c],
            [x.tie for x in c], [float("nan") if x.agreement is None else x.agreement for x in c],
        ))
    return out


def bucketed_batches(
    lengths: list[int], batch_size: int, *, seed: int, epoch: int, multiplier: int = 50
) -> list[list[int]]:
    """Shuffle, sort by length within windows of batch_size * multiplier, cut into batches,
    shuffle the batches. Deterministic in (seed, epoch) so a resumed run sees the same order."""
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = max(batch_size, batch_size * multiplier)
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i], reverse=True)
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Deterministic length-sorted batches for evaluation and scoring."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def pad_sequences(
    seqs: list[list[int]], pad_id: int, *, padding_side: str = "right", type_ids: list[list[int]] | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Pad to the longest sequence (dynamic padding): (input_ids, attention_mask, token_type_ids)."""
    n, t = len(seqs), max(len(s) for s in seqs)
    ids = torch.full((n, t), pad_id, dtype=torch.long)
    mask = torch.zeros((n, t), dtype=torch.long)
    tt = torch.zeros((n, t), dtype=torch.long) if type_ids is not None else None
    for i, s in enumerate(seqs):
        sl = slice(0, len(s)) if padding_side == "right" else slice(t - len(s), t)
        ids[i, sl] = torch.tensor(s, dtype=torch.long)
        mask[i, sl] = 1
        if tt is not None:
            tt[i, sl] = torch.tensor(type_ids[i], dtype=torch.long)
    return ids, mask, tt


def collate(items: list[EncodedElement], pad_id: int, padding_side: str = "right") -> Batch:
    """All responses of all elements in one tensor (chosen and rejected share one forward);
    comparison indices point into its rows."""
    seqs, types, w, lo, wt, mg, tie, agr = [], [], [], [], [], [], [], []
    for it in items:
        base = len(seqs)
        seqs.extend(it.seqs)
        if it.type_ids is not None:
            types.extend(it.type_ids)
        w.extend(base + i for i in it.winner)
        lo.extend(base + i for i in it.loser)
        wt.extend(it.weight)
        mg.extend(it.margin)
        tie.extend(it.tie)
        agr.extend(it.agreement)
    ids, mask, tt = pad_sequences(seqs, pad_id, padding_side=padding_side, type_ids=types or None)
    return Batch(
        ids, mask, tt, torch.tensor(w, dtype=torch.long), torch.tensor(lo, dtype=torch.long),
        torch.tensor(wt, dtype=torch.float32), torch.tensor(mg, dtype=torch.float32),
        torch.tensor(tie, dtype=torch.bool), torch.tensor(agr, dtype=torch.float32), len(items),
    )
