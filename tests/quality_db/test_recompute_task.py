import time
from datetime import timedelta

import pytest

from labeling.models import AnnotatorStats, Assignment, Judgment, QualitySnapshot, QualityState
from labeling.quality.services import quality_recompute
from labeling.services.assignment import assignment_next
from labeling.services.ingestion import items_ingest
from labeling.services.judging import judgment_submit
from tests.factories import item
from tests.quality_db.conftest import bulk_label, good, pairwise_items, random_clicker


def submit_one(project, user):
    assignment = assignment_next(project=project, annotator=user)
    return judgment_submit(assignment=assignment, annotator=user, data={"winner": "tie"})


def test_every_n_judgments_queue_one_recomputation(make_project, make_user, django_capture_on_commit_callbacks):
    project = make_project("trig", judgments_per_task=1, quality_config={"recompute_every": 3, "gold_rate": 0})
    items_ingest(project=project, items=[item(f"p{i}") for i in range(8)])
    user = make_user("ann")
    with django_capture_on_commit_callbacks() as callbacks:
        for _ in range(2):
            submit_one(project, user)
    assert callbacks == []
    with django_capture_on_commit_callbacks() as callbacks:
        for _ in range(5):  # 7 in all: past 3 and 6, but one is still queued
            submit_one(project, user)
    assert len(callbacks) == 1
    state = QualityState.objects.get(project=project)
    assert state.queued_at is not None and state.new_judgments == 7


def test_recompute_every_zero_never_queues(make_project, make_user, django_capture_on_commit_callbacks):
    project = make_project("quiet", judgments_per_task=1, quality_config={"recompute_every": 0})
    items_ingest(project=project, items=[item(f"p{i}") for i in range(3)])
    user = make_user("ann")
    with django_capture_on_commit_callbacks() as callbacks:
        for _ in range(3):
            submit_one(project, user)
    assert callbacks == []


def test_ranking_project_uses_crowdbt_and_kendall_tau(make_project, make_user):
    project = make_project("ranks", kind="ranking", ranking_k=3, judgments_per_task=5,
                           quality_config={"recompute_every": 0, "min_labels": 5})
    items = [{"external_id": f"p{i}", "prompt": "Rank them.", "samples": [
        {"external_id": f"s{k}", "text": "word " * (5 + 3 * k)} for k in range(3)]} for i in range(12)]
    items_ingest(project=project, items=items)
    users = [make_user(f"u{i}") for i in range(5)]
    for n, user in enumerate(users):
        while (assignment := assignment_next(project=project, annotator=user)) is not None:
            ids = sorted(assignment.task.slots.values_list("sample_id", flat=True))
            ranking = [[s] for s in ids] if n < 4 else [[s] for s in reversed(ids)]  # u4 always reversed
            Assignment.objects.filter(pk=assignment.pk).update(served_at=assignment.served_at - timedelta(seconds=20))
            assignment.refresh_from_db()
            judgment_submit(assignment=assignment, annotator=user, data={"ranking": ranking})
    quality_recompute(project_id=project.pk)
    stats = {s.annotator.username: s for s in AnnotatorStats.objects.select_related("annotator")}
    assert stats["u0"].mean_tau > 0.5 > stats["u4"].mean_tau
    assert stats["u4"].reliability < 0.5 < stats["u0"].reliability
    assert stats["u4"].flagged and not stats["u0"].flagged
    snapshot = QualitySnapshot.objects.get()
    assert snapshot.mean_tau is not None and snapshot.alpha_clean > snapshot.alpha
    assert Judgment.objects.filter(annotator=users[4], included=False).count() == 12
    assert all(j.signals["picked_position"] in (0, 1, 2) for j in Judgment.objects.all())


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_recompute_runs_on_a_real_worker_and_is_idempotent(celery_worker, make_project, make_user):
    from labeling.quality.tasks import recompute_quality

    project = make_project("async", judgments_per_task=4, quality_config={"recompute_every": 0, "gold_rate": 0})
    items, truth = pairwise_items(20)
    items_ingest(project=project, items=items)
    crowd = {"g0": good(), "g1": good(), "g2": good(), "noise": random_clicker}
    bulk_label(project, crowd, {name: make_user(name) for name in crowd}, truth)

    def wait_for(condition, what: str):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; worker log:\n{open(celery_worker.log_path).read()}")

    recompute_quality.delay(project.pk)
    wait_for(lambda: QualityState.objects.filter(project=project, computed_at__isnull=False).exists(), "a result")
    state = QualityState.objects.get(project=project)
    fields = ("included", "weight", "quality_reasons", "signals")
    stored = list(Judgment.objects.order_by("pk").values_list(*fields))
    stats = list(AnnotatorStats.objects.order_by("annotator_id").values())
    assert QualitySnapshot.objects.filter(project=project).count() == 1 and len(stats) == 4
    recompute_quality.delay(project.pk, True)  # forced: the same judgments store the same result
    wait_for(lambda: QualityState.objects.get(project=project).computed_at > state.computed_at, "the second run")
    assert list(Judgment.objects.order_by("pk").values_list(*fields)) == stored
    assert list(AnnotatorStats.objects.order_by("annotator_id").values()) == stats
    assert QualitySnapshot.objects.filter(project=project).count() == 1
    # Triggered by judgments: the counter queues one run through the broker after they commit.
    project.quality_config = {"recompute_every": 2, "gold_rate": 0}
    project.save()
    items_ingest(project=project, items=[item("extra1"), item("extra2")])
    user = make_user("late")
    before = QualityState.objects.get(project=project).computed_at
    submit_one(project, user)
    submit_one(project, user)
    wait_for(lambda: QualityState.objects.get(project=project).computed_at > before, "the triggered run")
    assert QualitySnapshot.objects.filter(project=project).count() == 2
    assert AnnotatorStats.objects.filter(project=project, annotator=user).exists()
