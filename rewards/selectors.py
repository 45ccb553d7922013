"""Reads for the rewards app."""

from django.db.models import QuerySet

from labeling.models import ApiToken, Project
from rewards.models import PreferenceDataset, RewardModel
from training.lineage import parent_chain


def reward_model_active(*, project: Project) -> RewardModel | None:
    """The model a project uses now, if any."""
    return RewardModel.objects.filter(project=project, is_active=True).first()


def reward_models_for_project(*, project: Project) -> QuerySet[RewardModel]:
    return RewardModel.objects.filter(project=project).select_related("run", "dataset", "parent")


def reward_model_lineage(*, model: RewardModel, limit: int = 50) -> list[RewardModel]:
    """The model, its parent, the parent's parent... (newest first)."""
    return parent_chain(model, limit)


def datasets_for_project(*, project: Project) -> QuerySet[PreferenceDataset]:
    return PreferenceDataset.objects.filter(project=project)


def token_may_score(*, token: ApiToken, model: RewardModel) -> bool:
    """A project token may score with the models trained on its project's data."""
    return not token.revoked and token.project_id == model.project_id
