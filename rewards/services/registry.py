"""The reward-model registry: register what a run trained, decide activation by comparing with
the active model on the same held-out set, and manual activate/deactivate with an audit note."""

import logging
import math
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from rewards.models import PreferenceDataset, RewardModel
from rewards.selectors import reward_model_active
from training.lineage import activate_exclusively
from training.models import TrainingRun
from training.services import run_log

logger = logging.getLogger(__name__)
DEFAULT_MIN_HELDOUT = 50


def _stamp(line: str) -> str:
    return f"[{timezone.now():%Y-%m-%d %H:%M:%S}] {line}\n"


def _audit(model: RewardModel, line: str) -> None:
    """Append to the model's note and, when a run made it, to the run's log."""
    entry = _stamp(line)
    RewardModel.objects.filter(pk=model.pk).update(note=Concat(F("note"), Value(entry)))
    model.note += entry
    if model.run_id:
        run_log(run_id=model.run_id, line=f"reward model {model.pk}: {line}")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not math.isnan(value) else None


def min_heldout_default() -> int:
    """Held-out comparisons a new model needs before it may be activated automatically: the
    ``REWARD_MIN_HELDOUT`` setting, else ``PREFLAB_REWARD_MIN_HELDOUT``, else 50."""
    value = getattr(settings, "REWARD_MIN_HELDOUT", None)
    if value is None:
        from config.env import env_int

        value = env_int("PREFLAB_REWARD_MIN_HELDOUT", DEFAULT_MIN_HELDOUT)
    return max(0, int(value))


def accuracy_summary(accuracy: float | None, n: int | None) -> str:
    """'0.6200 (95% CI 0.55-0.69, 200 comparisons)': held-out accuracy with its Wilson interval."""
    if accuracy is None or not n:
        return "n/a (no held-out comparisons)"
    from rewards.engine.evaluate import wilson_interval

    low, high = wilson_interval(round(accuracy * n), n)
    return f"{accuracy:.4f} (95% CI {low:.2f}-{high:.2f}, {n} comparison{'s' if n != 1 else ''})"


def activation_decision(
    *, accuracy: float | None, active: RewardModel | None, active_accuracy: float | None,
    n: int | None = None, min_heldout: int = 0,
) -> tuple[bool, str]:
    """Activate when the new model was judged on at least ``min_heldout`` held-out comparisons
    (``n``), and there is no active model or the new model's held-out accuracy beats the active
    one's on the same held-out set. Below the minimum an accuracy is too close to a coin flip to
    act on (on 10 comparisons the 95% interval of 0.7 is 0.40-0.89)."""
    if min_heldout > 0 and (accuracy is None or (n or 0) < min_heldout):
        return False, (
            f"not activated: held-out accuracy {accuracy_summary(accuracy, n)} rests on fewer than the "
            f"{min_heldout} held-out comparisons needed to activate automatically; label more prompts or hold "
            "out more of them (--eval-fraction), lower the minimum (--min-heldout, PREFLAB_REWARD_MIN_HELDOUT), "
            "or activate it by hand in the admin"
        )
    if active is None:
        return True, "no active model"
    if accuracy is None:
        return False, f"not activated: no held-out accuracy to compare with model {active.pk}"
    if active_accuracy is None:
        return False, f"not activated: model {active.pk} could not be evaluated on this held-out set"
    verdict = "beats" if accuracy > active_accuracy else "does not beat"
    return accuracy > active_accuracy, (
        f"held-out accuracy {accuracy:.4f} {verdict} active model {active.pk}'s {active_accuracy:.4f} "
        "on the same held-out set"
    )


def reward_model_activate(*, model: RewardModel, by: str = "admin", reason: str = "") -> RewardModel:
    """Make this the project's active model (the previous one is deactivated); audited."""
    return activate_exclusively(model, audit=_audit, by=by, reason=reason)


def reward_model_deactivate(*, model: RewardModel, by: str = "admin", reason: str = "") -> RewardModel:
    with transaction.atomic():
        RewardModel.objects.filter(pk=model.pk).update(is_active=False)
        model.is_active = False
        _audit(model, f"deactivated by {by}" + (f": {reason}" if reason else ""))
    return model


def _parent(run: TrainingRun) -> RewardModel | None:
    """The model a run fine-tuned (its adapter was the starting point), if any."""
    parent_id = (run.inputs or {}).get("fine_tuned_from")
    return RewardModel.objects.filter(pk=parent_id).first() if parent_id else None


def reward_model_register(
    *,
    run: TrainingRun,
    dataset: PreferenceDataset,
    base_model: str,
    adapter_path: str,
    metrics: dict[str, Any],
    offset: float,
    heldout: list,
    name: str = "",
) -> RewardModel:
    """Register the model a run trained (once per run: a resumed run finds it) and activate it
    if it beats the active model, re-evaluated on this dataset's held-out split, and was judged on
    enough held-out comparisons (the run's ``inputs["min_heldout"]``, else ``min_heldout_default()``)."""
    existing = RewardModel.objects.filter(run=run).first()
    if existing is not None:
        return existing
    active = reward_model_active(project=dataset.project)
    accuracy, active_accuracy = _number(metrics.get("eval_accuracy")), None
    if active is not None and heldout:
        from rewards.services.scoring import reward_model_evaluate

        try:
            active_accuracy = _number(reward_model_evaluate(model=active, elements=heldout)["accuracy"])
        except Exception:  # noqa: BLE001 - a broken old model must not fail the new run
            logger.exception("could not evaluate active reward model %s", active.pk)
    n = metrics.get("eval_n") if isinstance(metrics.get("eval_n"), int) else None
    minimum = (run.inputs or {}).get("min_heldout")
    minimum = int(minimum) if isinstance(minimum, int) else min_heldout_default()
    activate, reason = activation_decision(accuracy=accuracy, active=active, active_accuracy=active_accuracy,
                                           n=n, min_heldout=minimum)
    comparison = {"active_model": active.pk if active else None, "active_accuracy": active_accuracy,
                  "accuracy": accuracy, "activated": activate, "heldout_n": n, "min_heldout": minimum,
                  "reason": reason}
    model = RewardModel.objects.create(
        name=name or f"{dataset.project.slug} run {run.pk}", project=dataset.project, base_model=base_model,
        adapter_path=adapter_path, run=run, dataset=dataset, parent=_parent(run) or active,
        metrics={**metrics, "comparison": comparison}, heldout_accuracy=accuracy, offset=offset,
    )
    if activate:
        reward_model_activate(model=model, by="auto", reason=reason)
    else:
        _audit(model, reason)
    return model
