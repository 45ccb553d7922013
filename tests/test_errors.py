"""One application error type (config.errors.AppError) and one handler per kind of view: the
services' errors keep the responses clients already see (the API's {"detail", "errors"?}, the
annotator page's {"error"}), with no per-view catch or decorator."""

import json

import pytest
from django.http import HttpRequest
from django.test import RequestFactory

from config.errors import AppError, AppErrorMiddleware, api_exception_handler
from labeling.api.parsers import JSONBodyError
from labeling.services.ingestion import IngestionError
from labeling.services.judging import JudgmentError, LateSubmitError
from rewards.services.scoring import ScoreInputError


@pytest.mark.parametrize("error, status, body", [
    (IngestionError("2 item(s) are invalid", [{"index": 1, "field": "prompt"}]), 400,
     {"detail": "2 item(s) are invalid", "errors": [{"index": 1, "field": "prompt"}]}),
    (IngestionError("too big", status=413), 413, {"detail": "too big"}),
    (JSONBodyError("contains a NUL", (3, "samples", 0, "text")), 400,
     {"detail": "[3].samples[0].text: contains a NUL",
      "errors": [{"index": 3, "field": "samples[0].text", "message": "[3].samples[0].text: contains a NUL"}]}),
    (JudgmentError("winner is not a sample"), 400, {"detail": "winner is not a sample"}),
    (LateSubmitError("not recorded"), 409, {"detail": "not recorded"}),
    (ScoreInputError("300 items is too many", status=413), 413, {"detail": "300 items is too many"}),
])
def test_every_service_error_is_an_app_error_with_the_documented_api_body(error, status, body):
    assert isinstance(error, AppError)
    response = api_exception_handler(error, {})
    assert (response.status_code, response.data) == (status, body)


def test_a_plain_view_answers_an_app_error_with_the_page_shape():
    middleware = AppErrorMiddleware(lambda request: None)
    request = RequestFactory().post("/label/x/submit/")
    response = middleware.process_exception(request, LateSubmitError("the task moved on"))
    assert response.status_code == 409 and json.loads(response.content) == {"error": "the task moved on"}
    assert middleware.process_exception(HttpRequest(), ValueError("a bug")) is None  # not ours: a 500 as before


def test_drf_exceptions_keep_drf_handling():
    from rest_framework.exceptions import NotAuthenticated

    response = api_exception_handler(NotAuthenticated(), {"request": None, "view": None})
    assert response.status_code == 401
