"""Reads for the review pages in words a reviewer can act on: why judgments are left out of the
clean data (per reason and per annotator), and the audit log with names and readable changes."""

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.urls import reverse

from labeling.models import Judgment, Project
from labeling.quality.models import AuditLog, QualityState
from labeling.quality.selectors import audit_entries, banned_annotator_ids

# A judgment's quality_reasons name a filter; a detail starting "annotator:" means the annotator
# was flagged (every judgment of theirs carries it), otherwise this judgment itself was.
REASON_LABELS = {
    "too_fast": "too fast (this judgment)",
    "too_fast:annotator": "annotator too often too fast",
    "gold": "wrong answer on a gold task",
    "gold:annotator": "annotator fails gold tasks",
    "reliability:annotator": "annotator's reliability too low",
    "agreement:annotator": "annotator disagrees with the consensus",
    "position_bias:annotator": "annotator's position bias",
    "length_bias:annotator": "annotator's length bias",
    "banned": "annotator banned",
    "override": "excluded by a reviewer",
    "withdrawn": "withdrawn by the annotator (undo)",
}


def reason_key(reason: dict[str, Any]) -> str:
    name = str(reason.get("filter", "unknown"))
    detail = str(reason.get("detail", ""))
    return f"{name}:annotator" if detail.startswith("annotator:") else name


def reason_label(key: str) -> str:
    if key in REASON_LABELS:
        return REASON_LABELS[key]
    name, _, scope = key.partition(":")
    return ("annotator: " if scope else "") + name.replace("_", " ")


@dataclass
class ReasonCount:
    key: str
    label: str
    count: int


@dataclass
class AnnotatorExclusions:
    annotator_id: int
    username: str
    judgments: int = 0
    excluded: int = 0
    withdrawn: int = 0
    reasons: list[ReasonCount] = field(default_factory=list)


@dataclass
class ExclusionSummary:
    live: int
    included: int
    excluded: int
    withdrawn: int
    kept_by_reviewer: int  # included by a reviewer although a filter flagged them
    pending_judgments: int  # judgments since the last recomputation (not checked yet)
    reasons: list[ReasonCount]
    annotators: list[AnnotatorExclusions]


def _excluded_reasons(included: bool, override: str, reasons: list, banned: bool) -> list[str]:
    """Why a live judgment is out of the clean data (empty if it is in)."""
    if override == "exclude":
        return ["override"]
    if included:
        return ["banned"] if banned else []  # a ban takes effect in exports before the next recomputation
    keys = list(dict.fromkeys(reason_key(r) for r in reasons or [] if isinstance(r, dict)))
    return keys or ["unknown"]


def exclusion_summary(*, project: Project) -> ExclusionSummary:
    """Counts of judgments left out of the clean data, by reason and by annotator, from the
    decisions the last quality pass (and reviewers) stored on each judgment. A judgment flagged
    for several reasons counts once per reason; withdrawn (undone) judgments are counted apart."""
    banned = banned_annotator_ids(project=project)
    reason_counts: Counter[str] = Counter()
    per_annotator: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"judgments": 0, "excluded": 0, "withdrawn": 0, "reasons": Counter()}
    )
    live = included = excluded = withdrawn = kept = 0
    rows = Judgment.objects.filter(task__project=project).values_list(
        "annotator_id", "withdrawn_at", "included", "override", "quality_reasons"
    )
    for annotator_id, withdrawn_at, is_included, override, reasons in rows.iterator(chunk_size=2000):
        mine = per_annotator[annotator_id]
        if withdrawn_at is not None:
            withdrawn += 1
            mine["withdrawn"] += 1
            continue
        live += 1
        mine["judgments"] += 1
        keys = _excluded_reasons(is_included, override, reasons, annotator_id in banned)
        if not keys:
            included += 1
            kept += override == "include" and bool(reasons)
            continue
        excluded += 1
        mine["excluded"] += 1
        reason_counts.update(keys)
        mine["reasons"].update(keys)
    names = dict(get_user_model().objects.filter(pk__in=per_annotator).values_list("pk", "username"))
    annotators = [
        AnnotatorExclusions(
            annotator_id=pk, username=names.get(pk, f"user {pk}"), judgments=info["judgments"],
            excluded=info["excluded"], withdrawn=info["withdrawn"], reasons=_counted(info["reasons"]),
        )
        for pk, info in per_annotator.items()
        if info["excluded"] or info["withdrawn"]
    ]
    annotators.sort(key=lambda a: (-a.excluded, -a.withdrawn, a.username))
    state = QualityState.objects.filter(project=project).values_list("new_judgments", flat=True).first()
    return ExclusionSummary(
        live=live, included=included, excluded=excluded, withdrawn=withdrawn, kept_by_reviewer=kept,
        pending_judgments=state or 0, reasons=_counted(reason_counts), annotators=annotators,
    )


def _counted(counts: Counter[str]) -> list[ReasonCount]:
    return [ReasonCount(key=k, label=reason_label(k), count=n)
            for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


# --- the audit log -----------------------------------------------------------------------------

ACTION_LABELS = {
    "judgment_override": "Judgment included/excluded by hand",
    "annotator_status": "Annotator paused, banned or reinstated",
    "task_update": "Task changed",
    "project_created": "Project created (admin)",
    "project_changed": "Project changed (admin)",
    "project_deleted": "Project deleted (admin)",
    "api_token_created": "API token created (admin)",
    "api_token_changed": "API token changed (admin)",
    "api_token_deleted": "API token deleted (admin)",
}
FIELD_LABELS = {
    "override": "override",
    "included": "in the clean data",
    "weight": "weight",
    "status": "status",
    "priority": "priority",
    "is_gold": "gold task",
    "gold_answer": "gold answer",
}


@dataclass
class AuditRow:
    entry: AuditLog
    actor: str
    action: str
    target: str
    target_url: str | None
    changes: list[str]


def audit_value(name: str, value: Any) -> str:
    """One recorded value as a reviewer reads it."""
    if name == "override" and not value:
        return "none (the filters decide)"
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
        return text if len(text) <= 120 else text[:119] + "…"
    return str(value)


def audit_changes(before: Any, after: Any) -> list[str]:
    """"field: old → new" for each recorded field that changed (or was only recorded on one side)."""
    before = before if isinstance(before, dict) else {"value": before}
    after = after if isinstance(after, dict) else {"value": after}
    lines = []
    for name in dict.fromkeys([*before, *after]):
        old, new = before.get(name), after.get(name)
        if name in before and name in after and old == new:
            continue
        label = FIELD_LABELS.get(name, name.replace("_", " "))
        if name not in before:
            lines.append(f"{label}: {audit_value(name, new)}")
        else:
            lines.append(f"{label}: {audit_value(name, old)} → {audit_value(name, new)}")
    return lines


def audit_rows(*, project: Project, limit: int = 500) -> list[AuditRow]:
    """The project's audit log, newest first, with usernames and readable changes."""
    entries = list(audit_entries(project=project, limit=limit))
    user_ids = {e.target_id for e in entries if e.target_type == "user"}
    judgment_ids = {e.target_id for e in entries if e.target_type == "judgment"}
    judged_by = dict(Judgment.objects.filter(pk__in=judgment_ids).values_list("pk", "annotator_id"))
    names = dict(
        get_user_model().objects.filter(pk__in=user_ids | set(judged_by.values())).values_list("pk", "username")
    )
    rows = []
    for entry in entries:
        url = None
        if entry.target_type == "user":
            target = names.get(entry.target_id, f"user {entry.target_id} (deleted)")
            url = reverse("quality:annotator", kwargs={"slug": project.slug, "user_id": entry.target_id})
        elif entry.target_type == "judgment" and entry.target_id in judged_by:
            annotator_id = judged_by[entry.target_id]
            target = f"judgment {entry.target_id} by {names.get(annotator_id, f'user {annotator_id}')}"
            url = reverse("quality:annotator", kwargs={"slug": project.slug, "user_id": annotator_id})
        else:
            target = f"{entry.target_type} {entry.target_id}"
        rows.append(AuditRow(
            entry=entry,
            actor=entry.actor.get_username() if entry.actor else "–",
            action=ACTION_LABELS.get(entry.action, entry.action.replace("_", " ").capitalize()),
            target=target,
            target_url=url,
            changes=audit_changes(entry.before, entry.after),
        ))
    return rows
