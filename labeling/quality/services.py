"""Quality recomputation: load a project's judgments, run the quality pass, store the decisions,
the annotator statistics and a snapshot. Idempotent (the same inputs store the same result) and
incremental (skipped when nothing it reads has changed since the last run).

Also the trigger: every `recompute_every` new judgments one recomputation is queued per project,
after the judgment commits; a flag on QualityState keeps it to one in the queue. Between two
passes the stored decisions can be behind the judgments, so whatever promises clean data (a
clean export, a training snapshot) first calls `quality_ensure_current`: a pass in this process,
only when the inputs changed since the last one (the fingerprint: counts and last ids)."""

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from config.jobs import enqueue_on_commit
from labeling.models import Judgment, Project, Prompt, Sample, Task, TaskSample
from labeling.quality.config import quality_config
from labeling.quality.models import AnnotatorStats, AnnotatorStatus, AuditLog, QualitySnapshot, QualityState
from labeling.quality.pipeline import AnnotatorQuality, Decision, ProjectQuality, quality_pass
from labeling.quality.pipeline import Judgment as PassJudgment

logger = logging.getLogger(__name__)
QUEUED_STALE = timedelta(hours=1)  # a queued flag older than this is taken as a lost message


@dataclass(frozen=True)
class RecomputeResult:
    skipped: bool
    fingerprint: str
    judgments: int = 0
    changed: int = 0
    flagged: int = 0
    kept: int = 0
    seconds: float = 0.0


def _words(text: str) -> int:
    return len(text.split())


def quality_fingerprint(*, project: Project) -> str:
    """A digest of everything a recomputation reads: judgments (new, withdrawn, overridden), manual
    decisions (every one is in the audit log), annotator statuses, gold answers and the settings."""
    judgments = Judgment.objects.filter(task__project=project).aggregate(
        n=Count("id"), last=Max("id"), withdrawn=Count("withdrawn_at"), overridden=Count("id", filter=~Q(override=""))
    )
    parts = {
        "judgments": judgments,
        # Manual quality decisions only: an admin's edit of the project (its settings are read
        # below) or of a token changes nothing the pass reads.
        "audit": AuditLog.objects.filter(project=project).exclude(target_type__in=["project", "api_token"])
        .aggregate(last=Max("id"))["last"],
        "statuses": list(
            AnnotatorStatus.objects.filter(project=project).order_by("annotator_id")
            .values_list("annotator_id", "status")
        ),
        "gold": list(
            Task.objects.filter(project=project, is_gold=True).order_by("pk").values_list("pk", "gold_answer")
        ),
        "config": quality_config(project).as_json(),
        "kind": project.kind,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _records(project: Project) -> tuple[list[PassJudgment], dict[int, tuple]]:
    """Every live judgment as the pipeline's plain record, and its stored quality fields (to write
    only changes)."""
    prompt_words = {}
    for pk, text, messages in Prompt.objects.filter(project=project).values_list("pk", "text", "messages"):
        turns = [t for t in messages if isinstance(t, dict)] if isinstance(messages, list) else []
        prompt_words[pk] = _words(text or "") + sum(_words(str(t.get("content", ""))) for t in turns)
    texts = Sample.objects.filter(prompt__project=project).values_list("pk", "text")
    sample_words = {pk: _words(text) for pk, text in texts.iterator(chunk_size=2000)}
    slots: dict[int, list[int]] = {}
    for task_id, sample_id in (
        TaskSample.objects.filter(task__project=project, task__judgment_count__gt=0)
        .order_by("task_id", "position").values_list("task_id", "sample_id")
    ):
        slots.setdefault(task_id, []).append(sample_id)
    tasks = {
        pk: (prompt_id, gold_answer if is_gold else None)
        for pk, prompt_id, is_gold, gold_answer in Task.objects.filter(project=project, judgment_count__gt=0)
        .values_list("pk", "prompt_id", "is_gold", "gold_answer")
    }
    banned = set(
        AnnotatorStatus.objects.filter(project=project, status=AnnotatorStatus.Status.BANNED)
        .values_list("annotator_id", flat=True)
    )
    records, stored = [], {}
    rows = Judgment.objects.filter(task__project=project, withdrawn_at__isnull=True).order_by("pk").values_list(
        "pk", "annotator_id", "task_id", "choice", "ranking", "shown_order", "response_ms", "override",
        "included", "weight", "quality_reasons", "signals",
    )
    for pk, ann, task_id, choice, ranking, shown, ms, override, included, weight, reasons, signals in rows.iterator(
        chunk_size=2000
    ):
        sample_ids = slots.get(task_id, [])
        prompt_id, gold = tasks.get(task_id, (None, None))
        words = {s: sample_words.get(s, 0) for s in sample_ids}
        records.append(PassJudgment(
            id=pk, annotator=ann, task=task_id, sample_ids=tuple(sample_ids), shown_order=tuple(shown or ()),
            choice=choice, ranking=tuple(tuple(group) for group in ranking) if ranking else None,
            seconds=ms / 1000.0, words_shown=prompt_words.get(prompt_id, 0) + sum(words.values()),
            sample_words=words, override=override, gold=gold, banned=ann in banned,
        ))
        stored[pk] = (included, weight, reasons, signals)
    return records, stored


def quality_recompute(*, project_id: int, force: bool = False) -> RecomputeResult:
    """Recompute the project's quality decisions and statistics; skip when nothing changed."""
    project = Project.objects.get(pk=project_id)
    QualityState.objects.get_or_create(project=project)
    # Judgments that arrive from now on count towards the next recomputation.
    QualityState.objects.filter(project=project).update(queued_at=None, new_judgments=0)
    fingerprint = quality_fingerprint(project=project)
    state = QualityState.objects.get(project=project)
    if not force and state.fingerprint == fingerprint:
        return RecomputeResult(skipped=True, fingerprint=fingerprint)
    started = time.monotonic()
    records, stored = _records(project)
    result = quality_pass(records, ranking=project.kind == Project.Kind.RANKING, config=quality_config(project))
    now = timezone.now()
    with transaction.atomic():
        QualityState.objects.select_for_update().get(project=project)
        changed = _store_judgments(result.decisions, stored)
        _store_stats(project, result.annotators, now)
        _store_snapshot(project, result.project, fingerprint, now)
        QualityState.objects.filter(project=project).update(
            fingerprint=fingerprint, computed_at=now, duration_ms=int((time.monotonic() - started) * 1000)
        )
    return RecomputeResult(False, fingerprint, len(records), changed, result.project.n_flagged,
                           result.project.n_included, round(time.monotonic() - started, 3))


def quality_is_stale(*, project: Project) -> bool:
    """Whether anything a quality pass reads changed since the last pass (or none ran yet): a
    handful of aggregate queries, no pass."""
    stored = QualityState.objects.filter(project=project).values_list("fingerprint", flat=True).first()
    return stored != quality_fingerprint(project=project)


def quality_ensure_current(*, project: Project) -> RecomputeResult | None:
    """Bring the project's quality decisions up to date in this process when they are stale (see
    quality_is_stale); None when they already were. Called before clean data leaves the service."""
    if not quality_is_stale(project=project):
        return None
    return quality_recompute(project_id=project.pk)


def _store_judgments(decisions: list[Decision], stored: dict[int, tuple]) -> int:
    changed = []
    for d in decisions:
        weight, reasons = round(d.weight, 4), d.reasons_json()
        if stored[d.judgment] != (d.included, weight, reasons, d.signals):
            changed.append(Judgment(pk=d.judgment, included=d.included, weight=weight, quality_reasons=reasons,
                                    signals=d.signals))
    Judgment.objects.bulk_update(changed, ["included", "weight", "quality_reasons", "signals"], batch_size=500)
    return len(changed)


def _store_stats(project: Project, annotators: dict[Any, AnnotatorQuality], now) -> None:
    existing = {s.annotator_id: s for s in AnnotatorStats.objects.filter(project=project)}
    for ann, quality in annotators.items():
        row = existing.pop(ann, None)
        fields = quality.stored_fields()
        if row is None:
            AnnotatorStats.objects.create(project=project, annotator_id=ann, computed_at=now, **fields)
        elif any(getattr(row, f) != v for f, v in fields.items()):
            AnnotatorStats.objects.filter(pk=row.pk).update(computed_at=now, **fields)
    # Annotators whose judgments were all withdrawn have nothing left to describe.
    AnnotatorStats.objects.filter(pk__in=[row.pk for row in existing.values()]).delete()


def _store_snapshot(project: Project, values: ProjectQuality, fingerprint: str, now) -> None:
    fields = values.stored_fields()
    last = QualitySnapshot.objects.filter(project=project).order_by("-computed_at", "-pk").first()
    if last is not None and last.fingerprint == fingerprint:
        if any(getattr(last, f) != v for f, v in fields.items()):
            QualitySnapshot.objects.filter(pk=last.pk).update(**fields)
        return
    QualitySnapshot.objects.create(project=project, computed_at=now, fingerprint=fingerprint, **fields)


def quality_enqueue(*, project_id: int, force: bool = False) -> None:
    """Send one recomputation to the workers once the current transaction commits. The caller set
    the project's queued flag (`queued_at`); if the broker is down the judgment still succeeds, the
    flag stays, and the sweeper (config/jobs.py) sends the recomputation again."""
    enqueue_on_commit("labeling.recompute_quality", project_id, force)


def _mark_queued(project: Project, *, min_new: int) -> bool:
    now = timezone.now()
    return bool(
        QualityState.objects.filter(project=project, new_judgments__gte=min_new)
        .filter(Q(queued_at__isnull=True) | Q(queued_at__lt=now - QUEUED_STALE))
        .update(queued_at=now)
    )


def quality_note_judgment(*, project: Project) -> None:
    """Count a new judgment; queue a recomputation after every `recompute_every` of them, at most
    one in the queue per project."""
    every = quality_config(project).recompute_every
    if every <= 0:
        return
    queued = _count_and_maybe_mark(project, every)
    if queued is None:
        QualityState.objects.get_or_create(project=project)
        queued = _count_and_maybe_mark(project, every)
    if queued:
        quality_enqueue(project_id=project.pk)


# One statement per judgment (this runs on every submit): count it, and mark a recomputation
# queued when the count reaches `every` and none is queued (or the queued one went stale).
_COUNT_SQL = """
UPDATE labeling_qualitystate SET
  new_judgments = new_judgments + 1,
  queued_at = CASE WHEN new_judgments + 1 >= %s AND (queued_at IS NULL OR queued_at < %s) THEN %s ELSE queued_at END
WHERE project_id = %s
RETURNING queued_at = %s
"""


def _count_and_maybe_mark(project: Project, every: int) -> bool | None:
    """True when this judgment queued a recomputation; None when the project has no state row."""
    now = timezone.now()
    # As the ORM stores it: on SQLite a raw aware datetime would be written as text with "+00:00",
    # which no ORM filter on queued_at equals (the sweeper's claim never matched; a lost
    # recomputation was never sent again).
    adapt = connection.ops.adapt_datetimefield_value
    at, stale = adapt(now), adapt(now - QUEUED_STALE)
    with connection.cursor() as cursor:
        cursor.execute(_COUNT_SQL, [every, stale, at, project.pk, at])
        row = cursor.fetchone()
    return None if row is None else bool(row[0])


def quality_request(*, project: Project) -> bool:
    """Queue a recomputation now (the dashboard's button); False when one is already queued."""
    QualityState.objects.get_or_create(project=project)
    if not _mark_queued(project, min_new=0):
        return False
    quality_enqueue(project_id=project.pk, force=True)
    return True
