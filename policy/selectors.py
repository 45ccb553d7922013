"""Reads for the policy app."""

from django.db.models import Count, QuerySet

from labeling.models import Project, Prompt
from policy.models import PolicyModel
from training.lineage import parent_chain

PROMPT_STRATEGIES = ("fewest", "all", "list")


def policy_active(*, project: Project) -> PolicyModel | None:
    """The policy a project samples from now, if any."""
    return PolicyModel.objects.filter(project=project, is_active=True).first()


def policies_for_project(*, project: Project) -> QuerySet[PolicyModel]:
    return PolicyModel.objects.filter(project=project).select_related("run", "parent", "reward_model")


def policy_lineage(*, model: PolicyModel, limit: int = 50) -> list[PolicyModel]:
    """The policy, its parent, the parent's parent... (newest first)."""
    return parent_chain(model, limit)


def prompts_for_generation(
    *, project: Project, strategy: str = "fewest", limit: int | None = None, prompt_ids: list[int] | None = None
) -> list[Prompt]:
    """The prompts to sample for: 'fewest' (those with the fewest samples first, then oldest),
    'all' (in creation order), or 'list' (the given ids, in that order; unknown ids ignored)."""
    if strategy not in PROMPT_STRATEGIES:
        raise ValueError(f"strategy must be one of {PROMPT_STRATEGIES}, not {strategy!r}")
    rows = Prompt.objects.filter(project=project)
    if strategy == "list":
        by_id = {p.pk: p for p in rows.filter(pk__in=prompt_ids or [])}
        chosen = [by_id[i] for i in prompt_ids or [] if i in by_id]
        return chosen[:limit] if limit else chosen
    if strategy == "fewest":
        rows = rows.annotate(sample_count=Count("samples")).order_by("sample_count", "pk")
    else:
        rows = rows.order_by("pk")
    return list(rows[:limit] if limit else rows)
