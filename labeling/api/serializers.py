"""Shapes for the OpenAPI schema. Validation of items lives in services.ingestion, which checks a
thousand items much faster than nested serializers and names every bad field."""

from django.conf import settings
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from labeling.models import Project
from labeling.services.ingestion import CHAT_ROLES, MAX_ID_LENGTH, MAX_SAMPLES_PER_ITEM

# What ingestion refuses, said in the schema too, so clients (and the schema fuzz in
# tests/security) know a valid item: ids and texts hold something besides blanks.
NOT_BLANK = RegexValidator(r"\S", "must not be blank")


def _id_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(min_length=1, max_length=MAX_ID_LENGTH, validators=[NOT_BLANK], **kwargs)


def _text_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(min_length=1, max_length=settings.INGEST_MAX_TEXT_CHARS, validators=[NOT_BLANK],
                                 **kwargs)


@extend_schema_field({
    "oneOf": [
        {"type": "string", "minLength": 1, "pattern": r"\S"},
        {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["role", "content"],
            "properties": {"role": {"type": "string", "enum": sorted(CHAT_ROLES)}, "content": {"type": "string"}},
        }},
    ],
})
class PromptField(serializers.JSONField):
    """A string, or chat turns."""


class SampleInSerializer(serializers.Serializer):
    external_id = _id_field()
    text = _text_field()
    model = serializers.CharField(required=False, max_length=MAX_ID_LENGTH, help_text="Which model wrote it.")
    adapter = serializers.CharField(required=False, max_length=MAX_ID_LENGTH, help_text="Policy adapter, if any.")
    generation = serializers.DictField(required=False, help_text="Generation settings.")
    metadata = serializers.DictField(required=False)


class ItemInSerializer(serializers.Serializer):
    external_id = _id_field()
    prompt = PromptField(help_text='A string, or a list of {"role", "content"} chat turns.')
    samples = serializers.ListField(child=SampleInSerializer(), min_length=1, max_length=MAX_SAMPLES_PER_ITEM)
    priority = serializers.IntegerField(required=False, default=0, min_value=-1_000_000, max_value=1_000_000)
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
