"""The embedded demo: two projects (A/B pairs and 3-way rankings), an admin, an annotator, and an
API token, created only when absent."""

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


@dataclass
class DemoInfo:
    created: bool
    token: str | None


def _token_file() -> Path:
    return settings.VAR_DIR / "demo_api_token.txt"


@transaction.atomic
def demo_ensure() -> DemoInfo:
    User = get_user_model()
    created = False
    if not User.objects.filter(username=DEMO_ADMIN[0]).exists():
        User.objects.create_superuser(DEMO_ADMIN[0], "admin@example.com", DEMO_ADMIN[1])
        created = True
    if not User.objects.filter(username=DEMO_ANNOTATOR[0]).exists():
        User.objects.create_user(DEMO_ANNOTATOR[0], password=DEMO_ANNOTATOR[1])
        created = True
    projects = [
        ("demo-pairs", "Demo: which answer is better?", Project.Kind.PAIRWISE, PAIRWISE_ITEMS),
        ("demo-rankings", "Demo: rank three answers", Project.Kind.RANKING, RANKING_ITEMS),
    ]
    token = None
    for slug, name, kind, items in projects:
        project, made = Project.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name, "kind": kind, "ranking_k": 3, "judgments_per_task": 2, "instructions": INSTRUCTIONS,
            },
        )
        if made:
            items_ingest(project=project, items=items)
            created = True
            if kind == Project.Kind.PAIRWISE:
                _, token = token_create(project=project, name="demo")
                _token_file().parent.mkdir(parents=True, exist_ok=True)
                _token_file().write_text(token + "\n")
    if token is None and _token_file().exists():
        token = _token_file().read_text().strip()
    return DemoInfo(created=created, token=token)
