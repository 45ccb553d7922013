"""Generated samples into the labeling queue: build ingestion items with provenance on every
sample, and hand them to labeling's ingestion service (which creates the tasks). Idempotent:
sample ids are built from (batch, prompt, adapter, k), so a repeated batch adds nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labeling.models import Project, Prompt, Sample
from labeling.services.ingestion import IngestionResult, items_ingest

INGEST_CHUNK = 1000  # items per ingestion call, well under PREFLAB_INGEST_MAX_ITEMS


@dataclass
class GeneratedSample:
    prompt: Prompt
    version: str  # "policy-<id>" or "base"
    k: int
    text: str
    seed: int
    ended: bool
    policy_id: int | None


def model_label(base_model: str) -> str:
    """A short model name for provenance: the folder name of a local path, else the hub id."""
    path = Path(base_model)
    return (path.name if path.is_absolute() or base_model.startswith(".") else base_model)[:200]


def sample_external_id(batch: int, prompt: Prompt, version: str, k: int) -> str:
    return f"gen{batch}-p{prompt.pk}-{version}-k{k}"


def generated_items(
    *, batch: int, samples: list[GeneratedSample], base_model: str, settings: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Ingestion items (one per prompt) and the prompts skipped: empty completions are dropped,
    and a prompt left with fewer than 2 samples to compare is skipped (and named)."""
    by_prompt: dict[int, list[GeneratedSample]] = {}
    for s in samples:
        if s.text.strip():
            by_prompt.setdefault(s.prompt.pk, []).append(s)
    known = dict.fromkeys(by_prompt, 0)
    for prompt_id in Sample.objects.filter(prompt_id__in=list(by_prompt)).values_list("prompt_id", flat=True):
        known[prompt_id] += 1
    items, skipped = [], []
    prompts = {s.prompt.pk: s.prompt for s in samples}
    for prompt_id, prompt in prompts.items():
        fresh = by_prompt.get(prompt_id, [])
        if known.get(prompt_id, 0) + len(fresh) < 2:
            skipped.append(prompt.external_id)
            continue
        items.append({
            "external_id": prompt.external_id,
            "prompt": prompt.messages or prompt.text,
            "samples": [{
                "external_id": sample_external_id(batch, prompt, s.version, s.k), "text": s.text,
                "model": model_label(base_model), "adapter": s.version,
                "generation": {**settings, "seed": s.seed, "k": s.k},
                "metadata": {"generation_batch": batch, "policy_model": s.policy_id, "ended_with_eos": s.ended},
            } for s in fresh],
        })
    return items, skipped


def generated_samples_ingest(
    *, project: Project, batch: int, samples: list[GeneratedSample], base_model: str, settings: dict[str, Any],
) -> tuple[IngestionResult, list[str]]:
    """Store the samples (tasks are created by ingestion); returns the result and skipped prompts."""
    items, skipped = generated_items(batch=batch, samples=samples, base_model=base_model, settings=settings)
    total = IngestionResult()
    for start in range(0, len(items), INGEST_CHUNK):
        part = items_ingest(project=project, items=items[start: start + INGEST_CHUNK])
        total.prompts_created += part.prompts_created
        total.samples_created += part.samples_created
        total.tasks_created += part.tasks_created
        total.duplicates.extend(part.duplicates)
    return total, skipped
