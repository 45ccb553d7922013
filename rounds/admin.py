from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from config.jobs import enqueue_on_commit
from rounds.models import Round, RoundStep
from rounds.services import RoundError, round_lineage, round_request, round_retry


def _link(obj, label: str = "") -> str:
    if obj is None:
        return "-"
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label or str(obj))


class RoundStepInline(admin.TabularInline):
    model = RoundStep
    extra = 0
    can_delete = False
    fields = ["position", "name", "status", "attempts", "run", "inputs", "outputs", "error", "started_at",
              "finished_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Round)
class RoundAdmin(admin.ModelAdmin):
    list_display = ["pk", "project", "number", "status", "current_step", "trigger", "dataset", "reward_model",
                    "policy", "generation_run", "created_at"]
    list_filter = ["project", "status", "trigger"]
    readonly_fields = ["page", "project", "number", "status", "current_step", "error", "config", "execute_here",
                       "trigger", "lineage", "created_by", "created_at", "finished_at"]
    exclude = ["dataset", "reward_model", "policy", "generation_run"]
    inlines = [RoundStepInline]
    actions = ["retry_rounds", "start_next_rounds"]

    @admin.display(description="Round page")
    def page(self, obj: Round) -> str:
        url = reverse("rounds:round", args=[obj.project.slug, obj.number])
        return format_html('<a href="{}">live steps and lineage; retry</a>', url)

    @admin.display(description="Lineage: judgments → dataset → reward model → policy → samples")
    def lineage(self, obj: Round) -> str:
        facts = round_lineage(round=obj)
        rows = [
            ("judgments", facts["judgments"] if facts["judgments"] is not None else "-"),
            ("dataset", _link(obj.dataset)),
            ("reward model", _link(obj.reward_model)),
            ("policy", _link(obj.policy, f"{obj.policy} ({facts['policy_version']})" if obj.policy else "")),
            ("generation batch", _link(obj.generation_run)),
            ("new samples / tasks", f"{facts['samples']} / {facts['tasks']}"),
        ]
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}: {}</li>", rows))

    @admin.action(description="Retry the selected failed rounds from their failed step")
    def retry_rounds(self, request, queryset) -> None:
        for rnd in queryset:
            try:
                rnd = round_retry(round=rnd, execute_here=False, advance=False)
            except RoundError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            enqueue_on_commit("rounds.advance", rnd.pk)
            self.message_user(request, f"Round {rnd.pk} resumes at step {rnd.current_step!r}.", messages.SUCCESS)

    @admin.action(description="Start the next round of the selected rounds' projects (same settings)")
    def start_next_rounds(self, request, queryset) -> None:
        latest = {}
        for rnd in queryset.order_by("number"):
            latest[rnd.project_id] = rnd
        for rnd in latest.values():
            try:
                new = round_request(project=rnd.project, config=rnd.config, trigger=Round.Trigger.ADMIN,
                                    created_by=request.user)
            except RoundError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            self.message_user(request, f"Round {new.number} of {rnd.project.slug} started ({new.pk}).",
                              messages.SUCCESS)

    def has_add_permission(self, request) -> bool:
        return False  # started by run_round, the action above or the threshold trigger

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # lineage history
