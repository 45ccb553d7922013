import random
import re

import pytest

from labeling.models import AnnotatorStats, Judgment, Prompt, Sample, Task
from labeling.quality.gold import honeypots_create
from labeling.quality.services import quality_recompute
from labeling.services.assignment import assignment_next
from labeling.services.ingestion import items_ingest
from labeling.services.judging import judgment_submit
from tests.quality_db.conftest import always_left, good, label_all, pairwise_items


@pytest.fixture
def gold_project(make_project):
    project = make_project("mixed", judgments_per_task=1, quality_config={"gold_rate": 0.2, "recompute_every": 0})
    items, truth = pairwise_items(60, seed=3)
    items_ingest(project=project, items=items)
    return project, truth


def test_honeypots_have_certain_answers(gold_project):
    project, _ = gold_project
    made = honeypots_create(project=project, count=9, seed=5)
    assert len(made) == 9
    kinds = set()
    for task in made:
        answer = task.gold_answer
        kinds.add(answer["honeypot"])
        [[original_id, degraded_id]] = answer["pairs"]
        original, degraded = Sample.objects.get(pk=original_id), Sample.objects.get(pk=degraded_id)
        source = Sample.objects.get(pk=degraded.metadata["honeypot"]["source_sample"])
        assert original.text == source.text and degraded.text != original.text
        assert task.prompt.text == source.prompt.text and task.prompt.metadata["honeypot"]["kind"] == answer["honeypot"]
        slots = list(task.slots.order_by("position").values_list("sample_id", flat=True))
        assert answer["choice"] == ("a" if slots[0] == original_id else "b")
        if answer["honeypot"] == "truncate":
            assert original.text.startswith(degraded.text) and len(degraded.text) < len(original.text)
            assert not re.search(r"[.!?]$", degraded.text)
        elif answer["honeypot"] == "shuffle":
            assert sorted(degraded.text.split()) == sorted(original.text.split())
        else:
            taken = Sample.objects.get(pk=degraded.metadata["honeypot"]["taken_from"])
            assert taken.prompt_id != source.prompt_id and taken.text == degraded.text
    assert kinds == {"truncate", "off_topic", "shuffle"}
    assert {t.gold_answer["choice"] for t in made} == {"a", "b"}  # the right answer is not always "a"
    # Deterministic, and the real prompts get no extra samples (ingestion never pairs with them).
    assert Sample.objects.filter(prompt__metadata__has_key="honeypot").count() == 18
    real_prompts = Prompt.objects.exclude(metadata__has_key="honeypot")
    assert not real_prompts.filter(samples__metadata__has_key="honeypot").exists()


def test_ranking_honeypots(make_project):
    project = make_project("rank", kind="ranking", ranking_k=3)
    items = [{"external_id": f"p{i}", "prompt": "Rank these.", "samples": [
        {"external_id": f"s{k}", "text": f"First sentence {k} of {i}. Second one here. Third at last."}
        for k in range(3)]} for i in range(4)]
    items_ingest(project=project, items=items)
    [task] = honeypots_create(project=project, count=1, kinds=["shuffle"])
    assert task.slots.count() == 3 and "choice" not in task.gold_answer
    [[better, worse]] = task.gold_answer["pairs"]
    assert {better, worse} <= set(task.slots.values_list("sample_id", flat=True))


def test_gold_is_served_at_about_the_configured_rate(gold_project, make_user):
    project, truth = gold_project
    honeypots_create(project=project, count=30)
    random.seed(7)
    user = make_user("ann")
    served = label_all(project, user, good(), truth, seed=1, limit=60)
    gold = Judgment.objects.filter(annotator=user, task__is_gold=True).count()
    assert served == 60 and 0.1 <= gold / served <= 0.32, gold
    assert len(set(Judgment.objects.filter(annotator=user).values_list("task_id", flat=True))) == 60  # none twice


def test_no_gold_when_the_rate_is_zero(gold_project, make_user):
    project, truth = gold_project
    honeypots_create(project=project, count=5)
    project.quality_config = {"gold_rate": 0}
    project.save()
    user = make_user("ann")
    label_all(project, user, good(), truth, seed=1, limit=30)
    assert not Judgment.objects.filter(task__is_gold=True).exists()


def structure(html: str) -> list[str]:
    """The page's tags and attribute names, without text or attribute values."""
    return [re.sub(r'="[^"]*"', "", tag) for tag in re.findall(r"<[^>]+>", html)]


def test_gold_task_page_is_indistinguishable(gold_project, client, make_user):
    project, _ = gold_project
    honeypots_create(project=project, count=40)
    project.quality_config = {"gold_rate": 0.5}
    project.save()
    client.force_login(make_user("ann"))
    pages = {True: [], False: []}
    for _ in range(20):
        payload = client.post(f"/label/{project.slug}/next/", content_type="application/json").json()
        task = Task.objects.get(assignments__pk=payload["assignment"])
        pages[task.is_gold].append(payload)
        client.post(f"/label/{project.slug}/submit/", {"assignment": payload["assignment"], "winner": "tie"},
                    content_type="application/json")
    assert pages[True] and pages[False]
    for payload in pages[True]:
        text = str(payload).lower()
        assert "gold" not in text and "honeypot" not in text
        assert set(payload) == set(pages[False][0])
        assert structure(payload["html"]) == structure(pages[False][0]["html"])
    label_page = client.get(f"/label/{project.slug}/").content.decode().lower()
    assert "gold" not in label_page and "honeypot" not in label_page


def test_gold_accuracy_flags_annotators_who_fail_honeypots(gold_project, make_user):
    project, truth = gold_project
    project.quality_config = {"gold_rate": 0.5, "recompute_every": 0}
    project.judgments_per_task = 3
    project.save()
    project.tasks.update(judgments_wanted=3)
    honeypots_create(project=project, count=40)
    careful, lefty = make_user("careful"), make_user("lefty")
    random.seed(1)
    label_all(project, careful, good(1.0), truth, seed=1, limit=40)
    label_all(project, lefty, always_left, truth, seed=2, limit=40)
    quality_recompute(project_id=project.pk)
    stats = {s.annotator.username: s for s in AnnotatorStats.objects.select_related("annotator")}
    assert stats["careful"].gold_n >= 8 and stats["careful"].gold_accuracy == 1.0
    assert stats["careful"].gold_low > 0.6 and not any(r["filter"] == "gold" for r in stats["careful"].reasons)
    assert stats["lefty"].gold_n >= 8 and stats["lefty"].gold_high < 0.95
    wrong = Judgment.objects.filter(annotator=lefty, task__is_gold=True, signals__gold_correct=False)
    assert wrong.exists() and all(j.quality_reasons[0]["filter"] == "gold" for j in wrong)


def test_submitting_a_gold_task_works_like_any_other(gold_project, make_user):
    project, _ = gold_project
    [task] = honeypots_create(project=project, count=1)
    project.quality_config = {"gold_rate": 1.0}
    project.save()
    user = make_user("ann")
    assignment = assignment_next(project=project, annotator=user)
    assert assignment.task_id == task.pk
    judgment_submit(assignment=assignment, annotator=user, data={"winner": assignment.shown_order[0]})
    assert assignment_next(project=project, annotator=user).task_id != task.pk
