"""Honeypots: gold tasks made automatically by degrading a sample so the answer is certain.

A honeypot copies a real task onto a new prompt with the same text (so ingestion never pairs
new samples with a degraded one) and swaps one sample for a degraded copy of another: cut off
mid-sentence ("truncate"), an answer written for a different prompt ("off_topic"), or its
sentences shuffled ("shuffle"). The gold answer says the original beats the degraded copy.
Only Prompt.metadata / Sample.metadata / Task.gold_answer mark them: admin-only fields the
labeling page never shows."""

import random
import uuid
from typing import Any

from django.db import transaction

from labeling.models import Project, Prompt, Sample, Task, TaskSample
from labeling.quality.config import HONEYPOT_KINDS, QualityConfig, quality_config
from labeling.quality.honeypots import MARKER, pick_other_prompt_sample, shuffle_sentences, truncate_mid_sentence


def _degrade(kind: str, sample: Sample, others: dict[int, list[int]], seed: int) -> tuple[str, int | None]:
    """The degraded text, and (off-topic) the sample it was taken from; "" when this sample can't be degraded."""
    if kind == "truncate":
        text = truncate_mid_sentence(sample.text)
        return (text if text and text != sample.text else ""), None
    if kind == "shuffle":
        text = shuffle_sentences(sample.text, seed=seed)
        return (text if text != sample.text else ""), None
    if kind == "off_topic":
        try:
            other_id = pick_other_prompt_sample(others, sample.prompt_id, seed=seed)
        except ValueError:
            return "", None
        other = Sample.objects.get(pk=other_id)
        return (other.text if other.text.strip() != sample.text.strip() else ""), other.pk
    raise ValueError(f"unknown honeypot kind {kind!r}; use one of {HONEYPOT_KINDS}")


def honeypots_create(*, project: Project, count: int, kinds: list[str] | None = None, seed: int = 0) -> list[Task]:
    """Make up to `count` honeypot tasks from the project's real tasks (deterministic given the seed)."""
    cfg = quality_config(project)
    kinds = list(kinds or cfg.honeypot_kinds)
    for kind in kinds:
        if kind not in HONEYPOT_KINDS:
            raise ValueError(f"unknown honeypot kind {kind!r}; use one of {HONEYPOT_KINDS}")
    sources = list(
        Task.objects.filter(project=project, is_gold=False).exclude(prompt__metadata__has_key=MARKER)
        .order_by("pk").values_list("pk", flat=True)
    )
    rng = random.Random(seed)
    rng.shuffle(sources)
    others: dict[int, list[int]] = {}
    if "off_topic" in kinds:
        for pk, prompt_id in Sample.objects.filter(prompt__project=project).exclude(
            prompt__metadata__has_key=MARKER
        ).values_list("pk", "prompt_id"):
            others.setdefault(prompt_id, []).append(pk)
    made: list[Task] = []
    with transaction.atomic():
        for index, task_id in enumerate(sources):
            if len(made) >= count:
                break
            task = Task.objects.select_related("prompt").get(pk=task_id)
            samples = [slot.sample for slot in task.slots.select_related("sample").order_by("position")]
            for attempt in range(len(kinds)):
                kind = kinds[(len(made) + attempt) % len(kinds)]
                honeypot = _make(project, task, samples, kind, others, rng, seed * 100003 + index, cfg)
                if honeypot is not None:
                    made.append(honeypot)
                    break
    return made


def _make(
    project: Project, task: Task, samples: list[Sample], kind: str, others: dict[int, list[int]],
    rng: random.Random, seed: int, cfg: QualityConfig,
) -> Task | None:
    source_index = rng.randrange(len(samples))
    source = samples[source_index]
    text, taken_from = _degrade(kind, source, others, seed)
    if not text:
        return None
    tag = uuid.UUID(int=rng.getrandbits(128)).hex[:16]
    marker = {"kind": kind, "source_task": task.pk, "source_sample": source.pk}
    prompt = Prompt.objects.create(
        project=project, external_id=f"honeypot-{tag}", text=task.prompt.text, messages=task.prompt.messages,
        metadata={MARKER: marker},
    )
    # Copies of the real samples, with the degraded one in place of one other than its source
    # (a pair: both); canonical positions shuffled so the right answer is not always "a".
    keep = [s for i, s in enumerate(samples) if i != source_index]
    if len(samples) > 2:
        keep.pop(rng.randrange(len(keep)))
    copies = [source, *([] if len(samples) == 2 else keep)]
    new_samples = [
        Sample(prompt=prompt, external_id=f"s{i}", text=s.text, model_name=s.model_name, adapter=s.adapter,
               generation=s.generation, metadata={MARKER: {"copy_of": s.pk}})
        for i, s in enumerate(copies)
    ]
    degraded_meta = {**marker, "role": "degraded", "taken_from": taken_from}
    new_samples.append(Sample(
        prompt=prompt, external_id=f"s{len(copies)}", text=text, model_name=source.model_name,
        adapter=source.adapter, generation=source.generation, metadata={MARKER: degraded_meta},
    ))
    Sample.objects.bulk_create(new_samples)
    saved = list(Sample.objects.filter(prompt=prompt).order_by("pk"))
    original, degraded = saved[0], saved[-1]
    rng.shuffle(saved)
    answer: dict[str, Any] = {"pairs": [[original.pk, degraded.pk]], "honeypot": kind}
    if len(saved) == 2:
        answer["choice"] = "a" if saved[0].pk == original.pk else "b"
    gold = Task.objects.create(
        project=project, prompt=prompt, priority=task.priority, is_gold=True, gold_answer=answer,
        judgments_wanted=cfg.honeypot_judgments_wanted,
    )
    TaskSample.objects.bulk_create(TaskSample(task=gold, sample=s, position=i) for i, s in enumerate(saved))
    return gold
