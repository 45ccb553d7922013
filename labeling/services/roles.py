"""Roles: annotators are plain users; reviewers and admins are staff and get the Django admin.
Reviewers may read everything, re-prioritise tasks and set their gold answers (audited); admins
are superusers. Judgments, assignments, prompts and samples are read-only in the admin for both."""

from django.contrib.auth.models import Group, Permission

REVIEWERS = "reviewers"
REVIEWER_PERMISSIONS = [
    "view_project", "view_prompt", "view_sample", "view_task", "change_task", "view_tasksample",
    "view_assignment", "view_judgment",
    "view_annotatorstats", "view_annotatorstatus", "view_qualitysnapshot", "view_auditlog",
]


def roles_ensure(**_kwargs) -> None:
    """Create the reviewers group with its permissions (runs after every migrate)."""
    group, _ = Group.objects.get_or_create(name=REVIEWERS)
    group.permissions.set(
        Permission.objects.filter(content_type__app_label="labeling", codename__in=REVIEWER_PERMISSIONS)
    )
