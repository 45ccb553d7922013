import pytest

from rewards.models import RewardModel
from rewards.services.registry import (
    activation_decision,
    reward_model_activate,
    reward_model_deactivate,
    reward_model_register,
)
from rewards.services.snapshot import dataset_elements, dataset_snapshot
from training.models import TrainingRun

from .conftest import learnable_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(project, annotators):
    learnable_project(project, annotators, n_prompts=12)
    return dataset_snapshot(project=project, eval_fraction=0.4)


def _register(dataset, accuracy, heldout):
    # min_heldout 0: these tests are about the comparison with the active model
    run = TrainingRun.objects.create(kind="reward", status="running", inputs={"dataset": dataset.pk, "min_heldout": 0})
    return reward_model_register(run=run, dataset=dataset, base_model="base", adapter_path=f"/tmp/rm{run.pk}",
                                 metrics={"eval_accuracy": accuracy}, offset=0.25, heldout=heldout)


def test_decision_rules():
    active = RewardModel(pk=1)
    assert activation_decision(accuracy=None, active=None, active_accuracy=None)[0]
    assert activation_decision(accuracy=0.8, active=active, active_accuracy=0.7)[0]
    assert not activation_decision(accuracy=0.7, active=active, active_accuracy=0.7)[0]
    assert not activation_decision(accuracy=None, active=active, active_accuracy=0.7)[0]
    assert not activation_decision(accuracy=0.9, active=active, active_accuracy=None)[0]
    # below the minimum of held-out comparisons: never, not even with no active model
    ok, why = activation_decision(accuracy=0.0, active=None, active_accuracy=None, n=1, min_heldout=50)
    assert not ok and why.startswith("not activated: held-out accuracy 0.0000 (95% CI 0.00-0.79, 1 comparison)")
    assert "fewer than the 50 held-out comparisons" in why and "--min-heldout" in why
    assert not activation_decision(accuracy=None, active=None, active_accuracy=None, n=0, min_heldout=50)[0]
    assert not activation_decision(accuracy=0.9, active=active, active_accuracy=0.5, n=49, min_heldout=50)[0]
    assert activation_decision(accuracy=0.9, active=active, active_accuracy=0.5, n=50, min_heldout=50)[0]
    assert activation_decision(accuracy=0.6, active=None, active_accuracy=None, n=50, min_heldout=50)[0]


def test_the_run_records_the_minimum_and_the_setting_is_the_default(dataset, settings):
    from rewards.services.registry import min_heldout_default
    from rewards.services.runs import reward_run_create

    settings.REWARD_MIN_HELDOUT = 7
    assert min_heldout_default() == 7
    run = reward_run_create(dataset=dataset, base_model="/tmp", enqueue=False)
    assert run.inputs["min_heldout"] == 7
    run = TrainingRun.objects.create(kind="reward", status="running", inputs={"dataset": dataset.pk})
    model = reward_model_register(run=run, dataset=dataset, base_model="base", adapter_path="/tmp/x",
                                  metrics={"eval_accuracy": 1.0, "eval_n": 6}, offset=0.0, heldout=[])
    assert not model.is_active and model.metrics["comparison"]["min_heldout"] == 7
    assert "fewer than the 7 held-out comparisons" in model.note


def test_activation_only_when_better_on_the_same_heldout_set(dataset, monkeypatch):
    _, heldout = dataset_elements(dataset)
    assert heldout
    evaluated = []

    def fake_evaluate(*, model, elements):
        evaluated.append((model.pk, [e.prompt for e in elements]))
        return {"accuracy": {first.pk: 0.75}.get(model.pk, 0.9)}

    monkeypatch.setattr("rewards.services.scoring.reward_model_evaluate", fake_evaluate)
    first = _register(dataset, 0.6, heldout)
    assert first.is_active and first.parent is None and evaluated == []  # nothing to beat
    assert "activated by auto: no active model" in first.note

    worse = _register(dataset, 0.7, heldout)
    assert evaluated == [(first.pk, [e.prompt for e in heldout])]  # the active model, on this held-out split
    assert not worse.is_active and worse.parent == first
    comparison = worse.metrics["comparison"]
    reason = comparison.pop("reason")
    assert reason.endswith(f"does not beat active model {first.pk}'s 0.7500 on the same held-out set")
    assert comparison == {"active_model": first.pk, "active_accuracy": 0.75, "accuracy": 0.7, "activated": False,
                          "heldout_n": None, "min_heldout": 0}
    assert "does not beat" in worse.note and "does not beat" in TrainingRun.objects.get(pk=worse.run_id).logs

    better = _register(dataset, 0.8, heldout)
    first.refresh_from_db()
    assert better.is_active and not first.is_active and better.heldout_accuracy == 0.8 and better.offset == 0.25
    assert f"model {better.pk} activated" in first.note
    assert RewardModel.objects.filter(project=dataset.project, is_active=True).count() == 1
    # a resumed run that registers again finds its model
    assert reward_model_register(run=better.run, dataset=dataset, base_model="b", adapter_path="x", metrics={},
                                 offset=0, heldout=heldout) == better


def test_active_model_that_cannot_be_evaluated_is_not_replaced(dataset, monkeypatch):
    _, heldout = dataset_elements(dataset)
    first = _register(dataset, 0.6, heldout)

    def broken(**_kwargs):
        raise OSError("adapter missing")

    monkeypatch.setattr("rewards.services.scoring.reward_model_evaluate", broken)
    second = _register(dataset, 0.99, heldout)
    assert not second.is_active and "could not be evaluated" in second.note
    assert RewardModel.objects.get(pk=first.pk).is_active


def test_manual_override_is_audited(dataset):
    first = _register(dataset, 0.6, [])
    second = _register(dataset, None, [])  # no held-out prompts: nothing to compare, stays inactive
    assert not second.is_active and "no held-out accuracy" in second.note
    reward_model_activate(model=second, by="admin alice", reason="manual override")
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.is_active and not first.is_active
    assert "activated by admin alice: manual override" in second.note
    assert "activated by admin alice" in TrainingRun.objects.get(pk=second.run_id).logs
    reward_model_deactivate(model=second, by="admin alice")
    second.refresh_from_db()
    assert not second.is_active and "deactivated by admin alice" in second.note


def test_admin_pages_and_manual_activation(admin_client, dataset):
    first = _register(dataset, 0.6, [])
    second = _register(dataset, None, [])
    for url in ("/admin/rewards/rewardmodel/", f"/admin/rewards/rewardmodel/{first.pk}/change/",
                "/admin/rewards/preferencedataset/", f"/admin/rewards/preferencedataset/{dataset.pk}/change/"):
        assert admin_client.get(url).status_code == 200, url
    response = admin_client.post("/admin/rewards/rewardmodel/",
                                 {"action": "activate", "_selected_action": [second.pk]}, follow=True)
    assert response.status_code == 200
    second.refresh_from_db()
    assert second.is_active and "activated by admin admin: manual override" in second.note
    assert not RewardModel.objects.get(pk=first.pk).is_active
