from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from labeling.models import ApiToken
from labeling.services.tokens import token_lookup


class ProjectClient:
    """The user behind a project token: an API client, not a person."""

    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, token: ApiToken):
        self.token = token
        self.username = f"token:{token.name}"

    def __str__(self) -> str:
        return self.username


class ProjectTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <key>` (or `Bearer <key>`) with a key made by `manage.py create_token`."""

    keywords = ("token", "bearer")

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].decode(errors="replace").lower() not in self.keywords:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Send the header as 'Authorization: Token <key>'."))
        token = token_lookup(raw_key=parts[1].decode(errors="replace"))
        if token is None:
            raise exceptions.AuthenticationFailed(_("Unknown or revoked token."))
        return ProjectClient(token), token

    def authenticate_header(self, request) -> str:
        return "Token"
