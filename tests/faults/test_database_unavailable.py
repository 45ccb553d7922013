"""A database that cannot be reached is a 503 with Retry-After in every kind of view (config/errors.py),
never a 500: the API's {"detail"}, the labeling page's {"error"}, a plain HTML page for a browser on
a page, also when the error comes from a middleware (the session saved after the view). In process,
with the failures injected; tests/faults/test_postgres_restart.py stops a real PostgreSQL."""

import json

import pytest
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import path

from config import urls as project_urls
from config.errors import DATABASE_UNAVAILABLE, AppErrorMiddleware, api_exception_handler, server_error

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("error", [OperationalError("connection refused"), InterfaceError("connection already closed")])
def test_the_api_handler_answers_503_with_the_documented_shape(error):
    response = api_exception_handler(error, {"request": None})
    assert response.status_code == 503 and response.data == {"detail": DATABASE_UNAVAILABLE}
    assert response["Retry-After"] == "5"


def test_the_page_middleware_answers_json_to_the_script_and_html_to_a_browser():
    middleware = AppErrorMiddleware(lambda request: None)
    script = RequestFactory().post("/label/x/next/", data="{}", content_type="application/json")
    response = middleware.process_exception(script, OperationalError("server closed the connection"))
    assert response.status_code == 503 and json.loads(response.content) == {"error": DATABASE_UNAVAILABLE}
    browser = RequestFactory().get("/label/x/", HTTP_ACCEPT="text/html,application/xhtml+xml")
    response = middleware.process_exception(browser, InterfaceError("connection already closed"))
    assert response.status_code == 503 and response["Content-Type"].startswith("text/html")
    assert '<p class="error-code">503</p>' in response.content.decode() and response["Retry-After"] == "5"


def test_handler500_makes_a_database_error_from_a_middleware_a_503_and_leaves_other_errors_500():
    request = RequestFactory().get("/", HTTP_ACCEPT="text/html")
    try:
        raise OperationalError("the database system is shutting down")
    except OperationalError:
        assert server_error(request).status_code == 503
    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        assert server_error(request).status_code == 500


def test_next_and_submit_answer_503_when_a_query_fails(client, make_project, make_user, monkeypatch):
    make_project("busy")
    client.force_login(make_user("ann"))

    def down(**_kwargs):
        raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')

    monkeypatch.setattr("labeling.views.assignment_next", down)
    response = client.post("/label/busy/next/", data="{}", content_type="application/json")
    assert response.status_code == 503 and response.json() == {"error": DATABASE_UNAVAILABLE}
    assert "5432" not in response.content.decode()  # nothing of the cause goes to the client


def remember(request):
    request.session["seen"] = True  # saved by SessionMiddleware once this view has returned
    return HttpResponse("ok")


urlpatterns = [path("remember/", remember), *project_urls.urlpatterns]
handler500 = project_urls.handler500  # what the project's URLconf names


@pytest.mark.urls(__name__)
def test_a_database_error_in_a_middleware_after_the_view_is_a_503(client, settings, monkeypatch):
    settings.DEBUG = False
    client.raise_request_exception = False

    def down(self, must_create=False):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("django.contrib.sessions.backends.db.SessionStore.save", down)
    response = client.get("/remember/", HTTP_ACCEPT="text/html")
    assert response.status_code == 503 and "Temporarily unavailable" in response.content.decode()
    assert response["Retry-After"] == "5"
