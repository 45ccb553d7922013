from django.contrib import admin

from labeling.models import ApiToken, Assignment, Judgment, Project, Prompt, Sample, Task, TaskSample


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
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
class PromptAdmin(admin.ModelAdmin):
    list_display = ["external_id", "project", "created_at"]
    list_filter = ["project"]
    search_fields = ["external_id", "text"]


@admin.register(Sample)
class SampleAdmin(admin.ModelAdmin):
    list_display = ["external_id", "prompt", "model_name", "adapter"]
    list_filter = ["model_name"]
    search_fields = ["external_id", "text"]
    raw_id_fields = ["prompt"]


class TaskSampleInline(admin.TabularInline):
    model = TaskSample
    raw_id_fields = ["sample"]
    extra = 0


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["pk", "project", "prompt", "priority", "is_gold", "judgment_count", "judgments_wanted"]
    list_filter = ["project", "is_gold"]
    list_editable = ["priority"]
    raw_id_fields = ["prompt"]
    inlines = [TaskSampleInline]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["pk", "task", "annotator", "status", "served_at", "lease_expires_at"]
    list_filter = ["status", "task__project"]
    raw_id_fields = ["task"]


@admin.register(Judgment)
class JudgmentAdmin(admin.ModelAdmin):
    list_display = ["pk", "task", "annotator", "choice", "response_ms", "active_ms", "created_at", "withdrawn_at"]
    list_filter = ["task__project", "choice"]
    raw_id_fields = ["assignment", "task"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # judgments are flagged or withdrawn, never deleted
