"""Aggregate pairwise labels from a JSONL file and report annotator reliability. No database.

    python manage.py quality_eval labels.jsonl --out items.jsonl [--method dawid-skene|majority] [--no-true-ties]

Input lines: {"item_id", "annotator_id", "label": "a"|"b"|"tie", "seconds"?: >= 0, "words"?: >= 0}.
Output lines: {"item_id", "label", "posterior": {"a": p, "b": p, "tie": p}} -- the full
distribution, so a consumer can threshold confidence or use soft labels.

The same quality pass as the service (labeling/quality/pipeline.py) with the same settings
(labeling/quality/config.py, the project defaults unless an option says otherwise); items are
labelled from the judgments it keeps.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.quality.config import DEFAULTS, METHODS, QualityConfig, config_errors, config_from_json
from labeling.quality.evaluate import LABELS, EvalResult, LabelLine, evaluate_lines

SCORE_KAPPA_GOOD = 0.5  # spammer_score's informativeness part is 1 - kappa / 0.5


def parse_judgments(path: Path) -> list[LabelLine]:
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


def _parse_line(raw: str) -> LabelLine:
    try:
        row = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg})") from exc
    if not isinstance(row, dict):
        raise ValueError("expected a JSON object")
    for key in ("item_id", "annotator_id", "label"):
        if key not in row or row[key] is None or row[key] == "":
            raise ValueError(f"missing field {key!r}")
    if row["label"] not in LABELS:
        raise ValueError(f"unknown label {row['label']!r}; expected one of {', '.join(LABELS)}")
    return LabelLine(
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
        parser.add_argument("--method", choices=METHODS, default=DEFAULTS["method"])
        parser.add_argument("--min-seconds", type=float, default=DEFAULTS["floor_seconds"],
                            help="judgments faster than this are 'too fast' (floor_seconds)")
        parser.add_argument("--min-labels", type=int, default=DEFAULTS["min_labels"],
                            help="annotators with fewer labels are never flagged (min_labels)")
        parser.add_argument("--min-informativeness", type=float, default=None,
                            help="chance-corrected reliability below which an annotator is flagged "
                                 f"(default {DEFAULTS['min_informativeness']})")
        parser.add_argument("--no-true-ties", action="store_true",
                            help="the truth always has a side: read a tie as 'could not tell' and label every "
                                 "item a or b (true_ties=false)")
        parser.add_argument("--flag-threshold", type=float, default=None,
                            help="old spelling of --min-informativeness: flags kappa <= 0.5 * (1 - T), as the "
                                 "spammer score's reliability part did")

    def handle(self, *args, **opts) -> None:
        path: Path = opts["input"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        judgments = parse_judgments(path)
        cfg = self._config(opts)
        result = evaluate_lines(judgments, cfg)
        write_items_atomically(result, opts["out"])
        self._print_table(result)
        self.stdout.write(
            f"{len(result.items)} items -> {opts['out']}; method {cfg.method}; "
            f"{len(result.flagged)} annotator(s) flagged and excluded from the labels"
        )

    @staticmethod
    def _config(opts: dict) -> QualityConfig:
        settings = {"method": opts["method"], "floor_seconds": opts["min_seconds"], "min_labels": opts["min_labels"],
                    "true_ties": not opts.get("no_true_ties", False)}
        if opts["flag_threshold"] is not None:
            settings["min_informativeness"] = SCORE_KAPPA_GOOD * (1.0 - opts["flag_threshold"])
        if opts["min_informativeness"] is not None:
            settings["min_informativeness"] = opts["min_informativeness"]
        errors = config_errors(settings)
        if errors:
            raise CommandError("; ".join(errors))
        return config_from_json(settings)

    def _print_table(self, result: EvalResult) -> None:
        header = f"{'annotator':24} {'n':>6} {'reliab':>7} {'kappa':>6} {'loo_agr':>7} {'fast':>5} {'score':>5} spammer"
        self.stdout.write(header)
        rows = sorted(result.annotators.items(), key=lambda row: (-row[1].spammer_score, row[0]))
        for name, q in rows:
            self.stdout.write(
                f"{name[:24]:24} {q.n_judgments:6d} {_fixed(q.reliability, 7, 3)} {_fixed(q.informativeness, 6, 3)} "
                f"{_fixed(q.loo_agreement, 7, 3)} {q.too_fast_share:5.2f} "
                f"{q.spammer_score:5.2f} {'yes' if q.flagged else 'no'}"
            )


def _fixed(value: float | None, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:{width}.{digits}f}"
