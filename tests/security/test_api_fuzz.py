"""Fuzz every operation of our own OpenAPI schema (/api/schema/) with schemathesis, in process
through the WSGI app, authenticated with a real token of a project that has data: no input is a
5xx, and each answer is one of the status codes the schema documents for that operation, with a
body of the documented shape. Seeded (derandomized) so a failure reproduces; a few examples per
operation keep it to about a minute on two cores."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application
from crowd.services.judgments import judgments_record
from labeling.models import Project, Task
from labeling.services.ingestion import items_ingest
from labeling.services.tokens import token_create
from rounds.models import Round
from rounds.services import round_create
from tests.factories import item
from tests.rewards_db.conftest import tiny_adapter_path, tiny_gpt2_path  # noqa: F401 - session fixtures

EXAMPLES_PER_OPERATION = 50
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def seed_project(project: Project) -> None:
    """Items (plain and chat prompts), judgments from two crowd workers, a failed round."""
    n = project.samples_per_task
    items_ingest(project=project, items=[
        item("p0", n_samples=n), item("p1", n_samples=n, metadata={"topic": "x"}),
        item("chat", n_samples=n, prompt=[{"role": "system", "content": "Brief."}, {"role": "user", "content": "Hi?"}]),
    ])
    rows = []
    for i, task in enumerate(Task.objects.filter(project=project).order_by("pk")):
        for worker in ("w1", "w2"):
            row = {"external_id": f"j{i}-{worker}", "task": task.pk, "annotator": worker, "seconds": 12,
                   "rationale": "clearer"}
            if project.kind == Project.Kind.RANKING:
                ids = list(task.slots.order_by("position").values_list("sample_id", flat=True))
                row["ranking"] = [[ids[-1]], ids[:-1]] if i % 2 else [[sample] for sample in ids]
            else:
                row["choice"] = "a" if i % 2 else "b"
            rows.append(row)
    assert judgments_record(project=project, rows=rows).judgments_created == len(rows)
    failed = round_create(project=project)
    Round.objects.filter(pk=failed.pk).update(status=Round.Status.FAILED, error="seeded failure")


@pytest.fixture(params=[Project.Kind.PAIRWISE, Project.Kind.RANKING])
def target(request, db, make_project, tiny_adapter_path, tiny_gpt2_path):  # noqa: F811
    """The seeded project's path parameters (slug, a round number, a reward model id) and a token's header."""
    from rewards.models import RewardModel
    from rewards.services.scoring import cache_clear

    project = make_project("alpha", name="Alpha", kind=request.param, ranking_k=3)
    seed_project(project)
    model = RewardModel.objects.create(name="tiny", project=project, base_model=tiny_gpt2_path,
                                       adapter_path=tiny_adapter_path, offset=0.125, is_active=True)
    _, key = token_create(project=project, name="fuzz")
    # As Django's test client does: a request's start and end must not close the test's connection
    # (its transaction holds the seeded data).
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    cache_clear()
    yield {"path": {"slug": project.slug, "number": 1, "id": model.pk}, "headers": {"Authorization": f"Token {key}"}}
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)
    cache_clear()


# Loaded at import through the app itself (the schema view reads no database).
schema = schemathesis.openapi.from_wsgi(
    "/api/schema/?format=json", application,
    config=SchemathesisConfig.from_dict({"generation": {"with-security-parameters": False}}),
)


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_input_is_a_server_error_or_undocumented(case, target):
    # Past the token's project check: every operation runs against the seeded project and objects.
    for name in case.path_parameters or {}:
        case.path_parameters[name] = target["path"][name]
    case.call_and_validate(headers=target["headers"], checks=CHECKS)


# Regressions: what the fuzz found (answers outside the documented error shape).


def test_an_unknown_export_format_is_a_documented_400(token_client, project):
    response = token_client.get(f"/api/v1/projects/{project.slug}/export/?format=AAA")
    assert response.status_code == 400
    body = response.json()
    assert "format must be one of pairs, rankings, judgments" in body["detail"]
    assert body["errors"] == [
        {"index": None, "field": "format", "message": "must be one of pairs, rankings, judgments"}]


def test_a_score_item_that_is_not_an_object_names_it_with_a_string_field(token_client, project):
    from rewards.models import RewardModel

    model = RewardModel.objects.create(name="m", project=project, base_model="none", adapter_path="/nonexistent")
    response = token_client.post(f"/api/v1/reward-models/{model.pk}/score/", data="[[null, null]]",
                                 content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"index": 0, "field": "", "message": 'must be an object {"prompt", "response"}'}]


def test_a_drf_validation_error_gets_the_documented_shape():
    from rest_framework.exceptions import ValidationError

    from config.errors import api_exception_handler

    response = api_exception_handler(ValidationError({"page": ["must be a number"], "q": {"x": ["too long"]}}), {})
    assert response.status_code == 400
    assert response.data == {"detail": "page: must be a number; q.x: too long", "errors": [
        {"index": None, "field": "page", "message": "must be a number"},
        {"index": None, "field": "q.x", "message": "too long"}]}
    assert api_exception_handler(ValidationError("bad"), {}).data == {
        "detail": "bad", "errors": [{"index": None, "field": "", "message": "bad"}]}
