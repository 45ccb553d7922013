"""Training runs, shared by reward-model and policy training."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class TrainingRun(models.Model):
    class Kind(models.TextChoices):
        REWARD = "reward", "Reward model"
        SFT = "sft", "Policy (SFT)"
        PPO = "ppo", "Policy (PPO)"
        GENERATE = "generate", "Generation into the labeling queue"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    config = models.JSONField(default=dict, help_text="The trainer's configuration.")
    inputs = models.JSONField(default=dict, help_text="What it trains on, e.g. {'dataset': id}.")
    progress = models.FloatField(default=0.0, help_text="0 to 1.")
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=list, blank=True, help_text="Logged metrics over time.")
    final_metrics = models.JSONField(default=dict, blank=True)
    logs = models.TextField(blank=True)
    error = models.TextField(blank=True)
    artifact_path = models.CharField(max_length=500, blank=True)
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Claims so far; above 1 means resumed.")
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(
        default=timezone.now, help_text="When its message was last sent; a queued run not claimed within "
        "PREFLAB_REQUEUE_AFTER_SECONDS is sent again (config/jobs.py)."
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} run {self.pk} ({self.status})"
