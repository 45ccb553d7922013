import json

import pytest
from django.utils import timezone

from labeling.models import Judgment
from rewards.engine import drop_ties
from rewards.services.snapshot import SnapshotError, dataset_elements, dataset_records, dataset_snapshot

from .conftest import add_task, judge, learnable_project, sample_ids

pytestmark = pytest.mark.django_db
# Tests of the snapshot's shape freeze the quality fields as written here (hand-set weights and
# exclusions, or the defaults), not as a quality pass would decide them.
AS_WRITTEN = {"refresh_quality": False}


def _prompts(records, split):
    return {r["prompt_id"] for r in records if r["split"] == split}


def test_split_by_prompt_is_disjoint_deterministic_and_hash_stable(project, annotators):
    tasks = learnable_project(project, annotators, n_prompts=20)
    # a second task on one prompt: both of its tasks must land on the same side
    extra = add_task(project, "p-extra", ["good helpful answer", "bad rude answer"])
    extra.prompt = tasks[0].prompt
    extra.save()
    judge(extra, annotators[0], "a")
    first = dataset_snapshot(project=project, seed=7, eval_fraction=0.3)
    second = dataset_snapshot(project=project, seed=7, eval_fraction=0.3)
    records = dataset_records(first.path)
    train, held = _prompts(records, "train"), _prompts(records, "heldout")
    assert train and held and not train & held
    assert len(train | held) == 20
    assert first.pk != second.pk and first.path != second.path
    assert first.content_hash == second.content_hash and len(first.content_hash) == 64
    assert records == dataset_records(second.path)
    assert sorted(first.judgment_ids) == sorted(Judgment.objects.values_list("pk", flat=True))
    assert first.stats["train"] + first.stats["heldout"] == 41 and first.stats["pairs"] == 41
    other_seed = dataset_snapshot(project=project, seed=8, eval_fraction=0.3)
    assert other_seed.content_hash != first.content_hash
    assert str(first.pk) in first.path and first.path.endswith("elements.jsonl")


def test_withdrawn_and_excluded_judgments_are_left_out_and_weights_kept(project, annotators):
    task = add_task(project, "p0", ["good helpful answer", "bad rude answer"])
    kept = judge(task, annotators[0], "a")
    judge(task, annotators[1], "b", withdrawn_at=timezone.now())
    fields = {f.name for f in Judgment._meta.get_fields()}
    if {"included", "weight"} <= fields:
        Judgment.objects.filter(pk=kept.pk).update(weight=0.5)
        judge(task, annotators[2], "b", included=False)
    dataset = dataset_snapshot(project=project, eval_fraction=0.0, **AS_WRITTEN)
    [record] = dataset_records(dataset.path)
    assert dataset.judgment_ids == [kept.pk]
    assert record["chosen"] == "good helpful answer" and record["rejected"] == "bad rude answer"
    assert record["agreement"] == 1.0 and record["tie"] is False
    if "weight" in fields:
        assert record["weight"] == 0.5
    Judgment.objects.filter(pk=kept.pk).update(withdrawn_at=timezone.now())
    with pytest.raises(SnapshotError, match="no usable judgments"):
        dataset_snapshot(project=project, **AS_WRITTEN)


def test_pairwise_choices_ties_and_both_bad(project, annotators, make_user):
    task = add_task(project, "p0", ["first answer", "second answer"])
    a, b = sample_ids(task)
    users = [*annotators, make_user("annotator3")]
    for user, choice in zip(users, ["b", "b", "tie", "both_bad"], strict=True):
        judge(task, user, choice)
    dataset = dataset_snapshot(project=project, eval_fraction=0.0, **AS_WRITTEN)
    records = dataset_records(dataset.path)
    assert dataset.stats == {"pairs": 2, "ties": 1, "dropped_both_bad": 1, "train": 3}
    pairs = [r for r in records if not r["tie"]]
    assert all(r["chosen_id"] == b and r["rejected_id"] == a and r["agreement"] == 0.5 for r in pairs)
    [tie] = [r for r in records if r["tie"]]
    assert tie["agreement"] == 0.25
    train, held = dataset_elements(dataset)
    assert held == [] and len(train) == 3
    assert sum(c.tie for e in train for c in e.comparisons) == 1
    assert len(drop_ties(train)) == 2  # the engine's 'drop' mode; rao_kupper/davidson model the tie
    assert {c.agreement for e in train for c in e.comparisons} == {0.5, 0.25}


def test_rankings_stay_grouped_as_one_element_per_judgment(make_project, annotators):
    project = make_project("rank", kind="ranking", ranking_k=3)
    task = add_task(project, "r0", ["good helpful answer", "bad rude answer", "a clear kind answer"])
    s0, s1, s2 = sample_ids(task)
    judge(task, annotators[0], ranking=[[s2], [s0], [s1]])
    judge(task, annotators[1], ranking=[[s0, s2], [s1]])
    dataset = dataset_snapshot(project=project, eval_fraction=0.0, **AS_WRITTEN)
    records = dataset_records(dataset.path)
    assert [r["ranks"] for r in records] == [[2, 3, 1], [1, 2, 1]]
    assert records[0]["response_ids"] == [s0, s1, s2]
    # pairs (s0,s1) (s0,s2) (s1,s2): both agree on s0>s1 and s2>s1; s0 vs s2 is split
    assert records[0]["agreements"] == [1.0, 0.5, 1.0]
    train, _ = dataset_elements(dataset)
    assert len(train) == 2 and all(len(e.responses) == 3 and len(e.comparisons) == 3 for e in train)
    assert all(c.weight == pytest.approx(1 / 3) for c in train[0].comparisons)
    assert [c.tie for c in train[1].comparisons] == [False, True, False]
    assert dataset.stats["rankings"] == 2


def test_chat_prompts_become_text(project, annotators):
    task = add_task(project, "c0", ["good helpful answer", "bad rude answer"])
    task.prompt.messages = [{"role": "user", "content": "please answer"}]
    task.prompt.save()
    judge(task, annotators[0], "a")
    [record] = dataset_records(dataset_snapshot(project=project, eval_fraction=0.0).path)
    assert record["prompt"] == "user: please answer\nassistant: "
    assert json.dumps(record)
