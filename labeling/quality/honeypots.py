"""Honeypots: degrade a sample so that the better answer of a pair is certain.

A comparison between a sample and its degraded copy has a known answer; annotators who pick
the degraded one (often) are not reading. All functions are deterministic given their seed.
"""

from __future__ import annotations

import random
import re
from collections.abc import Hashable, Mapping, Sequence

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
MARKER = "honeypot"  # the key in Prompt.metadata (and Sample.metadata) that marks a honeypot


def is_honeypot(metadata: object) -> bool:
    """Whether a prompt's metadata marks it as a honeypot's (the only test; exports and training
    snapshots skip these)."""
    return isinstance(metadata, dict) and MARKER in metadata


def split_sentences(text: str) -> list[str]:
    """Naive sentence split on . ! ? followed by whitespace (good enough for degrading)."""
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


def truncate_mid_sentence(text: str, *, fraction: float = 0.5) -> str:
    """Cut the text at about ``fraction`` of its words, inside a sentence, with no final period.

    We cut at a word boundary and strip trailing punctuation so the result visibly stops
    mid-thought instead of looking like a shorter, complete answer.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError("fraction must be in (0, 1)")
    words = text.split()
    if len(words) < 2:
        return ""
    cut = min(len(words) - 1, max(1, int(len(words) * fraction)))
    head = words[:cut]
    while len(head) > 1 and re.search(r"[.!?]$", head[-1]):
        head = head[:-1]  # avoid ending exactly on a sentence boundary
    return " ".join(head).rstrip(".!?,;:")


def shuffle_sentences(text: str, *, seed: int) -> str:
    """Reorder the sentences so the text loses its logic; guaranteed to differ when possible."""
    sentences = split_sentences(text)
    if len(sentences) < 2 or len(set(sentences)) < 2:
        return text
    rng = random.Random(seed)
    order = list(range(len(sentences)))
    while order == sorted(order):
        rng.shuffle(order)
    return " ".join(sentences[i] for i in order)


def pick_other_prompt_sample(
    samples_by_prompt: Mapping[Hashable, Sequence[Hashable]],
    prompt_id: Hashable,
    *,
    seed: int,
) -> Hashable:
    """Pick a sample written for a *different* prompt (an off-topic answer), deterministically.

    Prompts and samples are sorted by their string form so the result does not depend on
    dict order; the seed is mixed with the prompt id so each prompt gets its own draw.
    """
    others = sorted((p for p, s in samples_by_prompt.items() if p != prompt_id and s), key=str)
    if not others:
        raise ValueError("no other prompt has samples")
    rng = random.Random(f"{seed}:{prompt_id}")
    other = rng.choice(others)
    return rng.choice(sorted(samples_by_prompt[other], key=str))
