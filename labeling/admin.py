from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models

from labeling.api.parsers import SURROGATE, JSONBodyError, json_body_parse
from labeling.models import (
    AnnotatorStats,
    AnnotatorStatus,
    ApiToken,
    Assignment,
    AuditLog,
    Judgment,
    Project,
    Prompt,
    QualitySnapshot,
    QualityState,
    Sample,
    Task,
    TaskSample,
)


class StrictJSONFormField(forms.JSONField):
    """The admin's JSON field through the API's parser: a lone surrogate, NUL, deep nesting or
    NaN is a form error naming the path, not a stored row that breaks every later page."""

    def to_python(self, value):
        if isinstance(value, str) and value not in self.empty_values and not self.disabled:
            try:
                json_body_parse(value)
            except JSONBodyError as exc:
                raise ValidationError(exc.message, code="invalid") from None
        return super().to_python(value)

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return forms.fields.InvalidJSONInput(data)

    def prepare_value(self, value):
        text = super().prepare_value(value)
        # A value stored before these checks (SQLite keeps lone surrogates) must still display.
        return SURROGATE.sub("\ufffd", text) if isinstance(text, str) else text


class StrictJSONAdmin(admin.ModelAdmin):
    formfield_overrides = {models.JSONField: {"form_class": StrictJSONFormField}}


@admin.register(Project)
class ProjectAdmin(StrictJSONAdmin):
    list_display = ["slug", "name", "kind", "ranking_k", "judgments_per_task", "lease_seconds", "is_active"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["annotators"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "created_at", "revoked"]
    readonly_fields = ["key_hash"]

    def has_add_permission(self, request) -> bool:
        return False  # keys are made with `manage.py create_token`, which shows the raw key once


@admin.register(Prompt)
class PromptAdmin(StrictJSONAdmin):
    list_display = ["external_id", "project", "created_at"]
    list_filter = ["project"]
    search_fields = ["external_id", "text"]


@admin.register(Sample)
class SampleAdmin(StrictJSONAdmin):
    list_display = ["external_id", "prompt", "model_name", "adapter"]
    list_filter = ["model_name"]
    search_fields = ["external_id", "text"]
    raw_id_fields = ["prompt"]


class TaskSampleInline(admin.TabularInline):
    model = TaskSample
    raw_id_fields = ["sample"]
    extra = 0


@admin.register(Task)
class TaskAdmin(StrictJSONAdmin):
    list_display = ["pk", "project", "prompt", "priority", "is_gold", "judgment_count", "judgments_wanted"]
    list_filter = ["project", "is_gold"]
    list_editable = ["priority"]
    raw_id_fields = ["prompt"]
    inlines = [TaskSampleInline]


@admin.register(Assignment)
class AssignmentAdmin(StrictJSONAdmin):
    list_display = ["pk", "task", "annotator", "status", "served_at", "lease_expires_at"]
    list_filter = ["status", "task__project"]
    raw_id_fields = ["task"]


@admin.register(Judgment)
class JudgmentAdmin(StrictJSONAdmin):
    list_display = [
        "pk", "task", "annotator", "choice", "response_ms", "active_ms", "created_at", "withdrawn_at", "included",
        "weight", "override",
    ]
    list_filter = ["task__project", "choice", "included", "override"]
    # Overrides go through the review pages (/review/), which write the audit log.
    readonly_fields = ["included", "weight", "quality_reasons", "signals", "override"]
    raw_id_fields = ["assignment", "task"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # judgments are flagged or withdrawn, never deleted


@admin.register(AnnotatorStatus)
class AnnotatorStatusAdmin(admin.ModelAdmin):
    list_display = ["annotator", "project", "status", "updated_by", "updated_at"]
    list_filter = ["project", "status"]
    # Changed on the review pages, which write the audit log.
    readonly_fields = ["project", "annotator", "status", "reason", "updated_by"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(AnnotatorStats)
class AnnotatorStatsAdmin(admin.ModelAdmin):
    list_display = ["annotator", "project", "n_judgments", "informativeness", "weight", "too_fast_share",
                    "gold_accuracy", "left_rate", "flagged", "computed_at"]
    list_filter = ["project", "flagged"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(QualitySnapshot)
class QualitySnapshotAdmin(AnnotatorStatsAdmin):
    list_display = ["project", "computed_at", "n_judgments", "n_included", "alpha", "alpha_clean", "n_flagged"]
    list_filter = ["project"]


@admin.register(QualityState)
class QualityStateAdmin(AnnotatorStatsAdmin):
    list_display = ["project", "new_judgments", "queued_at", "computed_at", "duration_ms"]
    list_filter = []


@admin.register(AuditLog)
class AuditLogAdmin(AnnotatorStatsAdmin):
    list_display = ["created_at", "actor", "project", "action", "target_type", "target_id", "reason"]
    list_filter = ["project", "action"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
