"""RLHF rounds: one pass of labels -> dataset -> reward model -> policy -> new samples -> tasks,
each step recorded with its inputs, outputs, status and error, and the lineage on the round."""

from django.conf import settings
from django.db import models


class Round(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"  # a step is being executed
        WAITING = "waiting"  # a step waits for its training run; the run's end advances the round
        SUCCEEDED = "succeeded"
        FAILED = "failed"  # stopped at `current_step`; retry resumes there

    class Trigger(models.TextChoices):
        MANUAL = "manual"
        ADMIN = "admin"
        THRESHOLD = "threshold"
        SCHEDULE = "schedule"
        API = "api"

    project = models.ForeignKey("labeling.Project", on_delete=models.PROTECT, related_name="rounds")
    number = models.PositiveIntegerField(help_text="1, 2, ... per project.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING, db_index=True)
    current_step = models.CharField(max_length=16, blank=True, help_text="The step running, waiting or failed.")
    error = models.TextField(blank=True)
    config = models.JSONField(default=dict, blank=True, help_text="Settings per step (rounds.services.DEFAULTS).")
    execute_here = models.BooleanField(
        default=False, help_text="Training runs execute in the process that advances the round (run_round --here) "
        "instead of on `gpu` workers.")
    trigger = models.CharField(max_length=12, choices=Trigger.choices, default=Trigger.MANUAL)
    # Lineage: judgments (in the dataset) -> dataset -> reward model -> policy -> generation batch.
    dataset = models.ForeignKey("rewards.PreferenceDataset", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="rounds")
    reward_model = models.ForeignKey("rewards.RewardModel", null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="rounds", help_text="The reward model this round trained.")
    policy = models.ForeignKey("policy.PolicyModel", null=True, blank=True, on_delete=models.PROTECT,
                               related_name="rounds", help_text="The policy this round's PPO trained.")
    generation_run = models.ForeignKey(
        "training.TrainingRun", null=True, blank=True, on_delete=models.PROTECT, related_name="generated_rounds",
        help_text="The generation batch (samples carry its id as metadata.generation_batch).")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="one_round_number_per_project")]

    def __str__(self) -> str:
        return f"round {self.number} of {self.project_id} ({self.status})"


class RoundStep(models.Model):
    class Name(models.TextChoices):
        QUALITY = "quality", "1. recompute quality"
        SNAPSHOT = "snapshot", "2. freeze the dataset"
        REWARD = "reward", "3. train, evaluate, activate the reward model"
        PPO = "ppo", "4. PPO from the active policy"
        GENERATE = "generate", "5. generate new samples"
        ENQUEUE = "enqueue", "6. enqueue them as tasks"

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        WAITING = "waiting"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=16, choices=Name.choices)
    position = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    run = models.ForeignKey("training.TrainingRun", null=True, blank=True, on_delete=models.PROTECT,
                            related_name="round_steps", help_text="The training run this step waits for, if any.")
    inputs = models.JSONField(default=dict, blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["round", "position"]
        constraints = [models.UniqueConstraint(fields=["round", "name"], name="one_step_name_per_round")]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"
