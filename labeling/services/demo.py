"""The embedded demo: two projects (A/B pairs and 3-way rankings), an admin, an annotator, and an
API token, created only when absent, and only in demo mode: the accounts have published
passwords (admin/admin), so with DEBUG off they are refused unless asked for explicitly."""

import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from labeling.demo_data import PAIRWISE_ITEMS, RANKING_ITEMS
from labeling.models import Project
from labeling.services.ingestion import items_ingest
from labeling.services.tokens import token_create

DEMO_ADMIN = ("admin", "admin")
DEMO_ANNOTATOR = ("annotator", "annotator")
INSTRUCTIONS = """Pick the answer that is **more helpful, honest and harmless**.

- Prefer correct, complete and clear answers; length is not a virtue in itself.
- A polite refusal beats help with something harmful.
- *Tie*: both are equally good. *Both bad*: neither is acceptable.
"""
RANKING_INSTRUCTIONS = """Put the answers in order, from the **most helpful, honest and harmless** to the least.

- Prefer correct, complete and clear answers; length is not a virtue in itself.
- A polite refusal beats help with something harmful.
- Every answer gets a place. Two answers that are equally good can share one (a tie).
"""


class DemoRefused(Exception):
    """Demo accounts were asked for where they must not exist; the message says how to proceed."""


@dataclass
class DemoInfo:
    created: bool
    token: str | None


def _token_file() -> Path:
    return settings.VAR_DIR / "demo_api_token.txt"


def _write_private(path: Path, text: str) -> None:
    """Write a secret readable by its owner only (0600), also when the file already exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)


def demo_accounts_with_known_passwords() -> list[str]:
    """The demo logins that exist and still have their published passwords."""
    User = get_user_model()
    found = []
    for username, password in (DEMO_ADMIN, DEMO_ANNOTATOR):
        user = User.objects.filter(username=username).first()
        if user is not None and user.check_password(password):
            found.append(username)
    return found


@transaction.atomic
def demo_ensure(*, without_debug: bool = False) -> DemoInfo:
    """Create the demo data where absent. Refused (DemoRefused) when DEBUG is off, unless
    `without_debug`: a superuser admin/admin must not appear on a server by accident."""
    if not settings.DEBUG and not without_debug:
        raise DemoRefused(
            f"The demo accounts ({DEMO_ADMIN[0]}/{DEMO_ADMIN[1]}, {DEMO_ANNOTATOR[0]}/{DEMO_ANNOTATOR[1]}) are made "
            "only in demo mode, with DJANGO_DEBUG=1 (make run sets it). To make them with DEBUG off anyway, pass "
            "--demo-without-debug; leave out --demo on a real server."
        )
    User = get_user_model()
    created = False
    if not User.objects.filter(username=DEMO_ADMIN[0]).exists():
        User.objects.create_superuser(DEMO_ADMIN[0], "admin@example.com", DEMO_ADMIN[1])
        created = True
    if not User.objects.filter(username=DEMO_ANNOTATOR[0]).exists():
        User.objects.create_user(DEMO_ANNOTATOR[0], password=DEMO_ANNOTATOR[1])
        created = True
    projects = [
        ("demo-pairs", "Demo: which answer is better?", Project.Kind.PAIRWISE, PAIRWISE_ITEMS, INSTRUCTIONS),
        ("demo-rankings", "Demo: rank three answers", Project.Kind.RANKING, RANKING_ITEMS, RANKING_INSTRUCTIONS),
    ]
    token = None
    for slug, name, kind, items, instructions in projects:
        project, made = Project.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name, "kind": kind, "ranking_k": 3, "judgments_per_task": 2, "instructions": instructions,
            },
        )
        if not made and project.instructions == INSTRUCTIONS and instructions != INSTRUCTIONS:
            # Demos made before the ranking project had its own instructions showed the pairwise ones.
            Project.objects.filter(pk=project.pk).update(instructions=instructions)
        if made:
            items_ingest(project=project, items=items)
            created = True
            if kind == Project.Kind.PAIRWISE:
                _, token = token_create(project=project, name="demo")
                _write_private(_token_file(), token + "\n")
    if token is None and _token_file().exists():
        _token_file().chmod(0o600)  # a file written 0644 by an older version
        token = _token_file().read_text().strip()
    return DemoInfo(created=created, token=token)
