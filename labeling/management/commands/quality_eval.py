"""Aggregate pairwise labels from a JSONL file and report annotator reliability. No database.

    python manage.py quality_eval labels.jsonl --out items.jsonl [--method dawid-skene|majority]

Input lines: {"item_id", "annotator_id", "label": "a"|"b"|"tie", "seconds"?: >= 0, "words"?: >= 0}.
Output lines: {"item_id", "label", "posterior": {"a": p, "b": p, "tie": p}} -- the full
distribution, so a consumer can threshold confidence or use soft labels.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.quality.dawid_skene import CLASSES
from labeling.quality.evaluate import EvalResult, Judgment, QualityConfig, evaluate_judgments


def parse_judgments(path: Path) -> list[Judgment]:
    """Read and validate every line; the first bad one raises CommandError with its number."""
    judgments = []
    with path.open(encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                judgments.append(_parse_line(raw))
            except ValueError as exc:
                raise CommandError(f"{path}:{lineno}: {exc}") from exc
    if not judgments:
        raise CommandError(f"{path}: no judgments")
    return judgments


def _parse_line(raw: str) -> Judgment:
    try:
        row = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg})") from exc
    if not isinstance(row, dict):
        raise ValueError("expected a JSON object")
    for key in ("item_id", "annotator_id", "label"):
        if key not in row or row[key] is None or row[key] == "":
            raise ValueError(f"missing field {key!r}")
    if row["label"] not in CLASSES:
        raise ValueError(f"unknown label {row['label']!r}; expected one of {', '.join(CLASSES)}")
    return Judgment(
        str(row["item_id"]),
        str(row["annotator_id"]),
        row["label"],
        _non_negative(row, "seconds", float),
        _non_negative(row, "words", int),
    )


def _non_negative(row: dict, key: str, kind: type) -> float | int | None:
    value = row.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{key!r} must be a number, got {value!r}")
    if value < 0:
        raise ValueError(f"{key!r} must not be negative, got {value!r}")
    return kind(value)


def write_items_atomically(result: EvalResult, out: Path) -> None:
    """Write to a temp file in the target folder, then rename: readers never see half a file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for item in result.items:
                fh.write(json.dumps({"item_id": item.item_id, "label": item.label, "posterior": item.posterior}) + "\n")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Command(BaseCommand):
    help = "Aggregate pairwise labels (JSONL) and print per-annotator reliability; touches no database."
    requires_system_checks: list[str] = []  # pure file-in, file-out: no checks, no DB

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("input", type=Path, help="JSONL of judgments")
        parser.add_argument("--out", type=Path, required=True, help="JSONL of aggregated items")
        parser.add_argument("--method", choices=["dawid-skene", "majority"], default="dawid-skene")
        parser.add_argument(
            "--min-seconds",
            type=float,
            default=QualityConfig.floor_seconds,
            help="judgments faster than this are 'too fast'",
        )
        parser.add_argument(
            "--flag-threshold",
            type=float,
            default=QualityConfig.flag_threshold,
            help="spammer score (0..1) at or above which an annotator is flagged",
        )
        parser.add_argument(
            "--min-labels",
            type=int,
            default=QualityConfig.min_labels,
            help="annotators with fewer labels are never flagged",
        )

    def handle(self, *args, **opts) -> None:
        path: Path = opts["input"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        judgments = parse_judgments(path)
        cfg = QualityConfig(
            method=opts["method"],
            floor_seconds=opts["min_seconds"],
            flag_threshold=opts["flag_threshold"],
            min_labels=opts["min_labels"],
        )
        result = evaluate_judgments(judgments, cfg)
        write_items_atomically(result, opts["out"])
        self._print_table(result)
        self.stdout.write(
            f"{len(result.items)} items -> {opts['out']}; method {cfg.method}; "
            f"{len(result.flagged)} annotator(s) flagged and excluded from the labels"
        )

    def _print_table(self, result: EvalResult) -> None:
        header = f"{'annotator':24} {'n':>6} {'reliab':>7} {'kappa':>6} {'loo_agr':>7} {'fast':>5} {'score':>5} spammer"
        self.stdout.write(header)
        for r in sorted(result.annotators, key=lambda r: (-r.spammer_score, r.annotator_id)):
            loo = "-" if math.isnan(r.loo_agreement) else f"{r.loo_agreement:.3f}"
            self.stdout.write(
                f"{r.annotator_id[:24]:24} {r.n_labels:6d} {r.reliability:7.3f} "
                f"{r.informativeness:6.3f} {loo:>7} {r.too_fast_share:5.2f} "
                f"{r.spammer_score:5.2f} {'yes' if r.flagged else 'no'}"
            )
