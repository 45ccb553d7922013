"""Active learning: serve the pairs the reward model is least sure about first."""

from django.db.models import F, Prefetch

from labeling.models import Project, Task, TaskSample
from rewards.models import RewardModel
from rewards.services.scoring import pair_uncertainty
from rewards.services.snapshot import prompt_text

PRIORITY_SCALE = 1000
CHUNK = 256


def uncertainty_priority(certainty: float) -> int:
    """|P(A>B) - 0.5| in [0, 0.5] to a priority in [0, 1000]: a coin flip gets 1000."""
    return round(PRIORITY_SCALE * (1 - 2 * min(0.5, max(0.0, certainty))))


def _open_pair_tasks(project: Project):
    return (
        Task.objects.filter(project=project, is_gold=False, judgment_count__lt=F("judgments_wanted"))
        .select_related("prompt")
        .prefetch_related(Prefetch("slots", queryset=TaskSample.objects.select_related("sample").order_by("position")))
        .order_by("pk")
    )


def tasks_prioritise_by_uncertainty(project: Project, model: RewardModel) -> int:
    """Set `priority` of the project's open pairwise tasks (gold tasks left alone) from the
    model's uncertainty, so the labeling queue serves least-sure pairs first. Returns the count."""
    if project.kind != Project.Kind.PAIRWISE:
        raise ValueError(f"project {project.slug!r} is not pairwise")
    updated, batch = 0, []

    def flush() -> int:
        slots = [list(task.slots.all()) for task in batch]
        scores = pair_uncertainty(
            model=model,
            prompts=[prompt_text(task.prompt) for task in batch],
            responses_a=[s[0].sample.text for s in slots],
            responses_b=[s[1].sample.text for s in slots],
        )
        for task, score in zip(batch, scores, strict=True):
            task.priority = uncertainty_priority(score["certainty"])
        Task.objects.bulk_update(batch, ["priority"], batch_size=500)
        n = len(batch)
        batch.clear()
        return n

    for task in _open_pair_tasks(project).iterator(chunk_size=CHUNK):
        if len(task.slots.all()) == 2:
            batch.append(task)
        if len(batch) >= CHUNK:
            updated += flush()
    if batch:
        updated += flush()
    return updated
