"""Active learning: serve first the pairs the reward model is least sure about (uncertainty), or
those its ensemble's members disagree on most (disagreement)."""

from django.db.models import F, Prefetch

from labeling.models import Project, Task, TaskSample
from rewards.models import RewardModel
from rewards.services.scoring import pair_disagreement, pair_uncertainty
from rewards.services.snapshot import prompt_text

PRIORITY_SCALE = 1000
CHUNK = 256
CRITERIA = ("uncertainty", "disagreement")


def uncertainty_priority(certainty: float) -> int:
    """|P(A>B) - 0.5| in [0, 0.5] to a priority in [0, 1000]: a coin flip gets 1000."""
    return round(PRIORITY_SCALE * (1 - 2 * min(0.5, max(0.0, certainty))))


def disagreement_priority(spread: float) -> int:
    """The members' spread of P(A>B), in [0, 0.5], to a priority in [0, 1000]: members split
    half at 0 and half at 1 get 1000; members all alike get 0."""
    return round(PRIORITY_SCALE * 2 * min(0.5, max(0.0, spread)))


def _open_pair_tasks(project: Project):
    return (
        Task.objects.filter(project=project, is_gold=False, judgment_count__lt=F("judgments_wanted"))
        .select_related("prompt")
        .prefetch_related(Prefetch("slots", queryset=TaskSample.objects.select_related("sample").order_by("position")))
        .order_by("pk")
    )


def _priorities(model: RewardModel, batch: list[Task], by: str) -> list[int]:
    slots = [list(task.slots.all()) for task in batch]
    pairs = {"prompts": [prompt_text(task.prompt) for task in batch],
             "responses_a": [s[0].sample.text for s in slots], "responses_b": [s[1].sample.text for s in slots]}
    if by == "disagreement":
        return [disagreement_priority(s["disagreement"]) for s in pair_disagreement(model=model, **pairs)]
    return [uncertainty_priority(s["certainty"]) for s in pair_uncertainty(model=model, **pairs)]


def tasks_prioritise(project: Project, model: RewardModel, *, by: str = "uncertainty") -> int:
    """Set `priority` of the project's open pairwise tasks (gold tasks left alone) from the
    model's uncertainty or its ensemble's disagreement (``by``), so the labeling queue serves
    those pairs first. Returns the count. ValueError: not pairwise, an unknown criterion, or
    disagreement asked of a single model."""
    if by not in CRITERIA:
        raise ValueError(f"prioritise by one of {', '.join(CRITERIA)}, not {by!r}")
    if project.kind != Project.Kind.PAIRWISE:
        raise ValueError(f"project {project.slug!r} is not pairwise")
    updated, batch = 0, []

    def flush() -> int:
        for task, priority in zip(batch, _priorities(model, batch, by), strict=True):
            task.priority = priority
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


def tasks_prioritise_by_uncertainty(project: Project, model: RewardModel) -> int:
    return tasks_prioritise(project, model, by="uncertainty")
