from django.contrib import admin, messages

from policy.models import PolicyModel
from policy.services.registry import policy_activate, policy_deactivate


@admin.register(PolicyModel)
class PolicyModelAdmin(admin.ModelAdmin):
    list_display = ["pk", "name", "project", "kind", "is_active", "parent", "reward_model", "run", "created_at"]
    list_filter = ["project", "kind", "is_active"]
    readonly_fields = [f.name for f in PolicyModel._meta.fields if f.name != "name"]
    actions = ["activate", "deactivate"]

    @admin.action(description="Activate the selected policy (one per project; audited)")
    def activate(self, request, queryset) -> None:
        models = list(queryset)
        if len({m.project_id for m in models}) != len(models):
            self.message_user(request, "Select at most one policy per project.", messages.ERROR)
            return
        for model in models:
            policy_activate(model=model, by=f"admin {request.user.get_username()}", reason="manual override")
        self.message_user(request, f"Activated {len(models)} policy(ies).", messages.SUCCESS)

    @admin.action(description="Deactivate the selected policies (audited)")
    def deactivate(self, request, queryset) -> None:
        for model in queryset.filter(is_active=True):
            policy_deactivate(model=model, by=f"admin {request.user.get_username()}", reason="manual override")
        self.message_user(request, "Done.", messages.SUCCESS)

    def has_add_permission(self, request) -> bool:
        return False  # registered by runs

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # samples name the policy that wrote them
