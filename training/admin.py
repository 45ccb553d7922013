from django.contrib import admin, messages
from django.utils.html import format_html

from training.models import TrainingRun
from training.selectors import run_page_path
from training.services import run_cancel


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["pk", "kind", "status", "progress", "step", "total_steps", "attempts", "worker", "created_at"]
    list_filter = ["kind", "status"]
    readonly_fields = ["page", *(f.name for f in TrainingRun._meta.fields if f.name != "cancel_requested")]
    actions = ["cancel_runs"]

    @admin.action(description="Cancel the selected runs")
    def cancel_runs(self, request, queryset) -> None:
        for run in queryset:
            run_cancel(run=run)
        self.message_user(request, f"Asked {queryset.count()} run(s) to stop.", messages.SUCCESS)

    @admin.display(description="Run page")
    def page(self, obj: TrainingRun) -> str:
        return format_html('<a href="{}">live progress, charts, log; cancel or retry</a>', run_page_path(obj))

    def has_add_permission(self, request) -> bool:
        # A run needs a kind, checked settings and inputs (a dataset, a reward model...): made by
        # train_reward / sft / train_policy / generate (--queue), never as an empty row stuck in "queued".
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # runs are history; a model's lineage points at them
