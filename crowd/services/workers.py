"""External workers: users that cannot log in, one per (project, worker id)."""

import re

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

from crowd.models import ExternalWorker
from labeling.models import Project

WORKER_ID = re.compile(r"[A-Za-z0-9_.@+-]{1,64}\Z")
WORKER_ID_RULE = "1 to 64 characters: letters, digits and _ . @ + -"
USERNAME_PREFIX = "crowd."


def worker_username(*, project: Project, worker_id: str) -> str:
    """crowd.<project slug>.<worker id>: the prefix marks it as external, the slug keeps one
    vendor's worker "w1" apart from another project's "w1"."""
    return f"{USERNAME_PREFIX}{project.slug}.{worker_id}"


def workers_ensure(*, project: Project, worker_ids: set[str]) -> tuple[dict[str, AbstractBaseUser], int]:
    """The user of each worker id in this project, created on first sight with an unusable
    password (so it cannot log in). Returns ({worker id: user}, how many were created). Call it
    inside the request's transaction: a refused request leaves no worker behind."""
    found = {
        worker.worker_id: worker.user
        for worker in ExternalWorker.objects.filter(project=project, worker_id__in=worker_ids).select_related("user")
    }
    user_model = get_user_model()
    created = 0
    for worker_id in sorted(worker_ids - found.keys()):
        base = username = worker_username(project=project, worker_id=worker_id)  # at most 121 characters
        suffix = 1
        while user_model.objects.filter(username=username).exists():  # a login user took the name first
            suffix += 1
            username = f"{base}-{suffix}"
        user = user_model.objects.create_user(username=username, password=None)  # unusable password
        ExternalWorker.objects.create(project=project, worker_id=worker_id, user=user)
        found[worker_id] = user
        created += 1
    return found, created
