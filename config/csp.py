"""Content-Security-Policy on every response (Django 5.2 has no built-in CSP; 6.0 adds one).

The default (settings.CONTENT_SECURITY_POLICY) allows scripts, styles, fonts, frames and
connections from this origin only, no plugins, and forms posting only here. Every script the
service serves is a file (the labeling page's label.js, the admin's, Swagger UI with its init
script served separately), and so is every style: no template carries a style attribute or a
<style> block (the review pages' styles are in app.css, Swagger UI's page block in swagger.css;
the SVG charts use presentation attributes such as fill=, which the policy does not govern).
Scripts that set element.style (the admin's, Swagger UI's) are not inline styles either.
tests/labeling/test_csp_browser.py checks that a real browser reports nothing blocked.
PREFLAB_CSP replaces the policy; "off" sends none (for instance when a proxy in front sets it)."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class ContentSecurityPolicyMiddleware:
    """Adds settings.CONTENT_SECURITY_POLICY as a header unless the view set its own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.policy
        return response
