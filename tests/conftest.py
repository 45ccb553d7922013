import contextlib
import os

import pytest

from tests.celery_worker import celery_broker, celery_worker  # noqa: F401 - real-worker fixtures for all tests

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(request, django_db_modify_db_settings_parallel_suffix) -> None:
    """SQLite runs in WAL mode (config/settings.py). Django deletes an old test database file before
    making a new one, but not the -wal and -shm files a killed run left beside it; SQLite would
    replay that stale log into the new file. Delete them too, unless the database is kept."""
    from django.conf import settings

    name = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3") and name and not request.config.getvalue("reuse_db"):
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(f"{name}{suffix}")


@pytest.fixture
def make_project(db):
    from labeling.models import Project

    def make(slug: str = "proj", **fields) -> Project:
        defaults = {"name": slug.title(), "kind": Project.Kind.PAIRWISE, "judgments_per_task": 2}
        defaults.update(fields)
        return Project.objects.create(slug=slug, **defaults)

    return make


@pytest.fixture
def project(make_project):
    return make_project()


@pytest.fixture
def make_user(db, django_user_model):
    def make(username: str, **fields):
        return django_user_model.objects.create_user(username=username, password="pw-" + username, **fields)

    return make


@pytest.fixture
def token_client(project):
    """A DRF client holding an API token for `project`."""
    from rest_framework.test import APIClient

    from labeling.services.tokens import token_create

    _, key = token_create(project=project, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client



@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def empty_cache():
    """Per-process caches (project access, open-task counts) must not leak between tests."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
