"""One RLHF round: 1 recompute quality, 2 freeze the dataset, 3 train the reward model (the
reward run evaluates it against the active one and activates it if better), 4 PPO from the
active policy against the active reward model, 5 generate new samples, 6 enqueue them as tasks.

Each step is a RoundStep row with its inputs, outputs, status and error, executed at most once
per attempt: a step that already holds its result (a dataset, a run) reuses it. Training steps
create a run and wait for it without blocking: the round is `waiting`, and training's
finish hook (registered in RoundsConfig.ready) advances it when the run ends. With
``execute_here`` the runs execute in this process instead (the CLI's --here, tests). A failed step
stops the round (`failed`, `current_step`, `error`); round_retry resumes from that step."""

from __future__ import annotations

import logging
import socket
import traceback
from copy import deepcopy
from typing import Any

from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from config.errors import AppError
from labeling.models import Project, Sample, Task
from policy.models import PolicyModel
from rewards.models import RewardModel
from rewards.selectors import reward_model_active
from rounds.models import Round, RoundStep
from training.models import TrainingRun

logger = logging.getLogger(__name__)

STEPS = [name for name, _ in RoundStep.Name.choices]
DEFAULTS: dict[str, dict[str, Any]] = {
    "reward": {"base_model": "", "config": {}, "from_active": False, "min_heldout": None, "eval_fraction": 0.1,
               "seed": 0},
    "ppo": {"config": {}},
    "generate": {"k": 2, "prompts": "fewest", "limit": None, "config": {}},
    "enqueue": {"prioritise": False},
}


class RoundError(AppError):
    """A round that cannot be started, retried or advanced as asked; the message says why
    (400: bad settings; 409: the project or round is busy, or not in a state for it)."""


class StepFailed(Exception):
    """A step's expected failure: its message is the step's error (no traceback)."""


def round_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """DEFAULTS with ``config`` laid over them, section by section; unknown names refused."""
    merged = deepcopy(DEFAULTS)
    for section, values in (config or {}).items():
        if section not in merged:
            raise RoundError(f"unknown round setting {section!r}; known: {', '.join(DEFAULTS)}")
        if not isinstance(values, dict):
            raise RoundError(f"round setting {section!r} must be an object of settings")
        unknown = set(values) - set(merged[section])
        if unknown:
            raise RoundError(f"unknown {section} setting(s) {sorted(unknown)}; known: {sorted(merged[section])}")
        merged[section].update(values)
    _prioritise_by(merged["enqueue"]["prioritise"])
    return merged


def _prioritise_by(value: Any) -> str:
    """enqueue.prioritise: false (off), true or "uncertainty", or "disagreement" (an ensemble's);
    the criterion's name, or "" when off."""
    from rewards.services.priority import CRITERIA

    if value is False or value is None:
        return ""
    if value is True:
        return "uncertainty"
    if value in CRITERIA:
        return value
    raise RoundError(f"enqueue setting prioritise must be false, true, or one of {', '.join(CRITERIA)}; "
                     f"not {value!r}")


def round_create(
    *, project: Project, config: dict[str, Any] | None = None, execute_here: bool = False,
    trigger: str = Round.Trigger.MANUAL, created_by: Any = None,
) -> Round:
    """A new round (number = last + 1) with its six steps pending. Refused while another round of
    the project is running or waiting (a failed one does not block: retry it or leave it)."""
    merged = round_config(config)
    with transaction.atomic():
        Project.objects.select_for_update().get(pk=project.pk)  # one new round at a time per project
        busy = Round.objects.filter(project=project, status__in=[Round.Status.RUNNING, Round.Status.WAITING]).first()
        if busy is not None:
            raise RoundError(f"project {project.slug!r} already has round {busy.pk} (number {busy.number}) "
                             f"{busy.status} at step {busy.current_step!r}; wait for it to finish", status=409)
        number = (Round.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0) + 1
        rnd = Round.objects.create(project=project, number=number, config=merged, execute_here=execute_here,
                                   trigger=trigger, created_by=created_by, current_step=STEPS[0])
        RoundStep.objects.bulk_create(RoundStep(round=rnd, name=name, position=i) for i, name in enumerate(STEPS))
    return rnd


def round_start(
    *, project: Project, config: dict[str, Any] | None = None, execute_here: bool = False,
    trigger: str = Round.Trigger.MANUAL, created_by: Any = None,
) -> Round:
    """Create a round and advance it as far as it goes here (to the end with execute_here, else
    until a step waits for its run)."""
    rnd = round_create(project=project, config=config, execute_here=execute_here, trigger=trigger,
                       created_by=created_by)
    return round_advance(round_id=rnd.pk)


def round_request(
    *, project: Project, config: dict[str, Any] | None = None, trigger: str = Round.Trigger.MANUAL,
    created_by: Any = None,
) -> Round:
    """Start a round on the workers: create it (``config`` None: the last round's settings, or the
    defaults) and queue its advance once this transaction commits; the caller returns at once."""
    from config.jobs import enqueue_on_commit

    if config is None:
        last = Round.objects.filter(project=project).order_by("-number").first()
        config = last.config if last is not None else None
    rnd = round_create(project=project, config=config, trigger=trigger, created_by=created_by)
    enqueue_on_commit("rounds.advance", rnd.pk)
    return rnd


def round_retry(
    *, round: Round, execute_here: bool | None = None, advance: bool = True,  # noqa: A002 - the domain's word
) -> Round:
    """Resume a failed round from the step that failed; the steps before it are not redone.
    ``advance=False``: only mark it to resume (a task advances it, e.g. from the admin)."""
    with transaction.atomic():
        rnd = Round.objects.select_for_update().get(pk=round.pk)
        if rnd.status == Round.Status.RUNNING and _interrupted_step(rnd) is not None:
            step = _interrupted_step(rnd)  # its process died mid-step: resume that step
            RoundStep.objects.filter(pk=step.pk).update(status=RoundStep.Status.FAILED,
                                                        error="interrupted (its process stopped mid-step)")
        elif rnd.status != Round.Status.FAILED:
            raise RoundError(f"round {rnd.pk} is {rnd.status}, not failed; only a failed round (or one whose "
                             "step was interrupted) can be retried", status=409)
        step = rnd.steps.filter(status=RoundStep.Status.FAILED).order_by("position").first()
        if step is not None:
            RoundStep.objects.filter(pk=step.pk).update(status=RoundStep.Status.PENDING)
        updates = {"status": Round.Status.RUNNING, "error": "", "finished_at": None}
        if execute_here is not None:
            updates["execute_here"] = execute_here
        Round.objects.filter(pk=rnd.pk).update(**updates)
    return round_advance(round_id=rnd.pk) if advance else Round.objects.get(pk=rnd.pk)


def _interrupted_step(rnd: Round) -> RoundStep | None:
    """A step left `running` longer than RUN_STALE_SECONDS by a process that stopped (a step
    outside a training run takes seconds; one executing a run here heartbeats through the run)."""
    from django.conf import settings

    cutoff = timezone.now() - timezone.timedelta(seconds=settings.RUN_STALE_SECONDS)
    step = rnd.steps.filter(status=RoundStep.Status.RUNNING, started_at__lt=cutoff).select_related("run").first()
    if step is None or (step.run is not None and step.run.status not in TrainingRun.FINISHED
                        and step.run.heartbeat_at and step.run.heartbeat_at >= cutoff):
        return None
    return step


def round_on_run_finished(*, run: TrainingRun) -> Round | None:
    """Training's finish hook: a run a round step waits for has ended, so the round moves on.
    Runs executed here (execute_here) are not waited for and are picked up by the caller."""
    step = RoundStep.objects.filter(run=run, status=RoundStep.Status.WAITING).first()
    if step is None:
        return None
    return round_advance(round_id=step.round_id)


def rounds_sweep() -> list[int]:
    """Advance waiting rounds whose run has ended (a hook lost to a crash between the run's end
    and the round's advance). Returns the rounds advanced."""
    advanced = []
    waiting = RoundStep.objects.filter(status=RoundStep.Status.WAITING, run__status__in=TrainingRun.FINISHED)
    for step in waiting.select_related("round"):
        round_advance(round_id=step.round_id)
        advanced.append(step.round_id)
    return advanced


def clean_labels_since_last_round(*, project: Project) -> tuple[Round | None, int]:
    """The project's last round, and the live clean judgments (included by the quality filters)
    made since it started (all of them when there is none)."""
    from labeling.models import Judgment

    last = Round.objects.filter(project=project).order_by("-number").first()
    judgments = Judgment.objects.filter(task__project=project, withdrawn_at__isnull=True, included=True)
    if last is not None:
        judgments = judgments.filter(created_at__gte=last.created_at)
    return last, judgments.count()


def rounds_start_due(*, every: int | None = None, hours: float | None = None) -> list[Round]:
    """The beat triggers (task rounds.check_triggers). A project whose last round succeeded gets
    its next round, with the same settings, on the workers, when
    - threshold: ``every`` (PREFLAB_ROUND_EVERY_CLEAN_LABELS; 0 is off) new clean labels came in
      since that round started, or
    - schedule: that round finished ``hours`` (PREFLAB_ROUND_EVERY_HOURS; 0 is off) ago or more
      and at least one new clean label came in (a round on unchanged data would redo the last).
    A project that never ran a round is left alone: its first round is started by hand."""
    from django.conf import settings

    every = settings.ROUND_EVERY_CLEAN_LABELS if every is None else every
    hours = settings.ROUND_EVERY_HOURS if hours is None else hours
    if every <= 0 and hours <= 0:
        return []
    started = []
    for project in Project.objects.filter(rounds__isnull=False).distinct():
        last, new = clean_labels_since_last_round(project=project)
        if last is None or last.status != Round.Status.SUCCEEDED or new == 0:
            continue
        if every > 0 and new >= every:
            trigger = Round.Trigger.THRESHOLD
        elif hours > 0 and last.finished_at and timezone.now() - last.finished_at >= timezone.timedelta(hours=hours):
            trigger = Round.Trigger.SCHEDULE
        else:
            continue
        try:
            rnd = round_create(project=project, config=last.config, trigger=trigger)
        except RoundError:
            continue  # another round started meanwhile
        started.append(round_advance(round_id=rnd.pk))
    return started


def round_advance(*, round_id: int) -> Round:
    """Execute pending steps in order until the round succeeds, fails, or a step waits for a run
    queued for a worker. Safe to call twice at once: a step is taken with a conditional update."""
    while True:
        rnd = Round.objects.select_related("project").get(pk=round_id)
        if rnd.status in (Round.Status.SUCCEEDED, Round.Status.FAILED):
            return rnd
        step = rnd.steps.exclude(status=RoundStep.Status.SUCCEEDED).order_by("position").first()
        if step is None:
            Round.objects.filter(pk=rnd.pk).update(status=Round.Status.SUCCEEDED, current_step="",
                                                   finished_at=timezone.now())
            return Round.objects.get(pk=rnd.pk)
        if step.status == RoundStep.Status.FAILED:  # stopped; round_retry sets it pending
            return _round_fail(rnd, step, step.error)
        if step.status == RoundStep.Status.RUNNING:
            return rnd  # another process is executing it
        if step.status == RoundStep.Status.WAITING:
            if step.run is None or step.run.status not in TrainingRun.FINISHED:
                return rnd
            # The run ended: take the step (once) to record the outcome.
            if not RoundStep.objects.filter(pk=step.pk, status=RoundStep.Status.WAITING).update(
                    status=RoundStep.Status.RUNNING):
                return rnd
        elif not RoundStep.objects.filter(pk=step.pk, status=RoundStep.Status.PENDING).update(
                status=RoundStep.Status.RUNNING, attempts=step.attempts + 1, started_at=timezone.now(), error=""):
            return rnd
        Round.objects.filter(pk=rnd.pk).update(status=Round.Status.RUNNING, current_step=step.name)
        step.refresh_from_db()
        rnd.refresh_from_db()
        try:
            outcome = STEP_FUNCTIONS[step.name](rnd, step)
        except StepFailed as exc:
            return _step_fail(rnd, step, str(exc))
        except Exception as exc:  # noqa: BLE001 - any failure stops the round, recorded on the step
            logger.exception("round %s step %s failed", rnd.pk, step.name)
            return _step_fail(rnd, step, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        if outcome is WAIT:
            RoundStep.objects.filter(pk=step.pk).update(status=RoundStep.Status.WAITING)
            Round.objects.filter(pk=rnd.pk).update(status=Round.Status.WAITING)
            # A fast worker may have finished the run before the step said it waits.
            step.refresh_from_db()
            if step.run.status not in TrainingRun.FINISHED:
                return Round.objects.get(pk=rnd.pk)
            continue
        RoundStep.objects.filter(pk=step.pk).update(status=RoundStep.Status.SUCCEEDED, outputs=outcome,
                                                    finished_at=timezone.now())


WAIT = object()  # a step function's answer: the step waits for its run


def _step_fail(rnd: Round, step: RoundStep, error: str) -> Round:
    RoundStep.objects.filter(pk=step.pk).update(status=RoundStep.Status.FAILED, error=error[-20_000:],
                                                finished_at=timezone.now())
    return _round_fail(rnd, step, error)


def _round_fail(rnd: Round, step: RoundStep, error: str) -> Round:
    first_line = (error.strip().splitlines() or ["failed"])[0]
    Round.objects.filter(pk=rnd.pk).update(
        status=Round.Status.FAILED, current_step=step.name, finished_at=timezone.now(),
        error=f"step {step.position + 1} ({step.name}) failed: {first_line}")
    return Round.objects.get(pk=rnd.pk)


def _set_inputs(step: RoundStep, inputs: dict[str, Any]) -> None:
    step.inputs = inputs
    RoundStep.objects.filter(pk=step.pk).update(inputs=inputs)


def _run_step(rnd: Round, step: RoundStep, create) -> Any:
    """A training step: reuse the step's run when it succeeded or is still going, else create one
    (``create(enqueue)`` returns the run) and execute it here or wait for it. Returns the
    succeeded run, or WAIT."""
    run = step.run
    if run is None or run.status in (TrainingRun.Status.FAILED, TrainingRun.Status.CANCELLED):
        with transaction.atomic():  # the run's message goes out after the step names the run
            run = create(not rnd.execute_here)
            RoundStep.objects.filter(pk=step.pk).update(run=run)
            step.run = run
    if run.status not in TrainingRun.FINISHED:
        if not rnd.execute_here:
            return WAIT
        from training.services import run_execute

        run_execute(run_id=run.pk, worker=f"round{rnd.pk}@{socket.gethostname()}")
        run.refresh_from_db()
        if run.status not in TrainingRun.FINISHED:
            raise StepFailed(f"{run.kind} run {run.pk} is {run.status} (claimed elsewhere?); retry the round "
                             "once it has ended")
    if run.status != TrainingRun.Status.SUCCEEDED:
        detail = (run.error.strip().splitlines() or [""])[0]
        raise StepFailed(f"{run.kind} run {run.pk} {run.status}" + (f": {detail}" if detail else ""))
    return run


# -- the steps ---------------------------------------------------------------------------------

def _step_quality(rnd: Round, step: RoundStep) -> dict[str, Any]:
    from labeling.quality.services import quality_recompute

    _set_inputs(step, {"project": rnd.project.slug})
    result = quality_recompute(project_id=rnd.project_id)
    return {"skipped": result.skipped, "fingerprint": result.fingerprint, "judgments": result.judgments,
            "kept": result.kept, "flagged": result.flagged, "changed": result.changed}


def _step_snapshot(rnd: Round, step: RoundStep) -> dict[str, Any]:
    from rewards.services.project_training import ProjectTrainingError, project_snapshot

    settings = rnd.config["reward"]
    _set_inputs(step, {"seed": settings["seed"], "eval_fraction": settings["eval_fraction"]})
    if rnd.dataset is None:
        try:
            dataset = project_snapshot(project=rnd.project, seed=settings["seed"],
                                       eval_fraction=settings["eval_fraction"])
        except ProjectTrainingError as exc:
            raise StepFailed(str(exc)) from None
        Round.objects.filter(pk=rnd.pk).update(dataset=dataset)
        rnd.dataset = dataset
    dataset = rnd.dataset
    return {"dataset": dataset.pk, "content_hash": dataset.content_hash, "judgments": len(dataset.judgment_ids),
            "stats": dataset.stats}


def _step_reward(rnd: Round, step: RoundStep) -> Any:
    from rewards.services.project_training import ProjectTrainingError, project_training_start

    settings = rnd.config["reward"]
    active = reward_model_active(project=rnd.project)
    if step.run is None:
        _set_inputs(step, {"dataset": rnd.dataset_id, "active_reward_model": active.pk if active else None,
                           **{k: settings[k] for k in ("base_model", "config", "from_active", "min_heldout")}})

    def create(enqueue: bool) -> TrainingRun:
        try:
            return project_training_start(
                project=rnd.project, dataset=rnd.dataset, base_model=settings["base_model"],
                config=settings["config"], from_active=settings["from_active"] and active is not None,
                min_heldout=settings["min_heldout"], enqueue=enqueue, created_by=rnd.created_by).run
        except ProjectTrainingError as exc:
            raise StepFailed(str(exc)) from None

    run = _run_step(rnd, step, create)
    if run is WAIT:
        return WAIT
    model = RewardModel.objects.filter(run=run).first()
    if model is None:
        raise StepFailed(f"reward run {run.pk} succeeded but registered no reward model")
    Round.objects.filter(pk=rnd.pk).update(reward_model=model)
    comparison = model.metrics.get("comparison", {})
    now_active = reward_model_active(project=rnd.project)
    return {"run": run.pk, "reward_model": model.pk, "activated": model.is_active,
            "heldout_accuracy": model.heldout_accuracy, "reason": comparison.get("reason", ""),
            "active_reward_model": now_active.pk if now_active else None}


def _step_ppo(rnd: Round, step: RoundStep) -> Any:
    from policy.selectors import policy_active
    from policy.services.runs import PolicyRunError, ppo_run_create

    settings = rnd.config["ppo"]
    reward_model = reward_model_active(project=rnd.project)
    if step.run is None or step.run.status in (TrainingRun.Status.FAILED, TrainingRun.Status.CANCELLED):
        if reward_model is None:
            trained = rnd.reward_model
            reason = trained.metrics.get("comparison", {}).get("reason", "see its note") if trained else ""
            why = (f"this round's reward model {trained.pk} was not activated ({reason})" if trained
                   else "no reward model was trained")
            raise StepFailed(f"project {rnd.project.slug!r} has no active reward model to train against: {why}")
        start = policy_active(project=rnd.project)
        _set_inputs(step, {"reward_model": reward_model.pk, "start_policy": start.pk if start else None,
                           "config": settings["config"]})

    def create(enqueue: bool) -> TrainingRun:
        try:
            return ppo_run_create(project=rnd.project, config=settings["config"], reward_model=reward_model,
                                  from_active=True, enqueue=enqueue, created_by=rnd.created_by)
        except PolicyRunError as exc:
            raise StepFailed(str(exc)) from None

    run = _run_step(rnd, step, create)
    if run is WAIT:
        return WAIT
    policy = PolicyModel.objects.filter(run=run).first()
    if policy is None:
        raise StepFailed(f"ppo run {run.pk} succeeded but registered no policy")
    Round.objects.filter(pk=rnd.pk).update(policy=policy)
    return {"run": run.pk, "policy": policy.pk, "version": policy.version, "activated": policy.is_active,
            "parent": policy.parent_id, "reward_model": policy.reward_model_id,
            **{k: run.final_metrics.get(k) for k in ("reward_first", "reward_last", "kl") if k in run.final_metrics}}


def _step_generate(rnd: Round, step: RoundStep) -> Any:
    from policy.services.runs import PolicyRunError, generation_run_create

    settings = rnd.config["generate"]
    if rnd.policy is None:
        raise StepFailed("the round has no policy to sample from (step 4 recorded none)")
    if step.run is None:
        _set_inputs(step, {"policy": rnd.policy_id, "version": rnd.policy.version, **settings})

    def create(enqueue: bool) -> TrainingRun:
        try:
            return generation_run_create(project=rnd.project, k=settings["k"], prompts=settings["prompts"],
                                         limit=settings["limit"], policies=[rnd.policy], config=settings["config"],
                                         enqueue=enqueue, created_by=rnd.created_by)
        except PolicyRunError as exc:
            raise StepFailed(str(exc)) from None

    run = _run_step(rnd, step, create)
    if run is WAIT:
        return WAIT
    Round.objects.filter(pk=rnd.pk).update(generation_run=run)
    return {"run": run.pk, "batch": run.pk, **run.final_metrics}


def _step_enqueue(rnd: Round, step: RoundStep) -> dict[str, Any]:
    """The generation run put its samples into labeling through the ingestion service (which
    makes the tasks); this step checks and records what reached the queue, and optionally orders
    the open pairs by the active reward model's uncertainty."""
    run = rnd.generation_run
    if run is None:
        raise StepFailed("the round has no generation batch (step 5 recorded none)")
    prioritise = _prioritise_by(rnd.config["enqueue"]["prioritise"])
    _set_inputs(step, {"batch": run.pk, "prioritise": prioritise})
    samples = Sample.objects.filter(prompt__project=rnd.project, metadata__generation_batch=run.pk)
    tasks = Task.objects.filter(project=rnd.project, slots__sample__in=samples).distinct()
    outputs: dict[str, Any] = {
        "samples": samples.count(), "tasks": tasks.count(),
        "open_tasks": tasks.filter(judgment_count__lt=F("judgments_wanted")).count(),
        "adapters": sorted(set(samples.values_list("adapter", flat=True))),
    }
    if not outputs["samples"]:
        raise StepFailed(f"generation batch {run.pk} stored no samples ({run.final_metrics}); "
                         "check the generation settings")
    if prioritise:
        from rewards.services.priority import tasks_prioritise

        model = reward_model_active(project=rnd.project)
        if model is None:
            raise StepFailed("prioritise needs an active reward model")
        try:
            outputs["prioritised"] = tasks_prioritise(rnd.project, model, by=prioritise)
        except ValueError as exc:
            raise StepFailed(str(exc)) from None
        outputs["prioritised_by"] = model.pk
        outputs["prioritised_on"] = prioritise
    return outputs


STEP_FUNCTIONS = {
    RoundStep.Name.QUALITY: _step_quality,
    RoundStep.Name.SNAPSHOT: _step_snapshot,
    RoundStep.Name.REWARD: _step_reward,
    RoundStep.Name.PPO: _step_ppo,
    RoundStep.Name.GENERATE: _step_generate,
    RoundStep.Name.ENQUEUE: _step_enqueue,
}


def round_lineage(*, round: Round) -> dict[str, Any]:  # noqa: A002 - the domain's word
    """judgments -> dataset -> reward model -> policy -> generation batch -> samples and tasks."""
    dataset, policy, batch = round.dataset, round.policy, round.generation_run
    samples = Sample.objects.filter(prompt__project=round.project, metadata__generation_batch=batch.pk) if batch \
        else Sample.objects.none()
    return {
        "judgments": len(dataset.judgment_ids) if dataset else None,
        "dataset": dataset.pk if dataset else None,
        "reward_model": round.reward_model_id,
        "policy": policy.pk if policy else None,
        "policy_version": policy.version if policy else None,
        "policy_reward_model": policy.reward_model_id if policy else None,
        "generation_batch": batch.pk if batch else None,
        "samples": samples.count(),
        "tasks": Task.objects.filter(slots__sample__in=samples).distinct().count(),
    }


__all__ = ["Round", "RoundError", "RoundStep", "round_advance", "round_config", "round_create", "round_lineage",
           "round_on_run_finished", "round_request", "round_retry", "round_start", "rounds_start_due", "rounds_sweep"]
