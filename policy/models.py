"""The policy registry: LoRA policy adapters on a base model, how each was made (SFT or PPO, from
which parent, against which reward model, by which run) and which one a project samples from."""

from django.db import models
from django.db.models import Q


class PolicyModel(models.Model):
    class Kind(models.TextChoices):
        SFT = "sft", "Supervised fine-tuning"
        PPO = "ppo", "PPO"

    name = models.CharField(max_length=200)
    project = models.ForeignKey("labeling.Project", on_delete=models.PROTECT, related_name="policy_models")
    base_model = models.CharField(max_length=500, help_text="Local path or hub id of the base causal LM.")
    adapter_path = models.CharField(max_length=500, help_text="PEFT adapter folder (policy_config.json beside it).")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children",
        help_text="The policy this one was trained from (its adapter was the starting point).",
    )
    reward_model = models.ForeignKey(
        "rewards.RewardModel", null=True, blank=True, on_delete=models.PROTECT, related_name="policies",
        help_text="The reward model PPO optimised against.",
    )
    run = models.ForeignKey(
        "training.TrainingRun", null=True, blank=True, on_delete=models.PROTECT, related_name="policy_models"
    )
    metrics = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=False, help_text="The policy the project's generation samples from.")
    note = models.TextField(blank=True, help_text="Audit trail: activations.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "policy"
        verbose_name_plural = "policies"
        constraints = [
            models.UniqueConstraint(fields=["project"], condition=Q(is_active=True), name="one_active_policy"),
            models.UniqueConstraint(fields=["run"], name="one_policy_per_run"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({'active' if self.is_active else 'inactive'})"

    @property
    def version(self) -> str:
        """The adapter name samples carry (provenance)."""
        return f"policy-{self.pk}"
