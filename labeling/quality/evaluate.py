"""The quality pipeline on JSONL crowd labels: a thin adapter from `quality_eval`'s lines to the
pipeline's judgments and back. The service, the ``quality_eval`` command and
``bench/quality_ukp.py`` all run `pipeline.quality_pass` with a `config.QualityConfig`, so the
benchmark measures exactly the rule the service applies.

A line is one pairwise label: "a" is the first answer, shown on the left, "b" the second, or
"tie". Without per-answer texts there is no length-bias evidence; `words` (words shown) enables
the reading-speed bound of the too-fast filter."""

from collections.abc import Sequence
from dataclasses import dataclass

from labeling.quality.config import QualityConfig
from labeling.quality.pipeline import AnnotatorQuality, ItemResult, Judgment, aggregate_items, quality_pass

LABELS = ("a", "b", "tie")
_SAMPLES = ("a", "b")  # each item's two answers, in the order shown


@dataclass(frozen=True)
class LabelLine:
    """One input line: {"item_id", "annotator_id", "label": "a"|"b"|"tie", "seconds"?, "words"?}."""

    item_id: str
    annotator_id: str
    label: str
    seconds: float | None = None
    words: int | None = None  # words shown, for the reading-speed bound


@dataclass(frozen=True)
class EvalResult:
    items: list[ItemResult]  # one per item, first-seen order
    annotators: dict[str, AnnotatorQuality]
    flagged: set[str]


def to_judgments(lines: Sequence[LabelLine]) -> list[Judgment]:
    """The pipeline's judgments for label lines (ids are line positions)."""
    return [
        Judgment(
            id=index, annotator=line.annotator_id, task=line.item_id, sample_ids=_SAMPLES, shown_order=_SAMPLES,
            choice=line.label, seconds=line.seconds, words_shown=line.words,
        )
        for index, line in enumerate(lines)
    ]


def evaluate_lines(lines: Sequence[LabelLine], config: QualityConfig | None = None) -> EvalResult:
    """Run the quality pass on the lines, then label each item from the judgments it kept."""
    cfg = config or QualityConfig()
    judgments = to_judgments(lines)
    result = quality_pass(judgments, ranking=False, config=cfg)
    items = aggregate_items(judgments, result, cfg)
    return EvalResult(items, {str(a): q for a, q in result.annotators.items()}, {str(a) for a in result.flagged})
