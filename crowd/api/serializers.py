"""Shapes for the OpenAPI schema. Validation of rows lives in crowd.services.judgments, which
names every bad row and field, as ingestion does."""

from django.core.validators import RegexValidator
from rest_framework import serializers

from crowd.services.judgments import CHOICES, MAX_SECONDS
from crowd.services.workers import WORKER_ID_RULE
from labeling.api.serializers import NOT_BLANK
from labeling.services.judging import MAX_RATIONALE


class CrowdSampleSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The sample's id: use it in a ranking.")
    external_id = serializers.CharField(help_text="The id it was pushed with.")
    text = serializers.CharField()


class CrowdTaskSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The task's id: `task` in a judgment.")
    kind = serializers.ChoiceField(choices=["pairwise", "ranking"])
    prompt = serializers.JSONField(help_text='A string, or a list of {"role", "content"} chat turns, as pushed.')
    samples = CrowdSampleSerializer(many=True, help_text='In canonical order: the first is "a", the second "b".')


class CrowdTaskPageSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Open tasks in all pages.")
    next = serializers.URLField(allow_null=True, help_text="The next page, or null on the last.")
    results = CrowdTaskSerializer(many=True)


class CrowdJudgmentInSerializer(serializers.Serializer):
    external_id = serializers.CharField(min_length=1, max_length=200, validators=[NOT_BLANK],
                                        help_text="Your id of this judgment: a re-post creates nothing.")
    task = serializers.IntegerField(help_text="A task id from the task list.")
    annotator = serializers.CharField(validators=[RegexValidator(r"^[A-Za-z0-9_.@+-]{1,64}$")],
                                      help_text=f"Your worker's id ({WORKER_ID_RULE}); made an annotator of this "
                                      "project that cannot log in, on first sight.")
    choice = serializers.ChoiceField(choices=list(CHOICES), required=False,
                                     help_text="Pairwise projects: a = the first sample listed, b = the second.")
    ranking = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()), required=False,
                                    help_text="Ranking projects: groups of sample ids, best first; one group = tied.")
    seconds = serializers.FloatField(required=False, min_value=0, max_value=MAX_SECONDS,
                                     help_text="Time the worker took; the too-fast filter judges it. Without it the "
                                     "time is recorded as 0, which that filter (when on) counts as too fast.")
    rationale = serializers.CharField(required=False, max_length=MAX_RATIONALE)


class CrowdCreatedSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    judgment_id = serializers.IntegerField()


class CrowdResultSerializer(serializers.Serializer):
    judgments_created = serializers.IntegerField()
    annotators_created = serializers.IntegerField(help_text="External workers seen for the first time.")
    created = CrowdCreatedSerializer(many=True)
    duplicates = serializers.ListField(child=serializers.CharField(), help_text="external_ids already stored.")
