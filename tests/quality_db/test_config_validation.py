"""Project.quality_config is checked where admins edit it; a bad stored value is never half-applied."""

import pytest

from labeling.quality.config import DEFAULTS, QualityConfig, config_errors, config_from_json, quality_config


def test_valid_configs_pass():
    assert config_errors({}) == []
    assert config_errors({"filters": {"length_bias": False}, "gold_rate": 0.2, "min_labels": 20,
                          "honeypot_kinds": ["shuffle"], "recompute_every": 0, "true_ties": False}) == []
    assert config_errors(dict(DEFAULTS)) == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ([], "must be a JSON object"),
        ({"gold_rat": 0.2}, "unknown key 'gold_rat'"),
        ({"filters": {"too_slow": True}}, "unknown filter 'too_slow'"),
        ({"filters": {"gold": "yes"}}, "filters.gold must be true or false"),
        ({"filters": ["gold"]}, "filters must be an object"),
        ({"gold_rate": 1.5}, "gold_rate must be between 0 and 1"),
        ({"gold_rate": "0.1"}, "gold_rate must be a number"),
        ({"min_labels": 2.5}, "min_labels must be a whole number"),
        ({"min_labels": True}, "min_labels must be a whole number"),
        ({"floor_seconds": -1}, "floor_seconds must be at least 0"),
        ({"honeypot_kinds": ["truncate", "reverse"]}, "honeypot_kinds must be a list drawn from"),
        ({"true_ties": "no"}, "true_ties must be true or false"),
        ({"true_ties": 0}, "true_ties must be true or false"),
    ],
)
def test_each_problem_is_named(config, message):
    errors = config_errors(config)
    assert len(errors) == 1 and message in errors[0], errors


def test_every_problem_is_reported_at_once():
    assert len(config_errors({"gold_rate": 2, "min_labels": 0, "nope": 1})) == 3


def test_invalid_stored_config_falls_back_to_defaults(project):
    project.quality_config = {"gold_rate": 0.5}
    assert quality_config(project).gold_rate == 0.5
    project.quality_config = {"gold_rate": 0.5, "min_labels": -3}  # written around the validator
    assert quality_config(project) == quality_config(type(project)()) == QualityConfig()


def test_the_typed_config_is_the_json_config():
    """One configuration: the project's JSON keys are the typed config's fields, and a valid JSON
    value becomes exactly the typed value (filters merged key by key over the defaults)."""
    assert QualityConfig().as_json() == DEFAULTS
    assert config_from_json(DEFAULTS) == QualityConfig()
    custom = config_from_json({"filters": {"length_bias": False}, "min_labels": 20.0, "method": "majority",
                               "honeypot_kinds": ["shuffle"]})
    assert custom == QualityConfig(min_labels=20, method="majority", honeypot_kinds=("shuffle",)).with_filters(
        length_bias=False)
    assert type(custom.min_labels) is int and custom.filters.gold
    assert config_errors({"method": "mace"}) == ["method must be one of dawid-skene, majority, not 'mace'"]
    assert config_errors({"gold_rate": float("nan")}) == ["gold_rate must be a number, not nan"]


def test_settings_follow_the_stored_value_on_the_same_object(project):
    """Validated once per object, but never stale: a new value, or one changed in place, is read."""
    project.quality_config = {"gold_rate": 0.5}
    assert quality_config(project).gold_rate == 0.5
    project.quality_config["gold_rate"] = 0.25
    assert quality_config(project).gold_rate == 0.25
    project.quality_config = {"min_labels": 1}
    assert quality_config(project).min_labels == 1
    project.quality_config = {"min_labels": True}  # equal to {"min_labels": 1} in Python, but invalid
    assert quality_config(project) == QualityConfig()


def test_admin_form_rejects_bad_config_with_message(project, client, make_user):
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    url = f"/admin/labeling/project/{project.pk}/change/"
    form = {"name": project.name, "slug": project.slug, "kind": project.kind,
            "ranking_k": project.ranking_k, "judgments_per_task": project.judgments_per_task,
            "lease_seconds": project.lease_seconds, "is_active": "on", "instructions": "",
            "quality_config": '{"gold_rate": 3}'}
    response = client.post(url, form)
    assert response.status_code == 200  # the form again, not a redirect
    assert "gold_rate must be between 0 and 1" in response.content.decode()
    project.refresh_from_db()
    assert project.quality_config == {}
    response = client.post(url, {**form, "quality_config": '{"gold_rate": 0.25}'})
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.quality_config == {"gold_rate": 0.25}


def test_admin_form_shows_every_key_with_its_default_and_meaning(project, client, make_user):
    import html

    from labeling.quality.config import DEFAULTS, HELP

    assert set(HELP) == set(DEFAULTS)  # a new setting needs its explanation
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    page = html.unescape(client.get(f"/admin/labeling/project/{project.pk}/change/").content.decode())
    for key in DEFAULTS:
        assert f"<code>{key}</code> (default <code>" in page, key
    assert "<code>floor_seconds</code> (default <code>3.0</code>): a judgment made in fewer seconds" in page
    assert "<code>recompute_every</code> (default <code>50</code>)" in page
    assert 'Only the keys to change, as JSON, e.g. <code>{"floor_seconds": 5' in page



def test_a_submit_request_validates_the_settings_once(project, client, make_user, monkeypatch):
    """A submit reads the settings twice (judging counts towards a recomputation, assignment picks
    the next task at the gold rate); they are validated once."""
    import json

    from labeling.quality import config as config_module
    from labeling.services.ingestion import items_ingest
    from tests.factories import item

    items_ingest(project=project, items=[item("p1"), item("p2")])
    client.force_login(make_user("ann"))

    def post(path, body=None):
        return client.post(path, data=json.dumps(body or {}), content_type="application/json")

    first = post(f"/label/{project.slug}/next/").json()
    validated = []
    real = config_module.config_errors
    monkeypatch.setattr(config_module, "config_errors", lambda value: validated.append(value) or real(value))
    second = post(f"/label/{project.slug}/submit/", {"assignment": first["assignment"], "winner": "tie"})
    assert second.status_code == 200 and second.json()["assignment"] not in (None, first["assignment"])
    assert len(validated) == 1
