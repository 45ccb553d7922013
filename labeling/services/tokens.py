"""Project-scoped API tokens. The raw key is shown once; only its SHA-256 is stored."""

import hashlib
import secrets

from labeling.models import ApiToken, Project


def token_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def token_create(*, project: Project, name: str) -> tuple[ApiToken, str]:
    raw_key = f"pl_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(project=project, name=name, key_hash=token_hash(raw_key))
    return token, raw_key


def token_lookup(*, raw_key: str) -> ApiToken | None:
    return (
        ApiToken.objects.select_related("project").filter(key_hash=token_hash(raw_key), revoked=False).first()
    )
