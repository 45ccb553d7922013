"""Many annotators at once on PostgreSQL: no slot handed out twice, no judgment lost."""

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from labeling.models import Assignment, Judgment, Task
from labeling.services.assignment import assignment_next
from labeling.services.ingestion import items_ingest
from labeling.services.judging import judgment_submit
from tests.factories import item
from tests.requirements_check import skip_or_fail

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

THREADS = 24


@pytest.fixture(autouse=True)
def needs_postgres():
    if connection.vendor != "postgresql":
        skip_or_fail("the concurrency test needs PostgreSQL (set DATABASE_URL)")


def run_threads(target, count: int) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def wrapped(index: int) -> None:
        try:
            barrier.wait()
            target(index)
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def test_concurrent_annotators_take_and_submit(make_project, django_user_model):
    project = make_project("busy", judgments_per_task=3)
    items_ingest(project=project, items=[item(f"p{i}", priority=i % 4) for i in range(40)])
    users = [django_user_model.objects.create_user(f"u{i}") for i in range(THREADS)]
    submitted = Counter()

    def annotate(index: int) -> None:
        user = users[index]
        while (assignment := assignment_next(project=project, annotator=user)) is not None:
            judgment_submit(assignment=assignment, annotator=user, data={"winner": assignment.shown_order[0]})
            submitted[index] += 1

    assert run_threads(annotate, THREADS) == []
    per_task = Counter(Judgment.objects.values_list("task_id", flat=True))
    assert sum(submitted.values()) == Judgment.objects.count() == 40 * 3  # none lost, none extra
    assert set(per_task.values()) == {3}  # no slot given twice: never more than the quota
    assert all(task.judgment_count == 3 for task in Task.objects.all())
    assert Assignment.objects.filter(status="open").count() == 0
    assert len(set(Judgment.objects.values_list("task_id", "annotator_id"))) == 120


def test_double_submit_from_many_threads_makes_one_judgment(make_project, django_user_model):
    project = make_project("dbl")
    items_ingest(project=project, items=[item("p")])
    user = django_user_model.objects.create_user("clicker")
    assignment = assignment_next(project=project, annotator=user)
    results = []

    def click(_: int) -> None:
        results.append(judgment_submit(assignment=assignment, annotator=user, data={"winner": "tie"}).pk)

    assert run_threads(click, THREADS) == []
    assert len(set(results)) == 1 and Judgment.objects.count() == 1
    assert Task.objects.get().judgment_count == 1
