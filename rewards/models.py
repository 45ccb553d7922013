"""Reward models: preference datasets frozen from clean labels, and the registry of trained
reward models (which data and run made each, which one a project uses now)."""

from django.db import models
from django.db.models import Q


class PreferenceDataset(models.Model):
    """A frozen snapshot of a project's live judgments, split by prompt into train and held-out.
    The elements live in a JSONL file (one line per pair or ranking, with its split)."""

    project = models.ForeignKey("labeling.Project", on_delete=models.PROTECT, related_name="preference_datasets")
    name = models.CharField(max_length=200, blank=True)
    seed = models.IntegerField(default=0, help_text="Seed of the train/held-out split by prompt.")
    eval_fraction = models.FloatField(default=0.1, help_text="Share of prompts held out.")
    content_hash = models.CharField(max_length=64, db_index=True, help_text="SHA-256 of the JSONL file.")
    judgment_ids = models.JSONField(default=list, help_text="The judgments it was made from.")
    path = models.CharField(max_length=500, blank=True, help_text="The JSONL file of elements.")
    stats = models.JSONField(default=dict, blank=True, help_text="Counts: elements, pairs, rankings, ties...")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"dataset {self.pk} of {self.project_id} ({self.content_hash[:8]})"


class RewardModel(models.Model):
    """A trained LoRA reward model (adapter folder) and where it came from."""

    name = models.CharField(max_length=200)
    project = models.ForeignKey("labeling.Project", on_delete=models.PROTECT, related_name="reward_models")
    base_model = models.CharField(max_length=500, help_text="Local path or hub id of the base model.")
    adapter_path = models.CharField(max_length=500, help_text="PEFT adapter folder with reward_config.json.")
    run = models.ForeignKey(
        "training.TrainingRun", null=True, blank=True, on_delete=models.PROTECT, related_name="reward_models"
    )
    dataset = models.ForeignKey(
        PreferenceDataset, null=True, blank=True, on_delete=models.PROTECT, related_name="reward_models"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children",
        help_text="The model active when this one was trained, or the one it was fine-tuned from.",
    )
    metrics = models.JSONField(default=dict, blank=True)
    heldout_accuracy = models.FloatField(null=True, blank=True)
    offset = models.FloatField(default=0.0, help_text="Subtracted from raw rewards so reference samples average 0.")
    is_active = models.BooleanField(default=False)
    note = models.TextField(blank=True, help_text="Audit trail: activations, comparisons.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["project"], condition=Q(is_active=True), name="one_active_reward_model"),
            models.UniqueConstraint(fields=["run"], name="one_reward_model_per_run"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({'active' if self.is_active else 'inactive'})"
