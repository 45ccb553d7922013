"""manage.py demo_loop with tiny models: round 0 pushed through ingestion, the simulated crowd's
judgments recorded through the crowd service (external workers, ExternalJudgment rows), one line
of figures per round, held-out prompts kept out of the project; reruns reuse the project."""

from __future__ import annotations

import json
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from crowd.models import ExternalJudgment, ExternalWorker
from labeling.models import Judgment, Project, Prompt, Sample
from rounds.demo import crowd_make, demo_prompts, prefers
from rounds.models import Round

pytestmark = pytest.mark.django_db

LINE = re.compile(r"round (\d) \(id \d+\): judgments (\d+), kept (\d+) \(\d+%\) \| reward model \d+ held-out "
                  r"accuracy [\d.]+ \((?:activated|not better: model \d+ stays active)\) \| mean reward of (\d+) new "
                  r"samples -?[\d.]+ \(\d+ characters on average\) \| KL -?[\d.e-]+ \| win rate of "
                  r"policy-\d+ vs round 0 on held-out prompts \d+% \(([\d.]+)/(\d+), ties \d+\)")


@pytest.fixture
def tiny_overrides(round_config):
    config = json.loads(json.dumps(round_config))
    config["reward"].pop("base_model")
    config["ppo"]["config"].pop("base_model")
    return config


def test_demo_loop_runs_rounds_with_a_simulated_crowd_through_the_crowd_service(tiny_gpt2_path, tiny_lm,
                                                                                tiny_overrides):
    out = StringIO()
    call_command("demo_loop", "--simulate", "4", "--rounds", "2", "--policy-base", tiny_lm, "--reward-base",
                 tiny_gpt2_path, "--config", json.dumps(tiny_overrides), stdout=out)
    text = out.getvalue()
    lines = [m for m in LINE.finditer(text)]
    assert [m.group(1) for m in lines] == ["1", "2"], text
    for m in lines:
        assert int(m.group(2)) > 0 and 0 < int(m.group(3)) <= int(m.group(2))
        assert int(m.group(4)) > 0 and int(m.group(6)) > 0
    assert "demo done: 2 round(s)" in text and "3 honest" in text and "1 spammer" in text

    project = Project.objects.get(slug="loop-demo")
    train, heldout = demo_prompts()
    # Prompts whose tiny-model answers came out empty are skipped, not pushed.
    assert 20 <= Prompt.objects.filter(project=project).count() <= len(train) == 30 and len(heldout) == 10
    assert not Prompt.objects.filter(project=project, text__in=heldout).exists()
    assert Sample.objects.filter(prompt__project=project, adapter="base").count() > 0
    # Every judgment came in through the crowd service, from the simulated workers.
    judgments = Judgment.objects.filter(task__project=project)
    assert judgments.count() == ExternalJudgment.objects.filter(project=project).count() == \
        sum(int(m.group(2)) for m in lines)
    assert set(ExternalWorker.objects.filter(project=project).values_list("worker_id", flat=True)) == \
        {"sim-honest-1", "sim-honest-2", "sim-honest-3", "sim-spam-4"}
    rounds = Round.objects.filter(project=project).order_by("number")
    assert [r.status for r in rounds] == ["succeeded", "succeeded"]
    # Round 2's crowd judged the samples of round 1's policy.
    assert judgments.filter(task__slots__sample__adapter=rounds[0].policy.version).exists()

    # A rerun reuses the project and its round-0 samples.
    before = Prompt.objects.filter(project=project).count()
    out = StringIO()
    call_command("demo_loop", "--simulate", "2", "--rounds", "1", "--policy-base", tiny_lm, "--reward-base",
                 tiny_gpt2_path, "--config", json.dumps(tiny_overrides), stdout=out)
    assert Prompt.objects.filter(project=project).count() >= before
    assert int(re.search(r"(\d+) prompts already in the project reused", out.getvalue()).group(1)) > 0
    assert [m.group(1) for m in LINE.finditer(out.getvalue())] == ["3"]


def test_simulated_preferences_and_refusals(tiny_lm):
    assert prefers("q", "short", "a longer answer") == "a" and prefers("q", "longer one", "short") == "b"
    assert prefers("q", "same", "same") == "tie"
    crowd = crowd_make(8)
    assert sum(a.spammer for a in crowd) == 2 and len({a.worker_id for a in crowd}) == 8
    with pytest.raises(CommandError, match="--config is not JSON"):
        call_command("demo_loop", "--config", "{")
    with pytest.raises(CommandError, match="at least 1"):
        call_command("demo_loop", "--rounds", "0")
    with pytest.raises(CommandError, match="base model folder /nope does not exist"):
        call_command("demo_loop", "--policy-base", "/nope")
    with pytest.raises(CommandError, match="unknown ppo setting"):
        call_command("demo_loop", "--policy-base", tiny_lm, "--reward-base", tiny_lm,
                     "--config", '{"ppo": {"stepz": 1}}')
