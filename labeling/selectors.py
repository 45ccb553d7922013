"""Reads: the export streams. Each yields one JSON line at a time over a chunked query, so the
memory used stays flat however large the project."""

import json
from collections import defaultdict
from collections.abc import Iterator
from itertools import combinations
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet

from labeling.models import Assignment, Judgment, Project, Prompt, Task, TaskSample
from labeling.quality.honeypots import is_honeypot as is_honeypot_metadata
from labeling.quality.ranks import consensus_order, ranks_of
from labeling.quality.selectors import banned_annotator_ids

EXPORT_FORMATS = ("pairs", "rankings", "judgments")
CHUNK = 500


def _dumps(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False) + "\n"


def uses_chat(prompt: Prompt, form: str = "auto") -> bool:
    """Whether a row is written in TRL's conversational form: for a chat prompt, or for every row
    with form="conversational". A plain-string prompt is otherwise TRL's standard form: strings."""
    return form == "conversational" or bool(prompt.messages)


def prompt_value(prompt: Prompt, chat: bool) -> str | list[dict[str, str]]:
    """The prompt as TRL expects it: the text, or (conversational form) the list of turns, a plain
    prompt becoming one user turn."""
    if not chat:
        return prompt.text
    return prompt.messages or [{"role": "user", "content": prompt.text}]


def response_value(text: str, chat: bool) -> str | list[dict[str, str]]:
    return [{"role": "assistant", "content": text}] if chat else text


def live_judgments(*, project: Project, clean: bool) -> QuerySet[Judgment]:
    """Live judgments; clean: only those the quality filters (or a reviewer) kept, none of a
    banned annotator."""
    live = Judgment.objects.filter(withdrawn_at__isnull=True)
    if clean:
        live = live.filter(included=True).exclude(annotator_id__in=banned_annotator_ids(project=project))
    return live


def is_honeypot(task: Task) -> bool:
    """Honeypot tasks are synthetic (a degraded sample): never exported as preference data."""
    return is_honeypot_metadata(task.prompt.metadata)


def _tasks_with_judgments(project: Project, clean: bool = False) -> QuerySet[Task]:
    live = live_judgments(project=project, clean=clean).order_by("pk")
    return (
        Task.objects.filter(project=project, judgment_count__gt=0)
        .select_related("prompt")
        .prefetch_related(
            Prefetch("slots", queryset=TaskSample.objects.select_related("sample").order_by("position")),
            Prefetch("judgments", queryset=live, to_attr="live_judgments"),
        )
        .order_by("pk")
    )


def judgment_ranks(judgment: Judgment, sample_ids: list[int]) -> dict[int, int]:
    """Rank of each sample in one judgment (0 = best; tied samples share a rank).
    Both-bad counts as a tie for ordering purposes."""
    return ranks_of(sample_ids, judgment.choice, judgment.ranking)


def pair_votes(sample_ids: list[int], judgments: list[Judgment]) -> dict[tuple[int, int], dict[str, int]]:
    """For every pair (x, y) of the task's samples: how many judgments preferred x, preferred y,
    called it a tie, or (pairwise only) called both bad."""
    votes: dict[tuple[int, int], dict[str, int]] = defaultdict(lambda: {"x": 0, "y": 0, "tie": 0, "both_bad": 0})
    for judgment in judgments:
        ranks = judgment_ranks(judgment, sample_ids)
        for x, y in combinations(sample_ids, 2):
            tally = votes[(x, y)]
            if judgment.choice == Judgment.Choice.BOTH_BAD:
                tally["both_bad"] += 1
            elif ranks[x] < ranks[y]:
                tally["x"] += 1
            elif ranks[y] < ranks[x]:
                tally["y"] += 1
            else:
                tally["tie"] += 1
    return votes


def _sample_fields(prefix: str, sample, chat: bool) -> dict[str, Any]:
    return {
        prefix: response_value(sample.text, chat),
        f"{prefix}_id": sample.external_id,
        f"{prefix}_model": sample.model_name,
        f"{prefix}_adapter": sample.adapter,
    }


def pair_weights(sample_ids: list[int], judgments: list[Judgment]) -> dict[tuple[int, int], dict[str, float]]:
    """Like pair_votes, with each vote counted by its judgment's quality weight."""
    weights: dict[tuple[int, int], dict[str, float]] = defaultdict(lambda: {"x": 0.0, "y": 0.0, "other": 0.0})
    for judgment in judgments:
        ranks = judgment_ranks(judgment, sample_ids)
        for x, y in combinations(sample_ids, 2):
            side = "other" if judgment.choice == Judgment.Choice.BOTH_BAD or ranks[x] == ranks[y] else (
                "x" if ranks[x] < ranks[y] else "y"
            )
            weights[(x, y)][side] += judgment.weight
    return weights


def export_pairs(*, project: Project, clean: bool = False, form: str = "auto") -> Iterator[str]:
    """One row per compared pair with a strict majority: {"prompt", "chosen", "rejected", ...}.
    A plain prompt's row holds strings (TRL's standard form), a chat prompt's row turns (its
    conversational form); form="conversational" writes every row as turns (one form per file).

    clean: only included judgments, the winner by weighted vote; `weight` is the summed weight of
    the votes for the chosen sample, `weighted_agreement` that over the weight of all votes."""
    for task in _tasks_with_judgments(project, clean).iterator(chunk_size=CHUNK):
        if is_honeypot(task):
            continue
        chat = uses_chat(task.prompt, form)
        samples = {slot.sample_id: slot.sample for slot in task.slots.all()}
        sample_ids = list(samples)
        weights = pair_weights(sample_ids, task.live_judgments) if clean else {}
        for (x, y), tally in pair_votes(sample_ids, task.live_judgments).items():
            if clean:
                weight = weights[(x, y)]
                if weight["x"] == weight["y"]:
                    continue
                x_wins = weight["x"] > weight["y"]
            else:
                if tally["x"] == tally["y"]:
                    continue
                x_wins = tally["x"] > tally["y"]
            winner, loser = (x, y) if x_wins else (y, x)
            chosen_votes = tally["x"] if x_wins else tally["y"]
            total = sum(tally.values())
            row = {"prompt": prompt_value(task.prompt, chat)}
            row.update(_sample_fields("chosen", samples[winner], chat))
            row.update(_sample_fields("rejected", samples[loser], chat))
            row.update(
                {
                    "prompt_id": task.prompt.external_id,
                    "task_id": task.pk,
                    "num_judgments": total,
                    "chosen_votes": chosen_votes,
                    "ties": tally["tie"] + tally["both_bad"],
                    "agreement": round(chosen_votes / total, 4),
                }
            )
            if clean:
                chosen_weight = weight["x"] if x_wins else weight["y"]
                row["weight"] = round(chosen_weight, 4)
                row["weighted_agreement"] = round(chosen_weight / sum(weight.values()), 4)
            yield _dumps(row)


def consensus_ranking(sample_ids: list[int], judgments: list[Judgment]) -> tuple[list[int], list[int], float]:
    """Order samples by mean rank over judgments (Borda). Returns the order, the 1-based rank of
    each sample in that order (tied means share a rank), and the mean share of pairwise votes
    that agree with the consensus."""
    order, ranks, means = consensus_order(sample_ids, [judgment_ranks(j, sample_ids) for j in judgments])
    agree = total = 0
    for (x, y), tally in pair_votes(sample_ids, judgments).items():
        if means[x] == means[y]:
            continue
        agree += tally["x"] if means[x] < means[y] else tally["y"]
        total += sum(tally.values())
    return order, ranks, round(agree / total, 4) if total else 1.0


def export_rankings(*, project: Project, clean: bool = False, form: str = "auto") -> Iterator[str]:
    """One row per task: the responses in consensus order, best first, with their ranks (strings
    or turns as in export_pairs).
    clean: only included judgments; `weight` is the summed weight of the task's judgments."""
    for task in _tasks_with_judgments(project, clean).iterator(chunk_size=CHUNK):
        if is_honeypot(task) or not task.live_judgments:
            continue
        chat = uses_chat(task.prompt, form)
        samples = {slot.sample_id: slot.sample for slot in task.slots.all()}
        order, ranks, agreement = consensus_ranking(list(samples), task.live_judgments)
        extra = {"weight": round(sum(j.weight for j in task.live_judgments), 4)} if clean else {}
        yield _dumps(
            {
                "prompt": prompt_value(task.prompt, chat),
                "responses": [response_value(samples[s].text, chat) for s in order],
                "response_ids": [samples[s].external_id for s in order],
                "models": [samples[s].model_name for s in order],
                "ranks": ranks,
                "prompt_id": task.prompt.external_id,
                "task_id": task.pk,
                "num_judgments": len(task.live_judgments),
                "agreement": agreement,
                **extra,
            }
        )


def export_judgments(*, project: Project, clean: bool = False, form: str = "auto") -> Iterator[str]:
    """Every judgment, withdrawn ones included, with all its metadata and quality decision;
    samples by external id. A withdrawn judgment is never `included` (it is out of every clean
    export and training set). clean: only live included judgments of annotators not banned.
    ``form`` is accepted for a uniform signature; this format has no texts."""
    judgments = (
        (live_judgments(project=project, clean=clean) if clean else Judgment.objects).filter(task__project=project)
        .select_related("task__prompt", "annotator")
        .prefetch_related(Prefetch("task__slots", queryset=TaskSample.objects.select_related("sample")))
        .order_by("pk")
    )
    for judgment in judgments.iterator(chunk_size=CHUNK):
        external = {slot.sample_id: slot.sample.external_id for slot in judgment.task.slots.all()}
        yield _dumps(
            {
                "judgment_id": judgment.pk,
                "task_id": judgment.task_id,
                "prompt_id": judgment.task.prompt.external_id,
                "annotator": judgment.annotator.get_username(),
                "sample_ids": list(external.values()),  # canonical order: position 0 is "a"
                "choice": judgment.choice or None,
                "ranking": [[external[s] for s in group] for group in judgment.ranking] if judgment.ranking else None,
                "shown_order": [external[s] for s in judgment.shown_order],
                "rationale": judgment.rationale,
                "response_ms": judgment.response_ms,
                "active_ms": judgment.active_ms,
                "is_gold": judgment.task.is_gold,
                "created_at": judgment.created_at.isoformat(),
                "withdrawn": judgment.withdrawn_at is not None,
                "included": judgment.included and judgment.withdrawn_at is None,
                "weight": judgment.weight,
                "override": judgment.override or None,
                "quality_reasons": judgment.quality_reasons,
            }
        )


EXPORTERS = {"pairs": export_pairs, "rankings": export_rankings, "judgments": export_judgments}


def project_stats(*, project: Project) -> dict[str, int]:
    tasks = Task.objects.filter(project=project)
    return {
        "prompts": Prompt.objects.filter(project=project).count(),
        "tasks": tasks.count(),
        "tasks_complete": tasks.filter(judgment_count__gte=F("judgments_wanted")).count(),
        "judgments": Judgment.objects.filter(task__project=project, withdrawn_at__isnull=True).count(),
    }


def projects_for_annotator(*, user) -> QuerySet[Project]:
    """Active projects open to everyone (no annotator list) or listing this user."""
    return (
        Project.objects.filter(is_active=True)
        .filter(Q(annotators__isnull=True) | Q(annotators=user))
        .distinct()
        .order_by("slug")
    )


# `left` is counted up to this many tasks; above it the page shows "1000+". Counting them all read
# every open task of the project on each page load (46 ms at 20,000 tasks, most of the database's
# time under 100 annotators: bench/README_load.md).
PROGRESS_LEFT_CAP = 1000


def annotator_progress(*, project: Project, annotator) -> dict[str, int]:
    """What this annotator has done and what is left for them: `judged` (live judgments), `left`
    (tasks still short of judgments that they have neither judged nor skipped; the task on screen
    counts) and `skipped` (skipped tasks that still need judgments, so can be revisited). Gold
    tasks are mixed in at the project's rate, not worked through: they don't count in `left`.
    Above PROGRESS_LEFT_CAP, `left` is the cap and `left_more` is true (the key is there only then).

    Two queries, run on page load, undo, revisit and at the end; after a submit or skip the page
    updates its own figures."""
    counts = Assignment.objects.filter(task__project=project, annotator=annotator).aggregate(
        judged=Count("pk", filter=Q(status=Assignment.Status.SUBMITTED)),
        skipped=Count("pk", filter=Q(status=Assignment.Status.SKIPPED,
                                     task__judgment_count__lt=F("task__judgments_wanted"))),
    )
    finished_by_me = Assignment.objects.filter(
        task=OuterRef("pk"), annotator=annotator,
        status__in=[Assignment.Status.SUBMITTED, Assignment.Status.SKIPPED],
    )
    left = (
        Task.objects.filter(project=project, is_gold=False, judgment_count__lt=F("judgments_wanted"))
        .filter(~Exists(finished_by_me))
        .order_by()[: PROGRESS_LEFT_CAP + 1]
        .count()
    )
    progress = {"judged": counts["judged"], "left": min(left, PROGRESS_LEFT_CAP), "skipped": counts["skipped"]}
    if left > PROGRESS_LEFT_CAP:
        progress["left_more"] = True
    return progress


def annotator_history(*, annotator, limit: int = 200) -> QuerySet[Judgment]:
    return (
        Judgment.objects.filter(annotator=annotator)
        .select_related("task__project", "task__prompt")
        .order_by("-created_at")[:limit]
    )
