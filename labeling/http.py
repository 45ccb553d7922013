"""HTTP helpers for the server-rendered pages."""

from collections.abc import Callable, Sequence
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def method_not_allowed(request: HttpRequest, allowed: Sequence[str]) -> HttpResponse:
    """A styled 405 page (Django's own is an empty body) with the Allow header."""
    response = render(request, "405.html", {"allowed": list(allowed)}, status=405)
    response["Allow"] = ", ".join(allowed)
    return response


def require_http_methods(allowed: Sequence[str]) -> Callable[[Callable], Callable]:
    """Like Django's decorator of the same name, answering other methods with the styled 405 page."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def inner(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in allowed:
                return method_not_allowed(request, allowed)
            return view(request, *args, **kwargs)

        return inner

    return decorator


require_POST = require_http_methods(["POST"])


def staff_only(view: Callable) -> Callable:
    """Anonymous visitors go to the login page; logged-in non-staff get 403 (the review, run and
    round pages)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied("These pages are for staff.")
        return view(request, *args, **kwargs)

    return login_required(wrapped)
