import json
import math
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from labeling.models import Task
from rewards.services.priority import (
    disagreement_priority,
    tasks_prioritise,
    tasks_prioritise_by_uncertainty,
    uncertainty_priority,
)
from rewards.services.scoring import pair_uncertainty
from rewards.services.snapshot import prompt_text

from .conftest import BAD, GOOD, add_task, judge

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


@pytest.fixture
def ensemble_model(project, tiny_gpt2_path, tmp_path):
    """A 3-member ensemble on the tiny GPT-2, each member trained a few steps from its own seed."""
    from rewards.engine import RewardConfig, pair_element, train_reward_model
    from rewards.models import RewardModel
    from rewards.services.scoring import cache_clear

    out = tmp_path / "ensemble"
    elements = [pair_element(GOOD[i % 3], BAD[(i + 1) % 3], f"question about topic {i}") for i in range(12)]
    train_reward_model(RewardConfig(base_model=tiny_gpt2_path, output_dir=str(out), ensemble_size=3, max_steps=3,
                                    batch_size=4, learning_rate=5e-2, precision="fp32", max_length=32, seed=1),
                       elements, progress=False)
    cache_clear()
    yield RewardModel.objects.create(name="ens", project=project, base_model=tiny_gpt2_path, adapter_path=str(out),
                                     is_active=True)
    cache_clear()


def test_open_pairs_get_priority_from_the_ensembles_disagreement(project, ensemble_model):
    from rewards.engine import load_reward_model, score_texts

    texts = [["good helpful answer", "bad rude answer"], ["this is good", "a wrong awful answer"],
             ["good helpful answer", "good helpful answer"]]
    tasks = [add_task(project, f"p{i}", pair, judgments_wanted=2) for i, pair in enumerate(texts)]
    assert tasks_prioritise(project, ensemble_model, by="disagreement") == 3
    root = Path(ensemble_model.adapter_path)
    members = [load_reward_model(root / name) for name in json.loads(
        (root / "reward_config.json").read_text())["ensemble"]]
    spreads = []
    for task, (a, b) in zip(tasks, texts, strict=True):
        prompt = prompt_text(task.prompt)
        probs = []
        for member in members:  # each member on its own: P(A>B) from its two rewards
            r_a, r_b = score_texts(member, [prompt, prompt], [a, b])
            probs.append(1 / (1 + math.exp(-(r_a - r_b))))
        mean = sum(probs) / len(probs)
        spreads.append(math.sqrt(sum((p - mean) ** 2 for p in probs) / len(probs)))
        task.refresh_from_db()
        assert task.priority == disagreement_priority(spreads[-1])
    assert max(spreads) > 1e-4  # the members do disagree somewhere, so the priorities are not all 0
    assert tasks[2].priority == 0  # identical answers: every member says 0.5, no dispute


def test_disagreement_needs_an_ensemble_and_criteria_are_checked(project, reward_model):
    add_task(project, "p0", ["good helpful answer", "bad rude answer"])
    with pytest.raises(ValueError, match="disagreement needs an ensemble"):
        tasks_prioritise(project, reward_model, by="disagreement")
    with pytest.raises(ValueError, match="prioritise by one of"):
        tasks_prioritise(project, reward_model, by="loudness")
    assert disagreement_priority(0.5) == 1000 and disagreement_priority(0.0) == 0
