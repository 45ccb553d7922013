"""What the OpenAPI schema says beyond the views' code: the token security scheme, and the error
shape every 4xx/5xx of the API has, so clients can rely on it."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers


class ProjectTokenScheme(OpenApiAuthenticationExtension):
    """`Authorization: Token <key>`; drf-spectacular loads it when this module is imported
    (labeling.apps.LabelingConfig.ready)."""

    target_class = "labeling.api.authentication.ProjectTokenAuthentication"
    name = "projectToken"

    def get_security_definition(self, auto_schema) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "`Token <key>` (or `Bearer <key>`), a key made by `manage.py create_token SLUG`. A key reaches "
                "its own project only; staff may use their session instead."
            ),
        }


ErrorSerializer = inline_serializer(
    "Error",
    {
        "detail": serializers.CharField(help_text="What is wrong and what to fix."),
        "errors": inline_serializer(
            "ErrorItem",
            {
                "index": serializers.IntegerField(
                    allow_null=True, help_text="Position in the top-level list, if the body is one."
                ),
                "field": serializers.CharField(help_text="Path inside that item, e.g. samples[0].text."),
                "message": serializers.CharField(),
            },
            many=True,
            required=False,
            help_text="One entry per bad item or field, when there are several.",
        ),
    },
)

_MESSAGES = {
    400: "The body or a parameter is invalid; `detail` (and `errors`, one per bad item) names the place.",
    401: "No credentials, or an unknown or revoked token.",
    403: "The token belongs to another project (or model), or the user is not staff.",
    404: "No such project or reward model.",
    409: "The request conflicts with the current state (e.g. another round is running); `detail` says why.",
    413: "Too many items or too large a body; `detail` names the limit.",
    415: "The body is not `application/json`.",
    503: "The reward model's files cannot be loaded now; try again later.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """The documented error responses of an operation, all with the Error shape."""
    return {code: OpenApiResponse(ErrorSerializer, description=_MESSAGES[code]) for code in codes}
