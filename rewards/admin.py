from django.contrib import admin, messages

from rewards.models import PreferenceDataset, RewardModel
from rewards.services.registry import reward_model_activate, reward_model_deactivate


@admin.register(PreferenceDataset)
class PreferenceDatasetAdmin(admin.ModelAdmin):
    list_display = ["pk", "project", "name", "short_hash", "stats", "created_at"]
    list_filter = ["project"]
    readonly_fields = [f.name for f in PreferenceDataset._meta.fields]
    exclude = ["judgment_ids"]

    @admin.display(description="hash")
    def short_hash(self, obj: PreferenceDataset) -> str:
        return obj.content_hash[:12]

    def has_add_permission(self, request) -> bool:
        return False  # made by the snapshot service (train_reward --project)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # models point at the data that trained them


@admin.register(RewardModel)
class RewardModelAdmin(admin.ModelAdmin):
    list_display = ["pk", "name", "project", "is_active", "heldout_accuracy", "base_model", "run", "parent",
                    "created_at"]
    list_filter = ["project", "is_active"]
    readonly_fields = [f.name for f in RewardModel._meta.fields if f.name not in ("name", "base_model")]
    actions = ["activate", "deactivate"]

    @admin.action(description="Activate the selected model (one per project; audited)")
    def activate(self, request, queryset) -> None:
        models = list(queryset)
        if len({m.project_id for m in models}) != len(models):
            self.message_user(request, "Select at most one model per project.", messages.ERROR)
            return
        for model in models:
            reward_model_activate(model=model, by=f"admin {request.user.get_username()}", reason="manual override")
        self.message_user(request, f"Activated {len(models)} model(s).", messages.SUCCESS)

    @admin.action(description="Deactivate the selected models (audited)")
    def deactivate(self, request, queryset) -> None:
        models = list(queryset.filter(is_active=True))
        for model in models:
            reward_model_deactivate(model=model, by=f"admin {request.user.get_username()}", reason="manual override")
        self.message_user(request, f"Deactivated {len(models)} model(s).", messages.SUCCESS)

    def has_add_permission(self, request) -> bool:
        return False  # registered by runs

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
