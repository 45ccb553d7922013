"""Which hidden state the reward head reads (pooling): choosing the default for a base model and
checking a requested mode against the architecture. The pooling itself runs in model.forward_rewards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def sentence_transformers_pooling(base_model: str) -> str | None:
    """'mean' or 'cls' when ``base_model`` is a sentence-transformers model (its modules.json names a
    Pooling module), else None. Such encoders were trained with that pooling, not the BERT pooler."""
    from transformers.utils import cached_file

    def read(name: str) -> Any:
        try:
            path = cached_file(base_model, name, _raise_exceptions_for_missing_entries=False,
                               _raise_exceptions_for_connection_errors=False)
            return json.loads(Path(path).read_text()) if path else None
        except (OSError, ValueError):
            return None

    modules = read("modules.json")
    for module in modules if isinstance(modules, list) else []:
        if isinstance(module, dict) and str(module.get("type", "")).endswith("Pooling"):
            settings = read(f"{module.get('path', '')}/config.json") or {}
            if settings.get("pooling_mode_mean_tokens"):
                return "mean"
            if settings.get("pooling_mode_cls_token"):
                return "cls"
    return None


def default_pooling(base_model: str, is_decoder: bool) -> str:
    """What ``pooling='auto'`` trains with: the last real token on decoders; on encoders the
    sentence-transformers pooling when the base declares one (e.g. mean for all-MiniLM-L6-v2),
    else [CLS] through the model's pooler."""
    if is_decoder:
        return "last"
    return sentence_transformers_pooling(base_model) or "cls"


def resolve_pooling(pooling: str, is_decoder: bool) -> str:
    """'auto' -> 'last' on decoders, 'cls' on encoders; 'mean' works for both."""
    if pooling == "auto":
        return "last" if is_decoder else "cls"
    if pooling not in {"cls", "last", "mean", "response_mean"}:
        raise ValueError(f"pooling must be auto, cls, last, mean or response_mean, not {pooling!r}")
    if (pooling in ("cls", "response_mean") and is_decoder) or (pooling == "last" and not is_decoder):
        raise ValueError(f"pooling {pooling!r} does not fit a {'decoder' if is_decoder else 'encoder'}")
    return pooling
