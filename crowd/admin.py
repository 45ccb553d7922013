from django.contrib import admin

from crowd.models import ExternalJudgment, ExternalWorker


@admin.register(ExternalWorker)
class ExternalWorkerAdmin(admin.ModelAdmin):
    """Made by the crowd API; read-only here (a reviewer pauses or bans one on /review/)."""

    list_display = ["worker_id", "project", "user", "created_at"]
    list_filter = ["project"]
    search_fields = ["worker_id", "user__username"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ExternalJudgment)
class ExternalJudgmentAdmin(admin.ModelAdmin):
    list_display = ["external_id", "project", "judgment", "created_at"]
    list_filter = ["project"]
    search_fields = ["external_id"]
    raw_id_fields = ["judgment"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
