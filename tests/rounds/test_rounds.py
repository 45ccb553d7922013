"""An RLHF round end to end with tiny models: every step recorded with its inputs and outputs,
the lineage complete (judgments -> dataset -> reward model -> policy -> generation batch ->
tasks), the new samples queued as tasks carrying the new adapter version; a failed step stops the
round there and a retry resumes from it without redoing the steps before; runs on a worker
wake their waiting round when they end; the command's refusals."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from labeling.models import Judgment, Sample, Task
from policy import runner as policy_runner
from policy.models import PolicyModel
from rewards.models import PreferenceDataset, RewardModel
from rounds.models import Round
from rounds.services import STEPS, RoundError, round_create, round_lineage, round_retry, round_start
from training.models import TrainingRun
from training.services import run_execute

pytestmark = pytest.mark.django_db


def _boom(run, context, **_):
    raise RuntimeError("PPO exploded on purpose")


def _steps(rnd: Round) -> dict:
    return {s.name: s for s in rnd.steps.select_related("run")}


def test_a_failed_step_stops_the_round_and_retry_resumes_there_to_a_complete_lineage(
        labeled_project, round_config, monkeypatch):
    project = labeled_project
    with monkeypatch.context() as patch:
        patch.setitem(policy_runner.RUNNERS, "ppo", _boom)
        rnd = round_start(project=project, config=round_config, execute_here=True)

    assert rnd.status == "failed" and rnd.current_step == "ppo" and rnd.number == 1
    assert rnd.error.startswith("step 4 (ppo) failed: ppo run ") and "PPO exploded on purpose" in rnd.error
    steps = _steps(rnd)
    assert [steps[n].status for n in STEPS] == ["succeeded", "succeeded", "succeeded", "failed", "pending", "pending"]
    assert steps["ppo"].run.status == "failed" and "PPO exploded on purpose" in steps["ppo"].error
    assert rnd.dataset is not None and rnd.reward_model is not None and rnd.policy is None
    before = {n: (steps[n].attempts, steps[n].outputs, steps[n].run_id) for n in ("quality", "snapshot", "reward")}
    failed_ppo_run = steps["ppo"].run_id
    with pytest.raises(RoundError, match="already has round"):  # a waiting or running round blocks a new one
        Round.objects.filter(pk=rnd.pk).update(status="waiting")
        round_create(project=project)
    Round.objects.filter(pk=rnd.pk).update(status="failed")

    rnd = round_retry(round=rnd)

    assert rnd.status == "succeeded" and rnd.error == "" and rnd.current_step == ""
    steps = _steps(rnd)
    assert all(steps[n].status == "succeeded" for n in STEPS)
    # Steps before the failed one were not redone: same attempts, outputs and runs; one dataset, one reward run.
    assert {n: (steps[n].attempts, steps[n].outputs, steps[n].run_id) for n in before} == before
    assert PreferenceDataset.objects.count() == 1 and TrainingRun.objects.filter(kind="reward").count() == 1
    assert steps["ppo"].attempts == 2 and steps["ppo"].run_id != failed_ppo_run
    assert TrainingRun.objects.filter(kind="ppo").count() == 2
    # Every step recorded its inputs and outputs.
    assert steps["quality"].outputs["judgments"] == Judgment.objects.filter(task__project=project).count() == 16
    assert steps["snapshot"].outputs["dataset"] == rnd.dataset_id and steps["snapshot"].inputs["eval_fraction"] == 0.25
    assert steps["reward"].inputs["dataset"] == rnd.dataset_id and steps["reward"].inputs["min_heldout"] == 0
    assert steps["reward"].outputs["reward_model"] == rnd.reward_model_id and steps["reward"].outputs["activated"]
    assert steps["ppo"].inputs["reward_model"] == rnd.reward_model_id and steps["ppo"].inputs["start_policy"] is None
    assert steps["generate"].inputs["policy"] == rnd.policy_id and steps["generate"].outputs["batch"] == \
        rnd.generation_run_id
    # Lineage: judgments -> dataset -> reward model -> policy -> generation batch -> samples -> tasks.
    reward_model = RewardModel.objects.get(pk=rnd.reward_model_id)
    policy = PolicyModel.objects.get(pk=rnd.policy_id)
    assert reward_model.dataset_id == rnd.dataset_id and reward_model.is_active
    assert policy.reward_model_id == reward_model.pk and policy.run_id == steps["ppo"].run_id and policy.is_active
    assert rnd.generation_run.inputs["policies"] == [policy.pk] and rnd.generation_run.status == "succeeded"
    assert set(rnd.dataset.judgment_ids) <= set(Judgment.objects.filter(task__project=project).values_list("pk",
                                                                                                          flat=True))
    lineage = round_lineage(round=rnd)
    assert lineage["judgments"] == len(rnd.dataset.judgment_ids) > 0
    assert (lineage["dataset"], lineage["reward_model"], lineage["policy"], lineage["generation_batch"]) == (
        rnd.dataset_id, reward_model.pk, policy.pk, rnd.generation_run_id)
    # The new samples are tasks in the queue, carrying the new adapter version.
    new = Sample.objects.filter(metadata__generation_batch=rnd.generation_run_id)
    assert new.count() == steps["enqueue"].outputs["samples"] > 0
    assert set(new.values_list("adapter", flat=True)) == {policy.version} == set(steps["enqueue"].outputs["adapters"])
    assert all(Task.objects.filter(slots__sample=s).exists() for s in new)
    assert steps["enqueue"].outputs["tasks"] == lineage["tasks"] > 0


def test_queued_runs_wake_their_round_when_they_end(labeled_project, round_config, monkeypatch,
                                                    django_capture_on_commit_callbacks):
    """No blocking chain: the round waits at each training step, and the worker's end of the run
    (training's finish hook) advances it to the next step, which queues the next run."""
    sent: list[int] = []
    monkeypatch.setattr("training.tasks.execute_run.delay", sent.append)
    project = labeled_project
    with django_capture_on_commit_callbacks(execute=True):
        rnd = round_start(project=project, config={**round_config, "enqueue": {"prioritise": True}})
    assert rnd.status == "waiting" and rnd.current_step == "reward" and len(sent) == 1
    assert _steps(rnd)["reward"].status == "waiting" and _steps(rnd)["reward"].run_id == sent[0]
    kinds = []
    while sent:
        run_id = sent.pop(0)
        kinds.append(TrainingRun.objects.get(pk=run_id).kind)
        with django_capture_on_commit_callbacks(execute=True):
            run_execute(run_id=run_id, worker="test-worker")  # what the Celery task does
    rnd.refresh_from_db()
    assert kinds == ["reward", "ppo", "generate"]
    assert rnd.status == "succeeded" and rnd.policy is not None and rnd.generation_run is not None
    enqueue = _steps(rnd)["enqueue"]
    assert enqueue.outputs["prioritised"] > 0 and enqueue.outputs["prioritised_by"] == rnd.reward_model_id
    assert set(Sample.objects.filter(metadata__generation_batch=rnd.generation_run_id)
               .values_list("adapter", flat=True)) == {rnd.policy.version}


def test_settings_and_command_refusals_are_clear(project):
    with pytest.raises(RoundError, match="unknown round setting 'rewrd'"):
        round_create(project=project, config={"rewrd": {}})
    with pytest.raises(RoundError, match=r"unknown ppo setting\(s\) \['stepz'\]"):
        round_create(project=project, config={"ppo": {"stepz": 1}})
    with pytest.raises(CommandError, match="no project 'nope'"):
        call_command("run_round", "--project", "nope")
    with pytest.raises(CommandError, match="--config is not JSON"):
        call_command("run_round", "--project", project.slug, "--config", "{")
    with pytest.raises(CommandError, match="has no round 999"):
        call_command("run_round", "--project", project.slug, "--retry", "999")
    # Nothing labeled: the round stops at the snapshot, saying why and how to retry.
    with pytest.raises(CommandError, match=r"step 2 \(snapshot\) failed: project 'proj' has no usable judgments.*"
                                           r"--retry \d+"):
        call_command("run_round", "--project", project.slug)
    rnd = Round.objects.get()
    assert rnd.status == "failed" and rnd.current_step == "snapshot" and _steps(rnd)["quality"].status == "succeeded"
    rnd = round_create(project=project)  # a failed round does not block a new one
    assert rnd.number == 2
    with pytest.raises(CommandError, match=f"round {rnd.pk} is running, not failed"):
        call_command("run_round", "--project", project.slug, "--retry", str(rnd.pk))
