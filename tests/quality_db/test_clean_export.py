import json

import pytest

from labeling.models import Judgment
from labeling.quality.gold import honeypots_create
from labeling.quality.review import annotator_status_set, judgment_override
from labeling.quality.services import quality_recompute
from labeling.services.tokens import token_create

URL = "/api/v1/projects/{}/export/?format={}{}"


def rows(response) -> list[dict]:
    assert response.status_code == 200
    return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]


@pytest.fixture
def api(planted):
    from rest_framework.test import APIClient

    project, _ = planted
    _, key = token_create(project=project, name="t")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_clean_judgments_export_leaves_out_excluded_and_banned(planted, api, make_user):
    project, users = planted
    quality_recompute(project_id=project.pk)
    everything = rows(api.get(URL.format(project.slug, "judgments", "")))
    assert len(everything) == 350 and {"included", "weight", "quality_reasons", "override"} <= set(everything[0])
    clean = rows(api.get(URL.format(project.slug, "judgments", "&clean=1")))
    assert {r["annotator"] for r in clean} == {"good0", "good1", "good2", "good3"}
    assert all(r["included"] and r["weight"] > 0.3 for r in clean)
    boss = make_user("boss", is_staff=True)
    annotator_status_set(project=project, annotator_id=users["good3"].pk, status="banned", actor=boss)
    rescued = Judgment.objects.filter(annotator=users["speedy"]).first()
    judgment_override(judgment_id=rescued.pk, project=project, decision="include", actor=boss)
    # The ban and the override changed the inputs: the clean export recomputes first.
    clean = rows(api.get(URL.format(project.slug, "judgments", "&clean=1")))
    assert {r["annotator"] for r in clean} == {"good0", "good1", "good2", "speedy"}
    assert [r["weight"] for r in clean if r["annotator"] == "speedy"] == [1.0]


def test_clean_pairs_carry_weights_and_agreement(planted, api):
    project, users = planted
    quality_recompute(project_id=project.pk)
    raw = rows(api.get(URL.format(project.slug, "pairs", "")))
    clean = rows(api.get(URL.format(project.slug, "pairs", "&clean=1")))
    assert clean and all("weight" not in r for r in raw)
    for row in clean:
        assert row["num_judgments"] <= 4  # only the honest annotators' votes
        assert row["weight"] > 0 and 0 < row["weighted_agreement"] <= 1 and 0 < row["agreement"] <= 1
    good = Judgment.objects.filter(annotator=users["good0"], task_id=clean[0]["task_id"]).first()
    assert clean[0]["weight"] <= 4 * good.weight + 1e-6


def test_honeypots_never_exported_as_preference_data(planted, api):
    project, users = planted
    honeypots_create(project=project, count=2)
    from tests.quality_db.conftest import good, label_all

    project.quality_config = {**project.quality_config, "gold_rate": 1.0}
    project.save()
    assert label_all(project, users["good0"], good(1.0), {}, seed=1) == 2
    assert {r["task_id"] for r in rows(api.get(URL.format(project.slug, "pairs", "")))}.isdisjoint(
        set(project.tasks.filter(is_gold=True).values_list("pk", flat=True))
    )


def test_clean_exports_and_snapshots_bring_quality_up_to_date_first(planted, api):
    """No pass has run (recompute_every is 0 here, as between two passes of 50): a clean export must
    not hand out the spammers' judgments, and asking again recomputes nothing."""
    from labeling.models import QualityState
    from labeling.quality.services import quality_is_stale
    from rewards.services.snapshot import dataset_snapshot

    project, users = planted
    assert quality_is_stale(project=project) and Judgment.objects.filter(included=False).count() == 0
    clean = rows(api.get(URL.format(project.slug, "pairs", "&clean=1")))
    assert clean and all(row["num_judgments"] <= 4 for row in clean)  # only the four honest annotators
    assert not quality_is_stale(project=project)
    computed_at = QualityState.objects.get(project=project).computed_at
    ranked = rows(api.get(URL.format(project.slug, "rankings", "&clean=1")))
    assert ranked and all(row["num_judgments"] <= 4 for row in ranked)
    assert QualityState.objects.get(project=project).computed_at == computed_at  # nothing changed: no pass
    # a withdrawn judgment changes the inputs: the next snapshot for training recomputes first
    Judgment.objects.filter(annotator=users["good0"]).update(withdrawn_at="2026-01-01T00:00:00Z")
    assert quality_is_stale(project=project)
    dataset = dataset_snapshot(project=project, eval_fraction=0.0)
    assert QualityState.objects.get(project=project).computed_at > computed_at
    used = set(Judgment.objects.filter(pk__in=dataset.judgment_ids).values_list("annotator__username", flat=True))
    assert used == {"good1", "good2", "good3"}
