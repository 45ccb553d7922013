"""Labeling data model: projects hold prompts, prompts hold samples, tasks compare 2..K samples,
assignments lease a task to an annotator, judgments record the answer. Nothing is deleted:
quality filters (and undo) flag judgments instead."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from labeling.quality.config import validate_quality_config


class Project(models.Model):
    class Kind(models.TextChoices):
        PAIRWISE = "pairwise", "Pairwise (A/B)"
        RANKING = "ranking", "K-way ranking"

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    instructions = models.TextField(blank=True, help_text="Markdown shown to annotators.")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PAIRWISE)
    ranking_k = models.PositiveSmallIntegerField(
        default=4, help_text="Samples per ranking task (K); ignored for pairwise projects."
    )
    judgments_per_task = models.PositiveSmallIntegerField(default=3)
    lease_seconds = models.PositiveIntegerField(default=600)
    is_active = models.BooleanField(default=True)
    annotators = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="labeling_projects",
        help_text="Who may label here. Empty: every annotator.",
    )
    quality_config = models.JSONField(
        default=dict,
        blank=True,
        help_text="Quality-filter settings merged over the defaults in labeling/quality/config.py.",
        validators=[validate_quality_config],
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def lease_duration(self) -> timedelta:
        return timedelta(seconds=self.lease_seconds)

    @property
    def samples_per_task(self) -> int:
        return 2 if self.kind == self.Kind.PAIRWISE else self.ranking_k


class ApiToken(models.Model):
    """A project-scoped key for API clients. Only its SHA-256 is stored."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.project.slug}:{self.name}"


class Prompt(models.Model):
    # Indexed by the (project, external_id) constraint; a second index would only slow ingestion.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts", db_index=False)
    external_id = models.CharField(max_length=200)
    text = models.TextField(blank=True)
    messages = models.JSONField(
        null=True, blank=True, help_text="Chat turns [{role, content}], when the prompt is a chat."
    )
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "external_id"], name="prompt_unique_external_id")
        ]

    def __str__(self) -> str:
        return self.external_id


class Sample(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="samples", db_index=False)
    external_id = models.CharField(max_length=200)
    text = models.TextField()
    model_name = models.CharField(max_length=200, blank=True, help_text="Which model wrote it.")
    adapter = models.CharField(max_length=200, blank=True, help_text="Policy adapter, if any.")
    generation = models.JSONField(default=dict, blank=True, help_text="Generation settings.")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["prompt", "external_id"], name="sample_unique_external_id")
        ]

    def __str__(self) -> str:
        return self.external_id


class Task(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tasks", db_index=False)
    # Tasks and their slots are written only by ingestion, in the same transaction as the rows
    # they point to, and never deleted apart from them; a database FK check per row would cost
    # about a fifth of ingestion time (see bench/), so these references are kept by the code.
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="tasks", db_constraint=False)
    samples = models.ManyToManyField(Sample, through="TaskSample", related_name="tasks")
    priority = models.IntegerField(default=0, help_text="Higher is served first.")
    is_gold = models.BooleanField(default=False)
    gold_answer = models.JSONField(null=True, blank=True)
    judgments_wanted = models.PositiveSmallIntegerField()
    # Kept in step with live judgments so the next-task query needs no aggregate.
    judgment_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "-priority", "id"], name="task_queue_order"),
            # The next-task query (services/assignment.py) reads only tasks still short of judgments:
            # with the index above it walked past every full task at the head of the queue (1.7 ms
            # at 19,000 full tasks, growing without bound; 0.02 ms with this one, bench/README_load.md).
            models.Index(fields=["project", "is_gold", "-priority", "id"], name="task_queue_open",
                         condition=Q(judgment_count__lt=F("judgments_wanted"))),
        ]

    def __str__(self) -> str:
        return f"task {self.pk}"


class TaskSample(models.Model):
    """A sample's canonical slot in a task: position 0 is "a", 1 is "b", and so on."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="slots", db_index=False, db_constraint=False)
    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, db_constraint=False)
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["task", "position"], name="task_sample_position"),
            models.UniqueConstraint(fields=["task", "sample"], name="task_sample_once"),
        ]

    def __str__(self) -> str:
        return f"task {self.task_id} #{self.position}: sample {self.sample_id}"


class Assignment(models.Model):
    class Status(models.TextChoices):
        OPEN = "open"
        SUBMITTED = "submitted"
        SKIPPED = "skipped"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    served_at = models.DateTimeField()
    lease_expires_at = models.DateTimeField()
    shown_order = models.JSONField(help_text="Sample ids in the order the page showed them.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "annotator"], name="assignment_once_per_annotator")
        ]
        indexes = [
            models.Index(fields=["task", "status", "lease_expires_at"], name="assignment_leases"),
            models.Index(fields=["annotator", "status"], name="assignment_by_annotator"),
        ]

    def __str__(self) -> str:
        return f"task {self.task_id} for {self.annotator_id} ({self.status})"


class Judgment(models.Model):
    class Choice(models.TextChoices):
        A = "a", "A better"
        B = "b", "B better"
        TIE = "tie", "Tie"
        BOTH_BAD = "both_bad", "Both bad"

    assignment = models.ForeignKey(Assignment, on_delete=models.PROTECT, related_name="judgments")
    task = models.ForeignKey(Task, on_delete=models.PROTECT, related_name="judgments")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="judgments"
    )
    # Pairwise: choice in canonical terms (a = the task's position 0). Ranking: groups of
    # sample ids, best first; samples in one group are tied.
    choice = models.CharField(max_length=10, choices=Choice.choices, blank=True)
    ranking = models.JSONField(null=True, blank=True)
    rationale = models.TextField(blank=True)
    shown_order = models.JSONField()
    response_ms = models.PositiveIntegerField(help_text="Served to submitted, measured on the server.")
    active_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Reported by the page.")
    created_at = models.DateTimeField(auto_now_add=True)
    # Undo withdraws a judgment instead of deleting it.
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    # Quality filters flag instead of deleting: set by the recomputation, overridden by hand.
    included = models.BooleanField(default=True, help_text="In the clean dataset (filters, then override).")
    weight = models.FloatField(default=1.0, help_text="The annotator's reliability weight, 0..1.")
    quality_reasons = models.JSONField(default=list, blank=True, help_text='[{"filter", "detail"}] that flag it.')
    signals = models.JSONField(default=dict, blank=True, help_text="Speed, position and length signals.")
    override = models.CharField(
        max_length=8,
        choices=[("", "none"), ("include", "include"), ("exclude", "exclude")],
        blank=True,
        default="",
        help_text="A reviewer's decision; wins over the filters.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["assignment"], condition=Q(withdrawn_at__isnull=True), name="one_live_judgment"
            )
        ]
        indexes = [models.Index(fields=["task", "withdrawn_at"], name="judgment_by_task")]

    def __str__(self) -> str:
        return f"judgment {self.pk} on task {self.task_id}"


# Quality models (annotator stats and status, snapshots, audit log) live in labeling/quality/.
from labeling.quality.models import (  # noqa: E402, F401
    AnnotatorStats,
    AnnotatorStatus,
    AuditLog,
    QualitySnapshot,
    QualityState,
)
