"""Judgments in the annotator's terms: what the page showed (left/right, or the numbered list of a
ranking), the answer texts and which one they picked, and their rationale. The database keeps
pairwise choices canonically ("a" = the task's first sample, whatever side it was shown on);
`Judgment.shown_order` records the order the page showed, so the two can be translated."""

from collections.abc import Iterable
from dataclasses import dataclass, field

from labeling.models import Judgment, Sample, TaskSample

PAIR_SIDES = ("Left", "Right")


@dataclass(frozen=True)
class ShownAnswer:
    label: str  # "Left" / "Right", or the number the ranking page showed ("1", "2", ...)
    text: str
    mark: str = ""  # "better", "worse", "tie", "bad", or "#2" for a place in a ranking


@dataclass
class ShownJudgment:
    judgment: Judgment
    answer: str  # e.g. "Left better", "Tie", "Both bad", "3 > 1 = 2"
    shown: list[ShownAnswer] = field(default_factory=list)

    @property
    def rationale(self) -> str:
        return self.judgment.rationale


def pair_answer(judgment: Judgment, first_canonical: int | None) -> tuple[str, list[str]]:
    """The answer as the annotator gave it, and a mark per shown side. A pairwise choice is
    stored canonically; the side is where that sample was shown."""
    shown = list(judgment.shown_order or [])
    if judgment.choice == Judgment.Choice.TIE:
        return "Tie", ["tie"] * len(shown)
    if judgment.choice == Judgment.Choice.BOTH_BAD:
        return "Both bad", ["bad"] * len(shown)
    if first_canonical is None or len(shown) != 2 or first_canonical not in shown:
        return judgment.get_choice_display(), [""] * len(shown)
    winner = first_canonical if judgment.choice == Judgment.Choice.A else next(s for s in shown if s != first_canonical)
    side = shown.index(winner)
    return f"{PAIR_SIDES[side]} better", ["better" if i == side else "worse" for i in range(2)]


def ranking_answer(judgment: Judgment) -> tuple[str, list[str]]:
    """A ranking in the numbers the page showed, best first, "=" for ties: "3 > 1 = 2"."""
    shown = list(judgment.shown_order or [])
    number = {sample_id: str(i + 1) for i, sample_id in enumerate(shown)}
    groups = [" = ".join(number.get(s, "?") for s in group) for group in judgment.ranking or []]
    place = {s: rank for rank, group in enumerate(judgment.ranking or []) for s in group}
    return " > ".join(groups), [f"#{place[s] + 1}" if s in place else "" for s in shown]


def judgments_as_shown(judgments: Iterable[Judgment], *, max_chars: int = 400) -> list[ShownJudgment]:
    """Each judgment as its annotator saw and answered it, texts cut at `max_chars`. Two queries
    for the whole list (the samples shown and the tasks' first slots)."""
    judgments = list(judgments)
    sample_ids = {s for j in judgments for s in (j.shown_order or [])}
    texts = dict(Sample.objects.filter(pk__in=sample_ids).values_list("pk", "text"))
    pair_tasks = {j.task_id for j in judgments if not j.ranking}
    first = dict(
        TaskSample.objects.filter(task_id__in=pair_tasks, position=0).values_list("task_id", "sample_id")
    )
    rows = []
    for judgment in judgments:
        shown = list(judgment.shown_order or [])
        if judgment.ranking:
            answer, marks = ranking_answer(judgment)
            labels = [str(i + 1) for i in range(len(shown))]
        else:
            answer, marks = pair_answer(judgment, first.get(judgment.task_id))
            labels = list(PAIR_SIDES) if len(shown) == 2 else [str(i + 1) for i in range(len(shown))]
        answers = [
            ShownAnswer(label=label, text=_cut(texts.get(sample_id, ""), max_chars), mark=mark)
            for label, sample_id, mark in zip(labels, shown, marks, strict=True)
        ]
        rows.append(ShownJudgment(judgment=judgment, answer=answer, shown=answers))
    return rows


def _cut(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 1].rstrip() + "…"
