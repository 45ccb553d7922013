from rest_framework.permissions import BasePermission

from labeling.models import ApiToken


class ProjectAccess(BasePermission):
    """A token reaches only its own project; staff (reviewers, admins) reach every project."""

    message = "This token belongs to another project."

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ApiToken):
            return request.auth.project.slug == view.kwargs.get("slug")
        self.message = "Only API tokens and staff may use the API."
        return bool(request.user and request.user.is_staff)
