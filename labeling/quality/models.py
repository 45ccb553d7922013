"""Quality data model: per-annotator statistics and status (pause/ban), per-project snapshots
for the over-time charts, the recomputation state, and the audit log of manual decisions.

Imported at the bottom of labeling/models.py, so these models belong to the labeling app."""

from django.conf import settings
from django.db import models


class QualityState(models.Model):
    """One row per project: what the last recomputation saw, and whether one is queued."""

    project = models.OneToOneField("labeling.Project", on_delete=models.CASCADE, related_name="quality_state")
    new_judgments = models.PositiveIntegerField(default=0, help_text="Judgments since the last recomputation.")
    queued_at = models.DateTimeField(null=True, blank=True, help_text="Set while a recomputation is queued.")
    fingerprint = models.CharField(max_length=64, blank=True, help_text="Inputs of the last recomputation.")
    computed_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"quality state of {self.project_id}"


class AnnotatorStatus(models.Model):
    """A reviewer's decision about an annotator in one project. Paused: no new tasks. Banned: no
    tasks, and their judgments are left out of the clean data. Both are reversible."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        PAUSED = "paused"
        BANNED = "banned"

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="annotator_statuses")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    reason = models.TextField(blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "annotator"], name="annotator_status_once")]
        verbose_name_plural = "annotator statuses"

    def __str__(self) -> str:
        return f"{self.annotator_id} in {self.project_id}: {self.status}"


class AnnotatorStats(models.Model):
    """What the last recomputation found about one annotator in one project."""

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="annotator_stats")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    n_judgments = models.PositiveIntegerField(default=0)
    n_included = models.PositiveIntegerField(default=0)
    reliability = models.FloatField(null=True, help_text="Dawid-Skene expected accuracy, or CrowdBT eta.")
    informativeness = models.FloatField(null=True, help_text="Chance-corrected reliability (a kappa).")
    weight = models.FloatField(default=1.0, help_text="Weight of each of their judgments, 0..1.")
    median_seconds = models.FloatField(null=True)
    too_fast_share = models.FloatField(default=0.0)
    gold_n = models.PositiveIntegerField(default=0)
    gold_correct = models.PositiveIntegerField(default=0)
    gold_accuracy = models.FloatField(null=True)
    gold_low = models.FloatField(null=True)
    gold_high = models.FloatField(null=True)
    loo_agreement = models.FloatField(null=True, help_text="Agreement with the consensus of the others.")
    mean_kappa = models.FloatField(null=True, help_text="Mean Cohen's kappa with overlapping annotators.")
    mean_tau = models.FloatField(null=True, help_text="Rankings: mean Kendall tau-b with the others' consensus.")
    left_rate = models.FloatField(null=True, help_text="Share of picks shown first (left).")
    left_p = models.FloatField(null=True)
    longer_rate = models.FloatField(null=True, help_text="Share of picks that were the longest sample.")
    length_p = models.FloatField(null=True)
    spammer_score = models.FloatField(default=0.0)
    flagged = models.BooleanField(default=False)
    reasons = models.JSONField(default=list, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "annotator"], name="annotator_stats_once")]
        verbose_name_plural = "annotator stats"

    def __str__(self) -> str:
        return f"stats of {self.annotator_id} in {self.project_id}"


class QualitySnapshot(models.Model):
    """Project-level agreement at one recomputation; the dashboard charts them over time."""

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="quality_snapshots")
    computed_at = models.DateTimeField()
    fingerprint = models.CharField(max_length=64)
    n_judgments = models.PositiveIntegerField(default=0)
    n_included = models.PositiveIntegerField(default=0)
    n_annotators = models.PositiveIntegerField(default=0)
    n_flagged = models.PositiveIntegerField(default=0)
    alpha = models.FloatField(null=True, help_text="Krippendorff's alpha over all live judgments.")
    alpha_clean = models.FloatField(null=True, help_text="Krippendorff's alpha over included judgments.")
    mean_kappa = models.FloatField(null=True)
    mean_tau = models.FloatField(null=True)
    gold_accuracy = models.FloatField(null=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["computed_at", "pk"]
        indexes = [models.Index(fields=["project", "computed_at"], name="snapshot_by_project")]

    def __str__(self) -> str:
        return f"snapshot of {self.project_id} at {self.computed_at:%Y-%m-%d %H:%M}"


class AuditLog(models.Model):
    """Every manual quality decision, and every admin edit of a project or an API token: who, when,
    what, before and after, and why."""

    # SET_NULL: the log outlives a deleted project (its deletion is an entry too).
    project = models.ForeignKey(
        "labeling.Project", null=True, on_delete=models.SET_NULL, related_name="audit_entries"
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    action = models.CharField(max_length=40)
    target_type = models.CharField(max_length=40)
    target_id = models.BigIntegerField()
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["project", "-created_at"], name="audit_by_project")]

    def __str__(self) -> str:
        return f"{self.action} on {self.target_type} {self.target_id}"
