import pytest
from django.core.management import CommandError, call_command

from labeling.models import Task
from rewards.services.priority import tasks_prioritise_by_uncertainty, uncertainty_priority
from rewards.services.scoring import pair_uncertainty
from rewards.services.snapshot import prompt_text

from .conftest import add_task, judge

pytestmark = pytest.mark.django_db


def test_priority_scale():
    assert uncertainty_priority(0.0) == 1000 and uncertainty_priority(0.5) == 0 and uncertainty_priority(0.25) == 500


def test_open_pairs_get_priority_from_uncertainty(project, annotators, reward_model):
    texts = [["good helpful answer", "bad rude answer"], ["this is good", "this is bad"],
             ["a clear kind answer", "a wrong awful answer"], ["good helpful answer", "good helpful answer"]]
    open_tasks = [add_task(project, f"p{i}", pair, judgments_wanted=2) for i, pair in enumerate(texts)]
    done = add_task(project, "done", texts[0], judgments_wanted=1, priority=7)
    judge(done, annotators[0], "a")
    gold = add_task(project, "gold", texts[0], is_gold=True, priority=9)
    assert tasks_prioritise_by_uncertainty(project, reward_model) == 4
    for task in open_tasks:
        task.refresh_from_db()
        a, b = [s.sample.text for s in task.slots.order_by("position").select_related("sample")]
        [score] = pair_uncertainty(model=reward_model, prompts=[prompt_text(task.prompt)], responses_a=[a],
                                   responses_b=[b])
        assert task.priority == uncertainty_priority(score["certainty"])
    assert open_tasks[3].priority == 1000  # identical answers: a coin flip, served first
    assert Task.objects.get(pk=done.pk).priority == 7 and Task.objects.get(pk=gold.pk).priority == 9


def test_command(project, reward_model, capsys):
    add_task(project, "p0", ["good helpful answer", "bad rude answer"])
    call_command("prioritise_tasks", "--project", project.slug)
    assert "set the priority of 1 open task(s)" in capsys.readouterr().out
    with pytest.raises(CommandError, match="no project"):
        call_command("prioritise_tasks", "--project", "nope")
    reward_model.is_active = False
    reward_model.save()
    with pytest.raises(CommandError, match="no active reward model"):
        call_command("prioritise_tasks", "--project", project.slug)
