import json

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models, transaction

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
from labeling.quality.review import (
    ReviewError,
    admin_audit_fields,
    admin_edit_audit,
    gold_answer_check,
    judgment_override,
    task_review_update,
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


class AuditedAdmin(admin.ModelAdmin):
    """Additions, changes and deletions written to the audit log (admin_edit_audit): the fields as
    stored before the save, compared after the related saves (a project's annotators are saved
    there). A deletion is logged in the same transaction, so a refused deletion logs nothing."""

    def save_model(self, request, obj, form, change) -> None:
        stored = type(obj).objects.filter(pk=obj.pk).first() if change else None
        request._audit_before = admin_audit_fields(stored) if stored is not None else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        admin_edit_audit(obj=form.instance, actor=request.user, before=getattr(request, "_audit_before", None))

    def delete_model(self, request, obj) -> None:
        with transaction.atomic():
            admin_edit_audit(obj=obj, actor=request.user, before=admin_audit_fields(obj), deleted=True)
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        with transaction.atomic():
            for obj in queryset:
                admin_edit_audit(obj=obj, actor=request.user, before=admin_audit_fields(obj), deleted=True)
            super().delete_queryset(request, queryset)


@admin.register(Project)
class ProjectAdmin(AuditedAdmin, StrictJSONAdmin):
    list_display = ["slug", "name", "kind", "ranking_k", "judgments_per_task", "lease_seconds", "is_active"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["annotators"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "quality_config" and field is not None:
            field.help_text = quality_config_help()
        return field


def quality_config_help() -> str:
    """The quality-config field's help: only the keys to change, then every key with its default
    and meaning."""
    from django.utils.html import format_html, format_html_join

    from labeling.quality.config import config_help_rows

    rows = format_html_join("", "<li><code>{}</code> (default <code>{}</code>): {}</li>", config_help_rows())
    return format_html(
        'Only the keys to change, as JSON, e.g. <code>{{"floor_seconds": 5, "filters": {{"length_bias": false}}}}'
        "</code>; every other key keeps its default. <code>{{}}</code> uses all the defaults.<ul>{}</ul>", rows)


def _json_shown(name: str, label: str):
    """A JSON field shown read-only. Django's display keeps a lone surrogate stored before the
    strict parser (SQLite keeps them) and the page fails to encode; here it shows as U+FFFD."""

    def shown(obj) -> str:
        value = getattr(obj, name)
        return "-" if value is None else SURROGATE.sub("\ufffd", json.dumps(value, ensure_ascii=False))

    shown.short_description = label
    return shown


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never written through the admin: these rows are history (what was labeled, by whom,
    and what they answered). They come in through the API and the annotator pages; manual
    decisions go through the audited services in labeling/quality/review.py."""

    def _json_fields(self) -> list[models.Field]:
        return [f for f in self.model._meta.fields if isinstance(f, models.JSONField)]

    def get_exclude(self, request, obj=None):
        return [*(super().get_exclude(request, obj) or []), *(f.name for f in self._json_fields())]

    def get_readonly_fields(self, request, obj=None):
        shown = [_json_shown(f.name, f.verbose_name) for f in self._json_fields()]
        return [*super().get_readonly_fields(request, obj), *shown]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedAdmin):
    list_display = ["name", "project", "created_at", "revoked"]
    readonly_fields = ["key_hash", "project", "name", "created_at"]  # only revoking is a change

    def has_add_permission(self, request) -> bool:
        return False  # keys are made with `manage.py create_token`, which shows the raw key once


@admin.register(Prompt)
class PromptAdmin(StrictJSONAdmin, ReadOnlyAdmin):
    """Prompts come in through the ingestion API; moving one to another project would leak it
    into that project's export, and editing one would change what was judged."""

    list_display = ["external_id", "project", "created_at"]
    list_filter = ["project"]
    search_fields = ["external_id", "text"]


@admin.register(Sample)
class SampleAdmin(StrictJSONAdmin, ReadOnlyAdmin):
    list_display = ["external_id", "prompt", "model_name", "adapter"]
    list_filter = ["model_name"]
    search_fields = ["external_id", "text"]


class TaskSampleInline(admin.TabularInline):
    """A task's samples: fixed at ingestion (membership is what every judgment refers to)."""

    model = TaskSample
    fields = ["position", "sample"]
    readonly_fields = ["position", "sample"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class TaskReviewForm(forms.ModelForm):
    """Priority and gold only; the gold answer is checked against this task's samples."""

    reason = forms.CharField(required=False, help_text="Why (kept in the audit log).")

    class Meta:
        model = Task
        fields = ["priority", "is_gold", "gold_answer"]

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.instance.pk is None or self.errors:
            return cleaned
        if cleaned.get("is_gold") and cleaned.get("gold_answer") is None:
            self.add_error("gold_answer", "A gold task needs a gold answer.")
            return cleaned
        try:
            gold_answer_check(task=self.instance, answer=cleaned.get("gold_answer"))
        except ReviewError as exc:
            self.add_error("gold_answer", str(exc))
        return cleaned


@admin.register(Task)
class TaskAdmin(StrictJSONAdmin):
    """Reviewers change a task's priority and gold answer, through task_review_update (validated,
    audited, quality recomputed). Its project, prompt and samples are read-only."""

    form = TaskReviewForm
    list_display = ["pk", "project", "prompt", "priority", "is_gold", "judgment_count", "judgments_wanted"]
    list_filter = ["project", "is_gold"]
    list_editable = ["priority"]
    fields = ["project", "prompt", "priority", "is_gold", "gold_answer", "reason", "judgments_wanted",
              "judgment_count", "created_at"]
    readonly_fields = ["project", "prompt", "judgments_wanted", "judgment_count", "created_at"]
    inlines = [TaskSampleInline]

    def has_add_permission(self, request) -> bool:
        return False  # tasks are made by ingestion (and honeypots), with their samples

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        task_review_update(
            task_id=obj.pk, actor=request.user, priority=obj.priority, is_gold=obj.is_gold,
            gold_answer=obj.gold_answer, reason=form.cleaned_data.get("reason", ""),
        )


@admin.register(Assignment)
class AssignmentAdmin(StrictJSONAdmin, ReadOnlyAdmin):
    list_display = ["pk", "task", "annotator", "status", "served_at", "lease_expires_at"]
    list_filter = ["status", "task__project"]


@admin.register(Judgment)
class JudgmentAdmin(StrictJSONAdmin, ReadOnlyAdmin):
    """Read-only: who judged and what they answered is history. Reviewers include or exclude a
    judgment with the actions below (or on /review/), which go through judgment_override and
    write the audit log; annotators withdraw their own with undo."""

    list_display = [
        "pk", "task", "annotator", "choice", "response_ms", "active_ms", "created_at", "withdrawn_at", "included",
        "weight", "override",
    ]
    list_filter = ["task__project", "choice", "included", "override"]
    actions = ["include_judgments", "exclude_judgments", "clear_overrides"]

    def _override(self, request, queryset, decision: str) -> None:
        rows = list(queryset.select_related("task__project").order_by("pk"))
        for judgment in rows:
            judgment_override(
                judgment_id=judgment.pk, project=judgment.task.project, decision=decision, actor=request.user,
                reason="admin action",
            )
        self.message_user(request, f"{len(rows)} judgment(s): override set to {decision or 'none'} (audited).")

    @admin.action(description="Include in the clean data (override, audited)", permissions=["view"])
    def include_judgments(self, request, queryset) -> None:
        self._override(request, queryset, "include")

    @admin.action(description="Exclude from the clean data (override, audited)", permissions=["view"])
    def exclude_judgments(self, request, queryset) -> None:
        self._override(request, queryset, "exclude")

    @admin.action(description="Clear the override: the filters decide (audited)", permissions=["view"])
    def clear_overrides(self, request, queryset) -> None:
        self._override(request, queryset, "")


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
