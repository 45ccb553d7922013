"""Shapes for the OpenAPI schema. Validation of items lives in services.ingestion, which checks a
thousand items much faster than nested serializers and names every bad field."""

from rest_framework import serializers

from labeling.models import Project


class ChatTurnSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "user", "assistant"])
    content = serializers.CharField()


class SampleInSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=200)
    text = serializers.CharField()
    model = serializers.CharField(required=False, help_text="Which model wrote it.")
    adapter = serializers.CharField(required=False, help_text="Policy adapter, if any.")
    generation = serializers.DictField(required=False, help_text="Generation settings.")
    metadata = serializers.DictField(required=False)


class ItemInSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=200)
    prompt = serializers.JSONField(help_text='A string, or a list of {"role", "content"} chat turns.')
    samples = SampleInSerializer(many=True)
    priority = serializers.IntegerField(required=False, default=0)
    metadata = serializers.DictField(required=False)


class IngestionResultSerializer(serializers.Serializer):
    prompts_created = serializers.IntegerField()
    samples_created = serializers.IntegerField()
    tasks_created = serializers.IntegerField()
    duplicates = serializers.ListField(child=serializers.CharField(), help_text="Items already stored.")


class ProjectSerializer(serializers.ModelSerializer):
    prompts = serializers.IntegerField(read_only=True)
    tasks = serializers.IntegerField(read_only=True)
    tasks_complete = serializers.IntegerField(read_only=True)
    judgments = serializers.IntegerField(read_only=True)

    class Meta:
        model = Project
        fields = ["slug", "name", "kind", "ranking_k", "judgments_per_task", "lease_seconds", "instructions",
                  "prompts", "tasks", "tasks_complete", "judgments"]
