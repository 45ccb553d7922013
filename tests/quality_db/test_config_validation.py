"""Project.quality_config is checked where admins edit it; a bad stored value is never half-applied."""

import pytest

from labeling.quality.config import DEFAULTS, config_errors, quality_config


def test_valid_configs_pass():
    assert config_errors({}) == []
    assert config_errors({"filters": {"length_bias": False}, "gold_rate": 0.2, "min_labels": 20,
                          "honeypot_kinds": ["shuffle"], "recompute_every": 0}) == []
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
    ],
)
def test_each_problem_is_named(config, message):
    errors = config_errors(config)
    assert len(errors) == 1 and message in errors[0], errors


def test_every_problem_is_reported_at_once():
    assert len(config_errors({"gold_rate": 2, "min_labels": 0, "nope": 1})) == 3


def test_invalid_stored_config_falls_back_to_defaults(project):
    project.quality_config = {"gold_rate": 0.5}
    assert quality_config(project)["gold_rate"] == 0.5
    project.quality_config = {"gold_rate": 0.5, "min_labels": -3}  # written around the validator
    assert quality_config(project) == quality_config(type(project)())


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

