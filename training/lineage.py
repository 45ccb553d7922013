"""Registry helpers shared by the reward-model and policy registries (plain functions over any
model with a ``parent`` foreign key and an ``is_active`` flag scoped to a project)."""

from collections.abc import Callable
from typing import Any

from django.db import transaction


def parent_chain(model: Any, limit: int = 50) -> list[Any]:
    """The model, its parent, the parent's parent... (newest first; stops at a cycle or ``limit``)."""
    chain, seen, current = [], set(), model
    while current is not None and current.pk not in seen and len(chain) < limit:
        chain.append(current)
        seen.add(current.pk)
        current = current.parent
    return chain


def activate_exclusively(model: Any, *, audit: Callable[[Any, str], None], by: str, reason: str = "") -> Any:
    """Make ``model`` its project's only active one; the previous one is deactivated. Both audited."""
    manager = type(model).objects
    with transaction.atomic():
        previous = list(manager.select_for_update().filter(project_id=model.project_id, is_active=True)
                        .exclude(pk=model.pk))
        for old in previous:
            manager.filter(pk=old.pk).update(is_active=False)
            audit(old, f"deactivated by {by}: {model._meta.verbose_name} {model.pk} activated")
        manager.filter(pk=model.pk).update(is_active=True)
        model.is_active = True
        audit(model, f"activated by {by}" + (f": {reason}" if reason else ""))
    return model
