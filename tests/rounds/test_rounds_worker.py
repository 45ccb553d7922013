"""Two RLHF rounds end to end on a real Celery worker and Redis, with tiny models: simulated
annotators judge through the crowd API over HTTP, each round's training runs execute on the
worker and wake their round when they end (no blocking chain), the lineage is complete, the
second round's samples carry the second policy's adapter version, and a round whose worker is
killed mid-step resumes that step on a new worker."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from labeling.models import Sample, Task
from labeling.services.tokens import token_create
from policy.models import PolicyModel
from rounds.models import Round
from rounds.services import STEPS, round_lineage, round_start
from tests.celery_worker import start_worker, stop_worker, wait_for
from training.models import TrainingRun

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]
FAST_RECOVERY = {"PREFLAB_RUN_STALE_SECONDS": "2", "CELERY_VISIBILITY_TIMEOUT": "5"}
WORKERS = ["sim-1", "sim-2", "sim-3"]


def _wait(condition, what: str, *workers, timeout: float = 300):
    return wait_for(condition, what, *workers, timeout=timeout, every=0.1)


def _ended(round_id: int) -> Round | None:
    rnd = Round.objects.get(pk=round_id)
    return rnd if rnd.status in (Round.Status.SUCCEEDED, Round.Status.FAILED) else None


def _crowd_judges(client: APIClient, slug: str) -> int:
    """Each simulated worker pages through its open tasks and posts one bulk of judgments: it
    prefers the shorter answer (the first one on a tie). Returns the judgments created."""
    created = 0
    for worker in WORKERS:
        rows, url = [], f"/api/v1/projects/{slug}/tasks/?status=open&annotator={worker}"
        while url:
            page = client.get(url)
            assert page.status_code == 200, page.content
            body = page.json()
            for task in body["results"]:
                a, b = (s["text"] for s in task["samples"])
                rows.append({"external_id": f"{worker}-{task['id']}", "task": task["id"], "annotator": worker,
                             "choice": "a" if len(a) <= len(b) else "b", "seconds": 12.5})
            url = body["next"]
        if rows:
            reply = client.post(f"/api/v1/projects/{slug}/judgments/", data=json.dumps(rows),
                                content_type="application/json")
            assert reply.status_code == 201, reply.content
            created += len(reply.json()["created"])
    return created


def _crowd_client(project) -> APIClient:
    _, key = token_create(project=project, name="simulated crowd")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_two_rounds_on_a_worker_with_a_crowd_judging_through_the_api(celery_broker, labeled_project, round_config,
                                                                      tmp_path):
    project = labeled_project
    # Long enough to be killed mid-run; a gentle learning rate, so 48 steps over two rounds do not
    # collapse the tiny policy onto EOS (round 2 would then write no samples).
    round_config = {**round_config, "ppo": {"config": {**round_config["ppo"]["config"], "steps": 24,
                                                       "save_steps": 2, "learning_rate": 1e-3}}}
    client = _crowd_client(project)
    first = start_worker(tmp_path)
    second = None
    try:
        rnd1 = round_start(project=project, config=round_config)
        assert rnd1.status == "waiting" and rnd1.current_step == "reward"  # queued, not blocking this process
        rnd1 = _wait(lambda: _ended(rnd1.pk), "round 1", first)
        assert rnd1.status == "succeeded", rnd1.error

        assert _crowd_judges(client, project.slug) > 0  # round 1's new samples, judged through the API
        rnd2 = round_start(project=project, config=round_config)
        # Kill the worker in the middle of round 2's PPO step; a new worker resumes that step's run.
        ppo = _wait(lambda: rnd2.steps.filter(name="ppo", run__status="running", run__step__gte=2).first(),
                    "round 2's PPO run to be under way", first)
        first.kill()
        first.wait()
        assert TrainingRun.objects.get(pk=ppo.run_id).status == "running"
        second = start_worker(tmp_path, extra_env=FAST_RECOVERY)
        rnd2 = _wait(lambda: _ended(rnd2.pk), "round 2", first, second)
    finally:
        stop_worker(first)
        if second is not None:
            stop_worker(second)

    assert rnd2.status == "succeeded", rnd2.error
    for rnd in (rnd1, rnd2):
        steps = {s.name: s for s in rnd.steps.all()}
        assert all(steps[n].status == "succeeded" and steps[n].attempts == 1 for n in STEPS)
        assert all(steps[n].run.worker.startswith("test-") for n in ("reward", "ppo", "generate"))
        lineage = round_lineage(round=rnd)
        assert all(lineage[k] for k in ("judgments", "dataset", "reward_model", "policy", "generation_batch",
                                        "samples", "tasks")), lineage
        # PPO trained against the active reward model: this round's when it won its evaluation, else the last one.
        assert lineage["policy_reward_model"] == steps["ppo"].inputs["reward_model"]
        if steps["reward"].outputs["activated"]:
            assert lineage["policy_reward_model"] == lineage["reward_model"]
    ppo_run = TrainingRun.objects.get(pk=ppo.run_id)
    assert ppo_run.attempts == 2 and "resuming (attempt 2)" in ppo_run.logs  # resumed, not restarted

    # Round 2 trained on what round 1 did (and the crowd's clean judgments since), from round 1's policy, and
    # its samples carry its adapter.
    assert set(rnd1.dataset.judgment_ids) <= set(rnd2.dataset.judgment_ids)
    policy1, policy2 = rnd1.policy, rnd2.policy
    assert policy2.parent_id == policy1.pk and policy2.version != policy1.version
    assert PolicyModel.objects.get(project=project, is_active=True) == policy2
    batch2 = Sample.objects.filter(metadata__generation_batch=rnd2.generation_run_id)
    assert batch2.exists() and set(batch2.values_list("adapter", flat=True)) == {policy2.version}
    assert Task.objects.filter(slots__sample__in=batch2).distinct().count() == rnd2.steps.get(
        name="enqueue").outputs["tasks"]
