"""External workers and the client ids of their judgments. The judgments themselves are plain
labeling Judgments (made by labeling.services.judging), so quality, exports and training treat
them like the browser's."""

from django.conf import settings
from django.db import models

from labeling.models import Judgment, Project


class ExternalWorker(models.Model):
    """An annotator from outside (a vendor's worker, another tool's user, a simulated annotator),
    known by the client's worker id within one project. Its user has an unusable password, so it
    cannot log in; this row is its membership in the project (it is not added to
    Project.annotators, where an empty list means "open to every annotator")."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="external_workers", db_index=False)
    worker_id = models.CharField(max_length=64, help_text="The client's id of the worker.")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_worker")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "worker_id"], name="external_worker_once_per_project")
        ]

    def __str__(self) -> str:
        return f"{self.project_id}:{self.worker_id}"


class ExternalJudgment(models.Model):
    """The client's id of a judgment posted through the crowd API: a re-post of the same id
    creates nothing."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    external_id = models.CharField(max_length=200)
    judgment = models.OneToOneField(Judgment, on_delete=models.CASCADE, related_name="external")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "external_id"], name="external_judgment_once_per_project")
        ]

    def __str__(self) -> str:
        return self.external_id
