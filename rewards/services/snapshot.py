"""Freeze a project's clean labels into a preference dataset: one JSONL line per pairwise
judgment (a weighted pair; ties flagged, both-bad dropped) or ranking judgment (one K-way
element), each tagged train or held-out by a hash of its prompt id, so no prompt is in both."""

import hashlib
import json
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch

from labeling.models import Judgment, Project, Prompt, Task, TaskSample
from labeling.selectors import is_honeypot, judgment_ranks, live_judgments, pair_votes
from rewards.models import PreferenceDataset
from training.artifacts import artifact_materialize, artifact_publish
from training.writable import ArtifactWriteError, artifact_writes

FILE_NAME = "elements.jsonl"
TRAIN, HELDOUT = "train", "heldout"


class SnapshotError(Exception):
    """Nothing usable to freeze (or a bad setting); the message says why."""


def messages_text(messages: list[dict[str, str]]) -> str:
    """Chat turns as the reward model reads them: one `role: content` line each, then the
    assistant's cue (the response follows it)."""
    turns = "".join(f"{m.get('role', 'user')}: {m.get('content', '')}\n" for m in messages)
    return turns + "assistant: "


def prompt_text(prompt: Prompt) -> str:
    """The prompt as the reward model reads it (training, scoring and prioritising alike)."""
    return messages_text(prompt.messages) if prompt.messages else prompt.text


def in_heldout(prompt_id: int, seed: int, eval_fraction: float) -> bool:
    digest = hashlib.sha256(f"{seed}:{prompt_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < eval_fraction


@dataclass
class _Counts:
    values: dict[str, int] = field(default_factory=dict)

    def add(self, key: str, n: int = 1) -> None:
        self.values[key] = self.values.get(key, 0) + n


def _share(tally: dict[str, int], key: str) -> float:
    total = sum(tally.values())
    return round(tally[key] / total, 4) if total else 1.0


def _pair_record(judgment: Judgment, ids: list[int], texts: dict[int, str], votes: dict) -> dict[str, Any] | None:
    x, y = ids[0], ids[1]
    tally = votes[(x, y)]
    if judgment.choice == Judgment.Choice.BOTH_BAD:
        return None
    if judgment.choice == Judgment.Choice.B:
        chosen, rejected, agreement = y, x, _share(tally, "y")
    else:
        chosen, rejected = x, y
        agreement = _share(tally, "tie" if judgment.choice == Judgment.Choice.TIE else "x")
    return {"chosen": texts[chosen], "rejected": texts[rejected], "chosen_id": chosen, "rejected_id": rejected,
            "tie": judgment.choice == Judgment.Choice.TIE, "agreement": agreement}


def _ranking_record(judgment: Judgment, ids: list[int], texts: dict[int, str], votes: dict) -> dict[str, Any]:
    ranks = judgment_ranks(judgment, ids)
    agreements = []  # one per comparison, in the engine's order: (i, j) for i < j
    for i, first in enumerate(ids):
        for second in ids[i + 1:]:
            tally = votes[(first, second)]
            key = "tie" if ranks[first] == ranks[second] else ("x" if ranks[first] < ranks[second] else "y")
            agreements.append(_share(tally, key))
    return {"responses": [texts[s] for s in ids], "response_ids": ids, "ranks": [ranks[s] + 1 for s in ids],
            "agreements": agreements}


def _records(project: Project, seed: int, eval_fraction: float, counts: _Counts, used: list[int]):
    tasks = (
        Task.objects.filter(project=project, judgment_count__gt=0)
        .select_related("prompt")
        .prefetch_related(
            Prefetch("slots", queryset=TaskSample.objects.select_related("sample").order_by("position")),
            # The same clean judgments as the export's ?clean=1: included, none of a banned annotator.
            Prefetch("judgments", queryset=live_judgments(project=project, clean=True).order_by("pk"),
                     to_attr="clean_judgments"),
        )
        .order_by("pk")
    )
    for task in tasks.iterator(chunk_size=500):
        ids = [slot.sample_id for slot in task.slots.all()]
        texts = {slot.sample_id: slot.sample.text for slot in task.slots.all()}
        if len(ids) < 2 or not task.clean_judgments or is_honeypot(task):
            continue
        votes = pair_votes(ids, task.clean_judgments)
        split = HELDOUT if in_heldout(task.prompt_id, seed, eval_fraction) else TRAIN
        for judgment in task.clean_judgments:
            weight = float(judgment.weight)
            if weight <= 0:
                counts.add("dropped_zero_weight")
                continue
            if judgment.ranking:
                record = _ranking_record(judgment, ids, texts, votes)
                counts.add("rankings")
            else:
                record = _pair_record(judgment, ids, texts, votes)
                if record is None:
                    counts.add("dropped_both_bad")
                    continue
                counts.add("ties" if record["tie"] else "pairs")
            counts.add(split)
            used.append(judgment.pk)
            yield {"split": split, "task_id": task.pk, "judgment_id": judgment.pk, "prompt_id": task.prompt_id,
                   "prompt": prompt_text(task.prompt), "weight": weight, **record}


def dataset_snapshot(
    *, project: Project, seed: int = 0, eval_fraction: float = 0.1, name: str = "", refresh_quality: bool = True,
) -> PreferenceDataset:
    """Write the project's clean labels to a JSONL file and record it (hash, judgment ids, counts).
    First brings label quality up to date when judgments changed since the last quality pass
    (``refresh_quality``; off only to freeze hand-set decisions as they are)."""
    from labeling.quality.services import quality_ensure_current

    if not 0 <= eval_fraction < 1:
        raise SnapshotError("eval_fraction must be at least 0 and below 1")
    if refresh_quality:
        quality_ensure_current(project=project)
    root = Path(settings.ARTIFACT_DIR) / "datasets"
    tmp = root / f".tmp-{uuid.uuid4().hex}"
    counts, used, digest = _Counts(), [], hashlib.sha256()
    try:
        # A folder that cannot be written (a full or read-only disk, a path that is a file): named.
        with artifact_writes(root, what="the dataset snapshot", outcome="no dataset was recorded"):
            tmp.mkdir(parents=True)
            with open(tmp / FILE_NAME, "wb") as fh:
                for record in _records(project, seed, eval_fraction, counts, used):
                    line = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode()
                    digest.update(line)
                    fh.write(line)
        if not used:
            raise SnapshotError(f"project {project.slug!r} has no usable judgments (live, included, not both-bad)")
        with transaction.atomic():
            dataset = PreferenceDataset.objects.create(
                project=project, name=name or f"{project.slug} labels", seed=seed, eval_fraction=eval_fraction,
                content_hash=digest.hexdigest(), judgment_ids=used, stats=counts.values,
            )
            final = root / str(dataset.pk)
            shutil.rmtree(final, ignore_errors=True)
            tmp.rename(final)
            dataset.path = f"datasets/{dataset.pk}/{FILE_NAME}"  # the storage key
            dataset.save(update_fields=["path"])
    except ArtifactWriteError as exc:
        raise SnapshotError(str(exc)) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    try:  # outside the transaction: an upload holds no lock; a row whose file did not go up goes
        artifact_publish(local_dir=root / str(dataset.pk), key=f"datasets/{dataset.pk}")
    except Exception:
        dataset.delete()
        raise
    return dataset


def dataset_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of a dataset file: its storage key (downloaded once when the storage is remote)
    or a local path."""
    with open(artifact_materialize(path), encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def dataset_elements(dataset: PreferenceDataset) -> tuple[list, list]:
    """(train, held-out) engine Elements, each comparison carrying its agreement level."""
    from rewards.engine.data import pair_element, ranking_element

    train, held = [], []
    for rec in dataset_records(dataset.path):
        if "responses" in rec:
            element = ranking_element(rec["prompt"], rec["responses"], rec["ranks"], weight=rec["weight"])
            for comparison, agreement in zip(element.comparisons, rec["agreements"], strict=True):
                comparison.agreement = agreement
        else:
            element = pair_element(rec["chosen"], rec["rejected"], rec["prompt"], weight=rec["weight"],
                                   tie=rec["tie"], agreement=rec["agreement"])
        (held if rec["split"] == HELDOUT else train).append(element)
    return train, held
