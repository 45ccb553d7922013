from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Assignment, Judgment, Task
from labeling.services.assignment import assignment_next, assignment_skip
from labeling.services.ingestion import items_ingest
from labeling.services.judging import JudgmentError, judgment_submit, judgment_undo_last
from tests.factories import item


@pytest.fixture
def filled(project):
    items_ingest(project=project, items=[item("low"), {**item("high"), "priority": 5}, item("mid")])
    return project


def test_highest_priority_first_then_oldest(filled, make_user):
    first = assignment_next(project=filled, annotator=make_user("ann"))
    assert first.task.prompt.external_id == "high"
    second = assignment_next(project=filled, annotator=make_user("bob"))
    assert second.task.prompt.external_id == "high"  # quota of 2 judgments per task
    third = assignment_next(project=filled, annotator=make_user("cat"))
    assert third.task.prompt.external_id == "low"


def test_reload_resumes_the_open_lease(filled, make_user):
    ann = make_user("ann")
    assert assignment_next(project=filled, annotator=ann).pk == assignment_next(project=filled, annotator=ann).pk


def test_order_shown_is_recorded_and_covers_the_task(filled, make_user):
    assignment = assignment_next(project=filled, annotator=make_user("ann"))
    assert sorted(assignment.shown_order) == sorted(assignment.task.samples.values_list("pk", flat=True))


def test_expired_lease_returns_the_slot(filled, make_user):
    users = [make_user(name) for name in ("a1", "a2", "a3")]
    first, second = (assignment_next(project=filled, annotator=u) for u in users[:2])
    assert first.task_id == second.task_id
    assert assignment_next(project=filled, annotator=users[2]).task_id != first.task_id
    Assignment.objects.filter(pk=first.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    other = make_user("a4")
    assert assignment_next(project=filled, annotator=other).task_id == first.task_id


def test_submit_is_idempotent_and_counts_once(filled, make_user):
    ann = make_user("ann")
    assignment = assignment_next(project=filled, annotator=ann)
    winner = assignment.shown_order[0]
    one = judgment_submit(assignment=assignment, annotator=ann, data={"winner": winner, "active_ms": 1200})
    two = judgment_submit(assignment=assignment, annotator=ann, data={"winner": winner})
    assert one.pk == two.pk
    assert Judgment.objects.count() == 1
    assert Task.objects.get(pk=assignment.task_id).judgment_count == 1
    canonical_first = assignment.task.slots.get(position=0).sample_id
    assert one.choice == ("a" if winner == canonical_first else "b")
    assert one.shown_order == assignment.shown_order and one.active_ms == 1200 and one.response_ms >= 0


def test_judged_and_skipped_tasks_are_not_served_again(filled, make_user):
    ann = make_user("ann")
    first = assignment_next(project=filled, annotator=ann)
    judgment_submit(assignment=first, annotator=ann, data={"winner": "tie"})
    second = assignment_next(project=filled, annotator=ann)
    assignment_skip(assignment=second)
    third = assignment_next(project=filled, annotator=ann)
    assert len({first.task_id, second.task_id, third.task_id}) == 3
    judgment_submit(assignment=third, annotator=ann, data={"winner": "both_bad"})
    assert assignment_next(project=filled, annotator=ann) is None


def test_full_task_is_not_served(filled, make_user):
    for name in ("a", "b"):
        user = make_user(name)
        assignment = assignment_next(project=filled, annotator=user)
        judgment_submit(assignment=assignment, annotator=user, data={"winner": "tie"})
    assert assignment_next(project=filled, annotator=make_user("c")).task.prompt.external_id == "low"


def test_undo_withdraws_and_serves_the_task_again(filled, make_user):
    ann = make_user("ann")
    assignment = assignment_next(project=filled, annotator=ann)
    judgment = judgment_submit(assignment=assignment, annotator=ann, data={"winner": "tie"})
    assignment_next(project=filled, annotator=ann)  # the page already shows the next task
    undone = judgment_undo_last(project=filled, annotator=ann)
    assert undone.pk == assignment.pk
    judgment.refresh_from_db()
    assert judgment.withdrawn_at is not None  # kept, not deleted
    assert Task.objects.get(pk=assignment.task_id).judgment_count == 0
    assert assignment_next(project=filled, annotator=ann).pk == assignment.pk
    again = judgment_submit(assignment=undone, annotator=ann, data={"winner": undone.shown_order[1]})
    assert again.pk != judgment.pk and Judgment.objects.filter(assignment=assignment).count() == 2


def test_undo_with_nothing_to_undo(filled, make_user):
    assert judgment_undo_last(project=filled, annotator=make_user("ann")) is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"winner": 999999}, "winner must be one of"),
        ({}, "winner must be one of"),
        ({"winner": "tie", "active_ms": -5}, "active_ms"),
        ({"winner": "tie", "rationale": 7}, "rationale"),
    ],
)
def test_bad_answers_are_refused(filled, make_user, data, message):
    ann = make_user("ann")
    assignment = assignment_next(project=filled, annotator=ann)
    with pytest.raises(JudgmentError, match=message):
        judgment_submit(assignment=assignment, annotator=ann, data=data)
    assert Judgment.objects.count() == 0


def test_someone_elses_assignment_is_refused(filled, make_user):
    assignment = assignment_next(project=filled, annotator=make_user("ann"))
    with pytest.raises(JudgmentError, match="another annotator"):
        judgment_submit(assignment=assignment, annotator=make_user("eve"), data={"winner": "tie"})


def test_ranking_answer_must_place_every_sample_once(make_project, make_user):
    project = make_project("rank", kind="ranking", ranking_k=3)
    items_ingest(project=project, items=[item("p", n_samples=3)])
    ann = make_user("ann")
    assignment = assignment_next(project=project, annotator=ann)
    a, b, c = assignment.shown_order
    with pytest.raises(JudgmentError, match="exactly once"):
        judgment_submit(assignment=assignment, annotator=ann, data={"ranking": [[a], [b]]})
    with pytest.raises(JudgmentError, match="exactly once"):
        judgment_submit(assignment=assignment, annotator=ann, data={"ranking": [[a], [b], [b, c]]})
    judgment = judgment_submit(assignment=assignment, annotator=ann, data={"ranking": [[b], [a, c]]})
    assert judgment.ranking == [[b], [a, c]] and judgment.choice == ""
