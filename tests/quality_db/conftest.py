"""Simulated annotators that label through the real services (assignment, judging)."""

import random
from collections.abc import Callable
from datetime import timedelta

import pytest

from labeling.models import Assignment, Judgment, Project
from labeling.services.assignment import assignment_next
from labeling.services.ingestion import items_ingest
from labeling.services.judging import judgment_submit

WORDS = "the model answer explains each step of the method with care and gives a clear result".split()


def text(rng: random.Random, n_words: int, tag: str) -> str:
    words = [rng.choice(WORDS) for _ in range(n_words)]
    sentences = [" ".join(words[i : i + 6]).capitalize() + "." for i in range(0, len(words), 6)]
    return f"{tag}. " + " ".join(sentences)


def pairwise_items(n: int, seed: int = 0) -> tuple[list[dict], dict[str, str]]:
    """n prompts with two samples each, of random length; returns the items and, per prompt, the
    external id of the truly better sample (independent of length and order)."""
    rng = random.Random(seed)
    items, truth = [], {}
    for i in range(n):
        samples = [
            {"external_id": f"s{k}", "text": text(rng, rng.randint(8, 40), f"Answer {k} for {i}"), "model": f"m{k}"}
            for k in range(2)
        ]
        prompt = f"Question number {i}: explain the method."
        items.append({"external_id": f"p{i}", "prompt": prompt, "samples": samples})
        truth[f"p{i}"] = rng.choice(["s0", "s1"])
    return items, truth


Behaviour = Callable[[random.Random, Assignment, dict[int, str], str | None], tuple[object, float]]


def good(accuracy: float = 0.9) -> Behaviour:
    """Picks the better sample with probability `accuracy`, the other one otherwise; reads at a human pace."""

    def answer(rng, assignment, external, best):
        ids = assignment.shown_order
        better = next((s for s in ids if external[s] == best), ids[0])
        worse = next(s for s in ids if s != better)
        return (better if rng.random() < accuracy else worse), rng.uniform(15, 45)

    return answer


def always_left(rng, assignment, external, best):
    return assignment.shown_order[0], rng.uniform(8, 20)


def random_clicker(rng, assignment, external, best):
    return rng.choice([*assignment.shown_order, "tie", "both_bad"]), rng.uniform(8, 20)


def too_fast(rng, assignment, external, best):
    return rng.choice(assignment.shown_order), rng.uniform(0.3, 1.5)


def label_all(project: Project, user, behaviour: Behaviour, truth: dict[str, str], seed: int, limit: int = 10**6):
    """Let one simulated annotator take tasks until none is left (or `limit`)."""
    rng = random.Random(seed)
    done = 0
    while done < limit and (assignment := assignment_next(project=project, annotator=user)) is not None:
        external = dict(assignment.task.samples.values_list("pk", "external_id"))
        best = (assignment.task.gold_answer or {}).get("pairs", [[None]])[0][0] if assignment.task.is_gold else None
        best = external.get(best) if best else truth.get(assignment.task.prompt.external_id)
        winner, seconds = behaviour(rng, assignment, external, best)
        Assignment.objects.filter(pk=assignment.pk).update(
            served_at=assignment.served_at - timedelta(seconds=seconds)
        )
        assignment.refresh_from_db()
        judgment_submit(assignment=assignment, annotator=user, data={"winner": winner})
        done += 1
    return done


def bulk_label(project: Project, crowd: dict, users: dict, truth: dict[str, str], seed: int = 0) -> None:
    """Every annotator judges every task, written in bulk (fast): the rows the services would write,
    with a random order shown per assignment."""
    from django.db.models import F
    from django.utils import timezone

    from labeling.models import Task

    rng = random.Random(seed)
    now = timezone.now()
    tasks = list(Task.objects.filter(project=project, is_gold=False).select_related("prompt").order_by("pk"))
    slots = {t.pk: list(t.slots.order_by("position").values_list("sample_id", "sample__external_id")) for t in tasks}
    assignments, answers = [], []
    for name, behaviour in crowd.items():
        for task in tasks:
            order = [s for s, _ in slots[task.pk]]
            rng.shuffle(order)
            assignment = Assignment(task=task, annotator=users[name], status="submitted", served_at=now,
                                    lease_expires_at=now, shown_order=order)
            winner, seconds = behaviour(rng, assignment, dict(slots[task.pk]), truth[task.prompt.external_id])
            canonical = [s for s, _ in slots[task.pk]]
            choice = winner if winner in ("tie", "both_bad") else ("a" if winner == canonical[0] else "b")
            assignments.append(assignment)
            answers.append((choice, int(seconds * 1000)))
    Assignment.objects.bulk_create(assignments)
    Judgment.objects.bulk_create(
        Judgment(assignment=a, task_id=a.task_id, annotator_id=a.annotator_id, choice=choice, shown_order=a.shown_order,
                 response_ms=ms)
        for a, (choice, ms) in zip(assignments, answers, strict=True)
    )
    Task.objects.filter(pk__in=[t.pk for t in tasks]).update(judgment_count=F("judgment_count") + len(crowd))


@pytest.fixture
def planted(make_project, make_user):
    """A pairwise project: four honest annotators and three planted spammers (always-left,
    random, too fast), everyone labelling every task."""
    project = make_project(
        "planted", judgments_per_task=7, quality_config={"gold_rate": 0, "recompute_every": 0}
    )
    items, truth = pairwise_items(50)
    items_ingest(project=project, items=items)
    crowd = {f"good{i}": good() for i in range(4)}
    crowd.update({"lefty": always_left, "clicker": random_clicker, "speedy": too_fast})
    users = {name: make_user(name) for name in crowd}
    bulk_label(project, crowd, users, truth)
    assert Judgment.objects.filter(task__project=project).count() == 50 * 7
    return project, users
