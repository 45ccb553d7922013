"""Shapes of the rounds API (for the OpenAPI schema and the answers)."""

from rest_framework import serializers

from rounds.models import Round, RoundStep
from rounds.services import round_lineage


class RoundStartSerializer(serializers.Serializer):
    config = serializers.DictField(
        required=False, help_text="Settings per step (reward, ppo, generate, enqueue) laid over the defaults; "
        "left out: the project's last round's settings.")


class RoundStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = RoundStep
        fields = ["name", "position", "status", "attempts", "run", "inputs", "outputs", "error", "started_at",
                  "finished_at"]


class RoundSerializer(serializers.ModelSerializer):
    steps = RoundStepSerializer(many=True, read_only=True)
    lineage = serializers.SerializerMethodField(
        help_text="judgments -> dataset -> reward model -> policy -> generation batch -> samples and tasks (ids).")

    class Meta:
        model = Round
        fields = ["id", "number", "status", "current_step", "error", "trigger", "config", "created_at",
                  "finished_at", "steps", "lineage"]

    def get_lineage(self, obj: Round) -> dict:
        return round_lineage(round=obj)


class RoundListSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = RoundSerializer(many=True)
