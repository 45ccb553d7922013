"""One application error type and one handler for every app.

Services raise `AppError` (or a subclass naming their domain: IngestionError, JSONBodyError,
JudgmentError, ScoreInputError, ...) with the HTTP status and a message for the client, and
optionally `errors`, one entry per bad item and field. Views do not catch them:

- in the REST API (DRF views) `api_exception_handler`, settings.REST_FRAMEWORK["EXCEPTION_HANDLER"],
  answers `{"detail": message, "errors": [...]}` (errors only when there are any), the documented
  error shape (labeling/api/schema.py);
- in the plain Django views (the annotator page's JSON endpoints) `AppErrorMiddleware` answers
  `{"error": message}`, the shape the page's script reads;
- for a form a page posted (the review pages, the admin: the browser asks for HTML, the body is no
  JSON) `AppErrorMiddleware` shows the message as those pages show their own errors: a flash
  message on the page the form came from (a redirect back); other HTML requests get the styled
  error page with the status.

A database that cannot be reached (django.db.OperationalError or InterfaceError: PostgreSQL
restarting or down, SQLite locked past its timeout) is a 503 with Retry-After, never a 500 with a
traceback: `{"detail"}` in the API, `{"error"}` for the page's JSON endpoints, a plain HTML page
otherwise (`database_unavailable_response`); `server_error` (handler500) does the same for one
raised outside a view. The connection is dropped and made again at the next request
(CONN_HEALTH_CHECKS); each request runs in its own transactions, so nothing is half-written.
"""

import logging
import sys
from collections.abc import Callable
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = "The database is unavailable right now (it may be restarting). Try again in a moment."
RETRY_AFTER_SECONDS = 5

# DRF is imported inside the handler: its views module reads the parser setting when imported,
# and the parser module (labeling/api/parsers.py) imports AppError from here.


class AppError(Exception):
    """A request refused for a reason the client can act on: `status` (4xx, or 503 for a resource
    that is unavailable for now), `message` saying what to fix, `errors` naming each bad item."""

    status: int = 400

    def __init__(self, message: str, *, status: int | None = None, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.errors = errors or []

    def api_body(self) -> dict[str, Any]:
        return {"detail": self.message, **({"errors": self.errors} if self.errors else {})}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> HttpResponse | None:
    """DRF's handler for its own exceptions (validation, authentication, 404, 415, ...), plus AppError."""
    from rest_framework.exceptions import ValidationError
    from rest_framework.response import Response
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, AppError):
        return Response(exc.api_body(), status=exc.status)
    if is_database_unavailable(exc):
        _log_unavailable(context.get("request"), exc)
        return Response({"detail": DATABASE_UNAVAILABLE}, status=503, headers=_RETRY_AFTER)
    if isinstance(exc, ValidationError):
        # DRF's own shape ({"field": [...]} or [...]) is not the documented one: name each field.
        errors = _validation_errors(exc.detail, "")
        message = "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)
        return Response({"detail": message or "invalid request", "errors": errors}, status=exc.status_code)
    return drf_exception_handler(exc, context)


def _validation_errors(detail: Any, where: str) -> list[dict[str, Any]]:
    """DRF's nested ValidationError detail as the documented `errors` entries."""
    if isinstance(detail, dict):
        return [e for key, value in detail.items()
                for e in _validation_errors(value, f"{where}.{key}" if where else str(key))]
    if isinstance(detail, list):
        return [e for value in detail for e in _validation_errors(value, where)]
    return [{"index": None, "field": where, "message": str(detail)}]


class AppErrorMiddleware:
    """An AppError raised by a plain Django view becomes `{"error": message}` with its status; a
    database that cannot be reached, a 503 (`database_unavailable_response`)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, AppError):
            if _is_page_request(request):
                return _page_error(request, exception)
            return JsonResponse({"error": exception.message}, status=exception.status)
        if is_database_unavailable(exception):
            _log_unavailable(request, exception)
            return database_unavailable_response(request)
        return None


_RETRY_AFTER = {"Retry-After": str(RETRY_AFTER_SECONDS)}


def is_database_unavailable(exc: BaseException | None) -> bool:
    return isinstance(exc, OperationalError | InterfaceError)


def _log_unavailable(request: Any, exc: BaseException) -> None:
    where = f"{request.method} {request.path}" if request is not None else "a request"
    logger.error("database unavailable, answered 503 to %s: %s", where, str(exc).strip() or type(exc).__name__)


def database_unavailable_response(request: HttpRequest) -> HttpResponse:
    """The 503 for a request the database could not serve: a plain page for a browser on a page
    (rendered without the request: its context processors would read the database), else
    `{"error"}` (the annotator page's script, API clients)."""
    if _is_page_request(request):
        response = HttpResponse(render_to_string("503.html"), status=503)
    else:
        response = JsonResponse({"error": DATABASE_UNAVAILABLE}, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: the database's errors raised outside a view (in a middleware) are a 503 as
    well; anything else is Django's 500 page."""
    from django.views.defaults import server_error as django_server_error

    exc = sys.exc_info()[1]
    if is_database_unavailable(exc):
        _log_unavailable(request, exc)
        return database_unavailable_response(request)
    return django_server_error(request)


def _is_page_request(request: HttpRequest) -> bool:
    """A browser on a page (a form posted, a link followed): it asks for HTML and sends no JSON
    (the annotator page's script sends JSON and accepts anything)."""
    return "text/html" in request.headers.get("Accept", "") and request.content_type != "application/json"


def _page_error(request: HttpRequest, error: AppError) -> HttpResponse:
    """A posted form goes back to the page it came from, with the message shown there; anything
    else (or no page of this site to go back to) gets the styled error page with the status."""
    from django.contrib import messages
    from django.shortcuts import redirect, render
    from django.utils.http import url_has_allowed_host_and_scheme

    back = request.headers.get("Referer", "")
    if request.method == "POST" and back and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        messages.error(request, error.message)
        return redirect(back)
    return render(request, "labeling/app_error.html", {"status": error.status, "message": error.message},
                  status=error.status)
