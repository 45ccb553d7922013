"""A submit after the lease expired: recorded while the task still has room, refused with a 409
once another annotator took the slot and filled the quota (a task never gets more judgments than
it wants)."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Assignment, Judgment, Task
from labeling.services.assignment import assignment_next
from labeling.services.ingestion import items_ingest
from labeling.services.judging import LateSubmitError, judgment_submit
from tests.factories import item


@pytest.fixture
def one_wanted(make_project):
    """Two tasks, each wanting one judgment."""
    project = make_project("late", judgments_per_task=1)
    items_ingest(project=project, items=[item("p1"), item("p2")])
    return project


def _expire(assignment: Assignment) -> None:
    Assignment.objects.filter(pk=assignment.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))


def _post(client, path, body):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def test_expired_lease_whose_slot_was_taken_and_filled_is_refused(one_wanted, make_user):
    late, prompt = make_user("late"), make_user("prompt")
    first = assignment_next(project=one_wanted, annotator=late)
    _expire(first)
    second = assignment_next(project=one_wanted, annotator=prompt)
    assert second.task_id == first.task_id  # the slot went back to the pool and was re-leased
    judgment_submit(assignment=second, annotator=prompt, data={"winner": "tie"})
    with pytest.raises(LateSubmitError, match="ran out"):
        judgment_submit(assignment=first, annotator=late, data={"winner": "tie"})
    task = Task.objects.get(pk=first.task_id)
    assert task.judgment_count == 1 and Judgment.objects.filter(task=task).count() == 1


def test_expired_lease_whose_slot_is_leased_to_another_is_refused(one_wanted, make_user):
    late, holder = make_user("late"), make_user("holder")
    first = assignment_next(project=one_wanted, annotator=late)
    _expire(first)
    assert assignment_next(project=one_wanted, annotator=holder).task_id == first.task_id
    with pytest.raises(LateSubmitError):
        judgment_submit(assignment=first, annotator=late, data={"winner": "tie"})
    assert Judgment.objects.count() == 0  # the holder's slot stays theirs


def test_expired_lease_is_still_accepted_while_the_task_has_room(one_wanted, make_user):
    late = make_user("late")
    first = assignment_next(project=one_wanted, annotator=late)
    _expire(first)
    judgment = judgment_submit(assignment=first, annotator=late, data={"winner": "tie"})
    assert judgment.task_id == first.task_id
    assert Task.objects.get(pk=first.task_id).judgment_count == 1
    # and a retry of that submit returns the same judgment, not a 409
    assert judgment_submit(assignment=first, annotator=late, data={"winner": "tie"}).pk == judgment.pk


def test_page_submit_after_the_slot_was_filled_is_409_with_the_next_task(client, one_wanted, make_user):
    late, prompt = make_user("late"), make_user("prompt")
    client.force_login(late)
    shown = _post(client, "/label/late/next/", {}).json()
    _expire(Assignment.objects.get(pk=shown["assignment"]))
    other = assignment_next(project=one_wanted, annotator=prompt)
    judgment_submit(assignment=other, annotator=prompt, data={"winner": other.shown_order[0]})

    response = _post(client, "/label/late/submit/", {"assignment": shown["assignment"], "winner": "tie"})

    assert response.status_code == 409
    body = response.json()
    assert "not recorded" in body["error"]
    assert body["done"] is False and body["assignment"] != shown["assignment"]  # the next task comes along
    assert body["progress"]["judged"] == 0  # counted afresh: nothing of theirs was recorded
    task = Task.objects.get(pk=other.task_id)
    assert task.judgment_count == 1 and Judgment.objects.filter(task=task).count() == 1
    assert not Judgment.objects.filter(annotator=late).exists()


def test_page_submit_on_an_expired_lease_with_room_is_recorded(client, one_wanted, make_user):
    client.force_login(make_user("late"))
    shown = _post(client, "/label/late/next/", {}).json()
    _expire(Assignment.objects.get(pk=shown["assignment"]))
    response = _post(client, "/label/late/submit/", {"assignment": shown["assignment"], "winner": "both_bad"})
    assert response.status_code == 200 and Judgment.objects.get().choice == "both_bad"
