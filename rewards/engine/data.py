"""Preference data as batch elements: one prompt, K responses, the comparisons among them.

A pair is an element with K=2 and one comparison. A K-way ranking becomes one element with all
C(K,2) comparisons, each weighted 1/C(K,2) (InstructGPT): one forward pass per response, and
the prompt counts once in the loss however many comparisons it has.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class DataError(ValueError):
    """Bad preference data; the message names the file and line when there is one."""


@dataclass
class Comparison:
    winner: int
    loser: int
    weight: float = 1.0
    margin: float = 0.0
    tie: bool = False
    agreement: float | None = None


@dataclass
class Element:
    prompt: str
    responses: list[str]
    comparisons: list[Comparison] = field(default_factory=list)


def split_shared_prefix(a: str, b: str) -> tuple[str, str, str]:
    """Split two texts into (prompt, rest_a, rest_b) at their shared prefix, backed off to the
    last whitespace so that no word is cut in half (the whitespace goes with the responses)."""
    n = 0
    limit = min(len(a), len(b))
    while n < limit and a[n] == b[n]:
        n += 1
    if n < len(a) or n < len(b):
        cut = n
        while cut > 0 and not a[cut - 1].isspace():
            cut -= 1
        while cut > 0 and a[cut - 1].isspace():
            cut -= 1
        n = cut
    return a[:n], a[n:], b[n:]


def pair_element(
    chosen: str,
    rejected: str,
    prompt: str | None = None,
    *,
    weight: float = 1.0,
    margin: float = 0.0,
    tie: bool = False,
    agreement: float | None = None,
) -> Element:
    """One pair as an element. With no prompt, the shared prefix of the two texts is the prompt."""
    if prompt is None:
        prompt, chosen, rejected = split_shared_prefix(chosen, rejected)
    return Element(prompt, [chosen, rejected], [Comparison(0, 1, weight, margin, tie, agreement)])


def ranking_element(prompt: str, responses: list[str], ranks: list[int], *, weight: float = 1.0) -> Element:
    """A K-way ranking (rank 1 is best; equal ranks are ties) as one element with all C(K,2)
    comparisons, each weighted weight / C(K,2)."""
    k = len(responses)
    if k < 2 or len(ranks) != k:
        raise DataError("a ranking needs >= 2 responses and one rank per response")
    w = weight / math.comb(k, 2)
    comps = []
    for i in range(k):
        for j in range(i + 1, k):
            if ranks[i] == ranks[j]:
                comps.append(Comparison(i, j, w, tie=True))
            elif ranks[i] < ranks[j]:
                comps.append(Comparison(i, j, w))
            else:
                comps.append(Comparison(j, i, w))
    return Element(prompt, list(responses), comps)


def drop_ties(elements: Iterable[Element]) -> list[Element]:
    """Remove tied comparisons, then elements left without comparisons."""
    out = []
    for el in elements:
        comps = [c for c in el.comparisons if not c.tie]
        if comps:
            out.append(Element(el.prompt, el.responses, comps))
    return out


def _text(rec: dict[str, Any], key: str, where: str) -> str:
    value = rec.get(key)
    if not isinstance(value, str):
        raise DataError(f"{where}: field {key!r} must be a string")
    return value


def record_to_element(rec: Any, where: str = "record") -> Element:
    """Parse {"prompt"?, "chosen", "rejected", "weight"?, "margin"?, "tie"?, "agreement"?} or
    {"prompt", "responses": [...], "ranks": [...]} into an element."""
    if not isinstance(rec, dict):
        raise DataError(f"{where}: expected a JSON object")
    prompt = rec.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise DataError(f"{where}: field 'prompt' must be a string")
    weight = rec.get("weight", 1.0)
    if not isinstance(weight, int | float) or weight < 0:
        raise DataError(f"{where}: field 'weight' must be a number >= 0")
    if "responses" in rec:
        responses, ranks = rec.get("responses"), rec.get("ranks")
        if not isinstance(responses, list) or not all(isinstance(r, str) for r in responses):
            raise DataError(f"{where}: 'responses' must be a list of strings")
        if not isinstance(ranks, list) or not all(isinstance(r, int) for r in ranks):
            raise DataError(f"{where}: 'ranks' must be a list of integers")
        try:
            return ranking_element(prompt or "", responses, ranks, weight=float(weight))
        except DataError as exc:
            raise DataError(f"{where}: {exc}") from None
    chosen, rejected = _text(rec, "chosen", where), _text(rec, "rejected", where)
    margin, agreement = rec.get("margin", 0.0), rec.get("agreement")
    if not isinstance(margin, int | float):
        raise DataError(f"{where}: field 'margin' must be a number")
    if agreement is not None and not isinstance(agreement, int | float):
        raise DataError(f"{where}: field 'agreement' must be a number")
    return pair_element(
        chosen, rejected, prompt, weight=float(weight), margin=float(margin),
        tie=bool(rec.get("tie", False)), agreement=None if agreement is None else float(agreement),
    )


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object) for each non-blank line of a .jsonl or .jsonl.gz file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    yield lineno, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from None
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None


def read_elements(path: str | Path) -> list[Element]:
    """Read a JSONL file of pairs and/or rankings; errors name the file and line."""
    out = [record_to_element(rec, f"{path}:{lineno}") for lineno, rec in iter_jsonl(path)]
    if not out:
        raise DataError(f"{path}: no records")
    return out


def split_by_prompt(elements: list[Element], eval_fraction: float, seed: int = 0) -> tuple[list, list]:
    """Deterministic split by a hash of the prompt, so that one prompt never sits on both sides."""
    train, held = [], []
    for el in elements:
        digest = hashlib.sha256(f"{seed}:{el.prompt}".encode()).digest()
        (held if int.from_bytes(digest[:8], "big") / 2**64 < eval_fraction else train).append(el)
    return train, held
