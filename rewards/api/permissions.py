from rest_framework.permissions import BasePermission

from labeling.models import ApiToken
from rewards.selectors import token_may_score


class RewardModelAccess(BasePermission):
    """Staff may use every model; a project token only the models trained on its project's data."""

    message = "This token's project did not train this reward model."

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ApiToken):
            return True  # checked against the model in has_object_permission
        self.message = "Only API tokens and staff may use the API."
        return bool(request.user and request.user.is_staff)

    def has_object_permission(self, request, view, obj) -> bool:
        if isinstance(request.auth, ApiToken):
            self.message = "This token's project did not train this reward model."
            return token_may_score(token=request.auth, model=obj)
        return bool(request.user and request.user.is_staff)
