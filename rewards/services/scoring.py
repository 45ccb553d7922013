"""Scoring with a registered reward model: load once per process (a small LRU), validate
score requests, batch them, and measure how unsure the model is about a pair."""

import math
import threading
from collections import OrderedDict
from typing import Any

from django.conf import settings

from config.errors import AppError
from rewards.models import RewardModel
from rewards.services.snapshot import messages_text
from training.artifacts import artifact_materialize

MAX_SCORE_ITEMS = getattr(settings, "REWARD_SCORE_MAX_ITEMS", 256)
CACHE_SIZE = max(1, getattr(settings, "REWARD_MODEL_CACHE_SIZE", 2))
BATCH_SIZE = 32

_cache: "OrderedDict[tuple[int, str, str], Any]" = OrderedDict()
_lock = threading.Lock()


class ScoreInputError(AppError):
    """A bad score request: 400 with one entry per bad item and field, or 413 when too long."""


def _too_long(length: int) -> str | None:
    """The error for a text of this length over the per-text limit: the ingestion limit, since a
    scored text is the kind of text ingestion stores, and the model's cost grows with it."""
    limit = settings.INGEST_MAX_TEXT_CHARS
    if length > limit:
        return f"must be at most {limit} characters (PREFLAB_INGEST_MAX_TEXT_CHARS); this one has {length}"
    return None


def score_items_parse(items: Any, *, limit: int = MAX_SCORE_ITEMS) -> tuple[list[str], list[str]]:
    """Check a list of {"prompt", "response"} (prompt: text or chat turns; each text at most
    INGEST_MAX_TEXT_CHARS, a chat prompt's contents together); return (prompts, responses)."""
    if not isinstance(items, list):
        raise ScoreInputError('Send a JSON list of {"prompt", "response"} objects.')
    if len(items) > limit:
        raise ScoreInputError(f"{len(items)} items is more than the limit of {limit} per request; "
                              "send them in several requests.", status=413)
    if not items:
        raise ScoreInputError("The list is empty; send at least one item.")
    errors: list[dict[str, Any]] = []
    prompts, responses = [], []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append({"index": index, "field": "", "message": 'must be an object {"prompt", "response"}'})
            continue
        prompt, response = item.get("prompt"), item.get("response")
        prompt_length = len(prompt) if isinstance(prompt, str) else 0
        if isinstance(prompt, list) and prompt and all(
            isinstance(t, dict) and isinstance(t.get("content"), str) for t in prompt
        ):
            prompt_length = sum(len(t["content"]) for t in prompt)
            prompt = messages_text(prompt)
        if not isinstance(prompt, str):
            errors.append({"index": index, "field": "prompt",
                           "message": "must be a string or a list of {role, content} turns"})
        elif message := _too_long(prompt_length):
            errors.append({"index": index, "field": "prompt", "message": message})
        if not isinstance(response, str):
            errors.append({"index": index, "field": "response", "message": "must be a string"})
        elif message := _too_long(len(response)):
            errors.append({"index": index, "field": "response", "message": message})
        prompts.append(prompt)
        responses.append(response)
    if errors:
        raise ScoreInputError(f"{len({e['index'] for e in errors})} item(s) are invalid.", errors=errors)
    return prompts, responses


def reward_model_load(model: RewardModel) -> Any:
    """The engine's loaded model for this registry entry, from the per-process LRU cache."""
    key = (model.pk, model.adapter_path, model.base_model)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    from rewards.engine import load_reward_model

    loaded = load_reward_model(str(artifact_materialize(model.adapter_path)), base_model=model.base_model or None)
    loaded.reward_offset = model.offset
    with _lock:
        _cache[key] = loaded
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return loaded


def cache_clear() -> None:
    with _lock:
        _cache.clear()


def rewards_score(*, model: RewardModel, prompts: list[str], responses: list[str]) -> list[float]:
    """Offset-corrected rewards, scored in length-sorted batches."""
    from rewards.engine import score_texts

    return score_texts(reward_model_load(model), prompts, responses, batch_size=BATCH_SIZE)


def pair_uncertainty(
    *, model: RewardModel, prompts: list[str], responses_a: list[str], responses_b: list[str]
) -> list[dict[str, float]]:
    """For each pair: P(A > B) = sigmoid(r_A - r_B) and its distance from 0.5 (small = unsure)."""
    n = len(prompts)
    rewards = rewards_score(model=model, prompts=prompts + prompts, responses=responses_a + responses_b)
    out = []
    for r_a, r_b in zip(rewards[:n], rewards[n:], strict=True):
        p_a = 1.0 / (1.0 + math.exp(-(r_a - r_b)))
        out.append({"p_a": p_a, "certainty": abs(p_a - 0.5)})
    return out


def pair_disagreement(
    *, model: RewardModel, prompts: list[str], responses_a: list[str], responses_b: list[str]
) -> list[dict[str, float]]:
    """For each pair, an ensemble's disagreement: the spread (population std, in [0, 0.5]) of its
    members' P(A > B), and their mean. A pair all members call alike, however unsure, is not
    disputed; one they split on is where a label teaches the ensemble most."""
    from rewards.engine import score_texts_by_member

    loaded = reward_model_load(model)
    if not loaded.members:
        raise ValueError(f"reward model {model.pk} is a single model; disagreement needs an ensemble "
                         "(train it with ensemble_size of 2 or more) — prioritise by uncertainty instead")
    n = len(prompts)
    per_member = score_texts_by_member(loaded, prompts + prompts, responses_a + responses_b, batch_size=BATCH_SIZE)
    probs = [[1.0 / (1.0 + math.exp(-(r[i] - r[n + i]))) for r in per_member] for i in range(n)]
    out = []
    for p in probs:
        mean = sum(p) / len(p)
        out.append({"p_a": mean, "disagreement": math.sqrt(sum((x - mean) ** 2 for x in p) / len(p))})
    return out


def reward_model_evaluate(*, model: RewardModel, elements: list) -> dict[str, Any]:
    """Held-out metrics of a registered model on engine elements (accuracy, by agreement, ECE...)."""
    from rewards.engine import evaluate_reward_model

    return evaluate_reward_model(reward_model_load(model), elements, batch_size=BATCH_SIZE)
