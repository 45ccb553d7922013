"""Bulk, atomic, idempotent ingestion of prompts and samples, and task creation per project kind."""

from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from config.errors import AppError
from labeling.models import Project, Prompt, Sample, Task, TaskSample
from labeling.services.bulk import insert_rows

MAX_ID_LENGTH = 200
MAX_SAMPLES_PER_ITEM = 16
CHAT_ROLES = {"system", "user", "assistant"}


class IngestionError(AppError):
    """The request as a whole is refused; `errors` names each bad item and field."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None, status: int = 400):
        super().__init__(message, status=status, errors=errors)


@dataclass
class IngestionResult:
    prompts_created: int = 0
    samples_created: int = 0
    tasks_created: int = 0
    duplicates: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompts_created": self.prompts_created,
            "samples_created": self.samples_created,
            "tasks_created": self.tasks_created,
            "duplicates": self.duplicates,
        }


def _check_id(value: Any, where: str, errors: list[dict], index: int, item_id: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        errors.append(_error(index, item_id, where, "must be a non-empty string"))
    elif len(value) > MAX_ID_LENGTH:
        errors.append(_error(index, item_id, where, f"must be at most {MAX_ID_LENGTH} characters"))


def _error(index: int, item_id: Any, field_name: str, message: str) -> dict[str, Any]:
    return {
        "index": index,
        "external_id": item_id if isinstance(item_id, str) else None,
        "field": field_name,
        "message": message,
    }


def _too_long(length: int) -> str | None:
    """The error for a text of this length, if it is over the per-text limit."""
    limit = settings.INGEST_MAX_TEXT_CHARS
    if length > limit:
        return f"must be at most {limit} characters (PREFLAB_INGEST_MAX_TEXT_CHARS); this one has {length}"
    return None


def _check_prompt(prompt: Any, errors: list[dict], index: int, item_id: Any) -> None:
    if isinstance(prompt, str):
        if not prompt.strip():
            errors.append(_error(index, item_id, "prompt", "must not be empty"))
        elif message := _too_long(len(prompt)):
            errors.append(_error(index, item_id, "prompt", message))
        return
    if isinstance(prompt, list) and prompt:
        max_turns = settings.INGEST_MAX_TURNS
        if len(prompt) > max_turns:
            message = f"must have at most {max_turns} turns (PREFLAB_INGEST_MAX_TURNS); this one has {len(prompt)}"
            errors.append(_error(index, item_id, "prompt", message))
            return
        total = 0
        for turn_no, turn in enumerate(prompt):
            where = f"prompt[{turn_no}]"
            role = turn.get("role") if isinstance(turn, dict) else None
            if not isinstance(turn, dict):
                errors.append(_error(index, item_id, where, 'must be an object {"role", "content"}'))
            elif not isinstance(role, str) or role not in CHAT_ROLES:
                errors.append(_error(index, item_id, f"{where}.role", "must be system, user or assistant"))
            elif not isinstance(turn.get("content"), str):
                errors.append(_error(index, item_id, f"{where}.content", "must be a string"))
            else:
                total += len(turn["content"])
        if message := _too_long(total):
            errors.append(_error(index, item_id, "prompt", f"(all turns' contents together) {message}"))
        return
    errors.append(
        _error(index, item_id, "prompt", 'must be a string or a non-empty list of {"role", "content"} turns')
    )


def _check_sample(sample: Any, where: str, errors: list[dict], index: int, item_id: Any) -> None:
    if not isinstance(sample, dict):
        errors.append(_error(index, item_id, where, "must be an object"))
        return
    _check_id(sample.get("external_id"), f"{where}.external_id", errors, index, item_id)
    if not isinstance(sample.get("text"), str) or not sample["text"].strip():
        errors.append(_error(index, item_id, f"{where}.text", "must be a non-empty string"))
    elif message := _too_long(len(sample["text"])):
        errors.append(_error(index, item_id, f"{where}.text", message))
    for key in ("model", "adapter"):
        value = sample.get(key, "")
        if not isinstance(value, str) or len(value) > MAX_ID_LENGTH:
            message = f"must be a string of at most {MAX_ID_LENGTH} characters"
            errors.append(_error(index, item_id, f"{where}.{key}", message))
    for key in ("metadata", "generation"):
        if not isinstance(sample.get(key, {}), dict):
            errors.append(_error(index, item_id, f"{where}.{key}", "must be an object"))


def validate_items(items: Any) -> list[dict[str, Any]]:
    """Check the request's shape; return every problem found (empty when all is well)."""
    if not isinstance(items, list):
        raise IngestionError("The body must be a JSON list of items.")
    limit = settings.INGEST_MAX_ITEMS
    if len(items) > limit:
        raise IngestionError(
            f"Too many items: {len(items)}. Send at most {limit} items per request.", status=413
        )
    if not items:
        raise IngestionError("The list of items is empty.")
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(_error(index, None, "", 'must be an object {"external_id", "prompt", "samples"}'))
            continue
        item_id = item.get("external_id")
        _check_id(item_id, "external_id", errors, index, item_id)
        if isinstance(item_id, str):
            if item_id in seen:
                errors.append(_error(index, item_id, "external_id", "appears twice in this request"))
            seen.add(item_id)
        _check_prompt(item.get("prompt"), errors, index, item_id)
        if not isinstance(item.get("metadata", {}), dict):
            errors.append(_error(index, item_id, "metadata", "must be an object"))
        priority = item.get("priority", 0)
        if not isinstance(priority, int) or isinstance(priority, bool) or abs(priority) > 1_000_000:
            errors.append(_error(index, item_id, "priority", "must be a whole number"))
        samples = item.get("samples")
        if not isinstance(samples, list) or not samples:
            errors.append(_error(index, item_id, "samples", "must be a non-empty list"))
            continue
        if len(samples) > MAX_SAMPLES_PER_ITEM:
            errors.append(_error(index, item_id, "samples", f"at most {MAX_SAMPLES_PER_ITEM} samples per item"))
        sample_ids: set[str] = set()
        for sample_no, sample in enumerate(samples):
            where = f"samples[{sample_no}]"
            _check_sample(sample, where, errors, index, item_id)
            sample_id = sample.get("external_id") if isinstance(sample, dict) else None
            if isinstance(sample_id, str):
                if sample_id in sample_ids:
                    errors.append(_error(index, item_id, f"{where}.external_id", "appears twice in this item"))
                sample_ids.add(sample_id)
    return errors


def task_groups(project: Project, existing: list[int], new: list[int]) -> list[list[int]]:
    """Which samples each new task compares. Pairwise: every pair with at least one new sample.
    Ranking: the new samples in groups of K; a lone leftover is ranked with earlier samples."""
    if project.kind == Project.Kind.PAIRWISE:
        everyone = existing + new
        new_set = set(new)
        return [list(pair) for pair in combinations(everyone, 2) if new_set & set(pair)]
    k = max(2, project.ranking_k)
    groups = [new[i : i + k] for i in range(0, len(new), k)]
    if groups and len(groups[-1]) == 1:
        earlier = existing + new[: len(new) - 1]
        groups[-1] = earlier[-(k - 1) :] + groups[-1]
    return [group for group in groups if len(group) >= 2]


def _prompt_fields(prompt: str | list[dict[str, str]]) -> dict[str, Any]:
    if isinstance(prompt, str):
        return {"text": prompt, "messages": None}
    last_user = next((turn["content"] for turn in reversed(prompt) if turn["role"] == "user"), "")
    return {"text": last_user, "messages": prompt}


def items_ingest(*, project: Project, items: Any) -> IngestionResult:
    """Store a batch of items atomically. Raises IngestionError, storing nothing, on any bad item."""
    errors = validate_items(items)
    if errors:
        raise IngestionError(f"{len({e['index'] for e in errors})} item(s) are invalid; nothing was stored.", errors)
    try:
        return _store(project, items)
    except IntegrityError:
        # A concurrent request stored some of the same ids first; a second pass sees them as duplicates.
        return _store(project, items)


@transaction.atomic
def _store(project: Project, items: list[dict[str, Any]]) -> IngestionResult:
    result = IngestionResult()
    prompt_ids = dict(
        Prompt.objects.filter(project=project, external_id__in=[item["external_id"] for item in items]).values_list(
            "external_id", "id"
        )
    )
    existing_samples: dict[int, dict[str, int]] = {}
    known_samples = Sample.objects.filter(prompt_id__in=prompt_ids.values()).order_by("id")
    for prompt_id, external_id, sample_id in known_samples.values_list("prompt_id", "external_id", "id"):
        existing_samples.setdefault(prompt_id, {})[external_id] = sample_id

    errors = []
    for index, item in enumerate(items):
        known = existing_samples.get(prompt_ids.get(item["external_id"]), {})
        total = len(known) + sum(1 for s in item["samples"] if s["external_id"] not in known)
        if total < 2:
            errors.append(_error(index, item["external_id"], "samples", "a prompt needs at least 2 samples to compare"))
    if errors:
        raise IngestionError(f"{len(errors)} item(s) are invalid; nothing was stored.", errors)

    fresh_items = [item for item in items if item["external_id"] not in prompt_ids]
    new_ids = insert_rows(
        Prompt,
        [
            {"project_id": project.pk, "external_id": item["external_id"], "metadata": item.get("metadata", {}),
             **_prompt_fields(item["prompt"])}
            for item in fresh_items
        ],
    )
    prompt_ids.update(zip((item["external_id"] for item in fresh_items), new_ids, strict=True))
    result.prompts_created = len(new_ids)

    sample_rows: list[dict[str, Any]] = []
    owners: list[int] = []  # index of the item each new sample belongs to
    for index, item in enumerate(items):
        prompt_id = prompt_ids[item["external_id"]]
        known = existing_samples.get(prompt_id, {})
        before = len(sample_rows)
        for s in item["samples"]:
            if s["external_id"] in known:
                continue
            sample_rows.append(
                {"prompt_id": prompt_id, "external_id": s["external_id"], "text": s["text"],
                 "model_name": s.get("model", ""), "adapter": s.get("adapter", ""),
                 "generation": s.get("generation", {}), "metadata": s.get("metadata", {})}
            )
            owners.append(index)
        if len(sample_rows) == before:
            result.duplicates.append(item["external_id"])
    sample_ids = insert_rows(Sample, sample_rows)
    result.samples_created = len(sample_ids)

    new_by_item: dict[int, list[int]] = {}
    for owner, sample_id in zip(owners, sample_ids, strict=True):
        new_by_item.setdefault(owner, []).append(sample_id)
    task_rows, groups = [], []
    for index, fresh in new_by_item.items():
        item = items[index]
        prompt_id = prompt_ids[item["external_id"]]
        for group in task_groups(project, list(existing_samples.get(prompt_id, {}).values()), fresh):
            task_rows.append(
                {"project_id": project.pk, "prompt_id": prompt_id, "priority": item.get("priority", 0),
                 "judgments_wanted": project.judgments_per_task}
            )
            groups.append(group)
    task_ids = insert_rows(Task, task_rows)
    insert_rows(
        TaskSample,
        [
            {"task_id": task_id, "sample_id": sample_id, "position": position}
            for task_id, group in zip(task_ids, groups, strict=True)
            for position, sample_id in enumerate(group)
        ],
    )
    result.tasks_created = len(task_ids)
    return result
