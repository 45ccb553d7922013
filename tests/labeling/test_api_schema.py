"""The OpenAPI schema tells the truth: how to authenticate, which errors come back in which
shape, and that bodies are JSON only; and the API does what the schema says."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from labeling.services.ingestion import items_ingest
from tests.factories import item

OPERATIONS = {
    ("/api/v1/projects/{slug}/", "get"): {"401", "403", "404"},
    ("/api/v1/projects/{slug}/items/", "post"): {"400", "401", "403", "404", "413", "415"},
    ("/api/v1/projects/{slug}/export/", "get"): {"400", "401", "403", "404"},
    ("/api/v1/reward-models/{id}/score/", "post"): {"400", "401", "403", "404", "413", "415", "503"},
}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def test_the_token_scheme_is_declared_and_required_by_every_operation(schema):
    scheme = schema["components"]["securitySchemes"]["projectToken"]
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "Authorization"}
    assert "Token <key>" in scheme["description"]
    for (path, method) in OPERATIONS:
        security = schema["paths"][path][method]["security"]
        assert {"projectToken": []} in security, (path, method)


def test_error_responses_are_documented_with_the_error_shape(schema):
    error = schema["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"detail", "errors"} and error["required"] == ["detail"]
    for (path, method), codes in OPERATIONS.items():
        responses = schema["paths"][path][method]["responses"]
        assert codes <= set(responses), (path, method, sorted(responses))
        for code in codes:
            body = responses[code]["content"]["application/json"]["schema"]
            assert body == {"$ref": "#/components/schemas/Error"}, (path, method, code)
            assert responses[code]["description"], (path, method, code)


def test_only_json_request_bodies_are_advertised(schema):
    bodies = [
        (path, method, sorted(operation["requestBody"]["content"]))
        for path, methods in schema["paths"].items() for method, operation in methods.items()
        if "requestBody" in operation
    ]
    assert bodies and all(content == ["application/json"] for _, _, content in bodies), bodies


def test_a_form_body_is_a_415_naming_the_type(token_client, project):
    for content_type, body in (("application/x-www-form-urlencoded", "external_id=p1"),
                               ("multipart/form-data; boundary=x", "--x--")):
        response = token_client.post(f"/api/v1/projects/{project.slug}/items/", data=body, content_type=content_type)
        assert response.status_code == 415, content_type
        assert content_type.split(";")[0] in response.json()["detail"]


def test_the_api_does_not_tell_which_slugs_exist(token_client, project, make_project, client, make_user):
    make_project("other")
    items_ingest(project=project, items=[item("p1")])
    known = token_client.get("/api/v1/projects/other/")
    unknown = token_client.get("/api/v1/projects/no-such-project/")
    assert known.status_code == unknown.status_code == 403 and known.json() == unknown.json()
    client.force_login(make_user("ann"))  # an annotator's session: not an API client
    known, unknown = client.get("/api/v1/projects/proj/"), client.get("/api/v1/projects/no-such-project/")
    assert known.status_code == unknown.status_code == 403 and known.json() == unknown.json()


def test_the_schema_endpoint_serves_the_same_schema(client, db):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200 and "projectToken" in response.json()["components"]["securitySchemes"]
