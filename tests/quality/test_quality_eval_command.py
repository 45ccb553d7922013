import json

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


def write_lines(path, lines):
    path.write_text("".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines))


def good_lines(n_items=40):
    rng = np.random.default_rng(0)
    lines = []
    for i in range(n_items):
        truth = "a" if i % 2 else "b"
        for w in range(5):
            label = truth if rng.random() < 0.85 else ["a", "b", "tie"][rng.integers(3)]
            lines.append({"item_id": f"p{i}", "annotator_id": f"w{w}", "label": label, "seconds": 12.5})
        lines.append({"item_id": f"p{i}", "annotator_id": "bot", "label": "a", "seconds": 0.5})
    return lines


@pytest.mark.parametrize("method", ["dawid-skene", "majority"])
def test_happy_path(tmp_path, capsys, method):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_lines(src, good_lines())
    call_command("quality_eval", str(src), "--out", str(out), "--method", method)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 40
    assert set(rows[0]) == {"item_id", "label", "posterior"}
    assert all(abs(sum(r["posterior"].values()) - 1) < 1e-4 for r in rows)
    # 40 items x 5 honest labels is little data for 3x3 confusion matrices per annotator;
    # Dawid-Skene then calls a few "3 of 5 say tie"-ish items tie, so allow a small margin.
    assert sum(r["label"] == ("a" if int(r["item_id"][1:]) % 2 else "b") for r in rows) >= 35
    table = capsys.readouterr().out
    assert "annotator" in table and "spammer" in table
    bot_line = next(line for line in table.splitlines() if line.startswith("bot"))
    assert bot_line.rstrip().endswith("yes")
    assert next(line for line in table.splitlines() if line.startswith("w0")).rstrip().endswith("no")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", "invalid JSON"),
        ({"item_id": "x", "label": "a"}, "missing field 'annotator_id'"),
        ({"item_id": "x", "annotator_id": "w", "label": "left"}, "unknown label"),
        ({"item_id": "x", "annotator_id": "w", "label": "a", "seconds": -1}, "must not be negative"),
        ({"item_id": "x", "annotator_id": "w", "label": "a", "seconds": "fast"}, "must be a number"),
    ],
)
def test_bad_line_names_line_number_and_writes_nothing(tmp_path, bad, message):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = good_lines(3)
    lines.insert(6, bad)  # becomes line 7
    write_lines(src, lines)
    with pytest.raises(CommandError, match=rf"in\.jsonl:7: .*{message}"):
        call_command("quality_eval", str(src), "--out", str(out))
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [src]  # no temp file left behind


def test_existing_output_untouched_on_error(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    out.write_text("previous\n")
    write_lines(src, good_lines(2) + ["[]"])
    with pytest.raises(CommandError, match=":13: expected a JSON object"):
        call_command("quality_eval", str(src), "--out", str(out))
    assert out.read_text() == "previous\n"


def test_missing_input_file(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("quality_eval", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o.jsonl"))


def test_no_true_ties_labels_every_item_a_or_b(tmp_path):
    # Annotators who say "tie" when unsure, on a truth that always has a side.
    rng = np.random.default_rng(1)
    habit = rng.uniform(0.2, 0.6, 8)
    lines = []
    for i in range(60):
        truth = "a" if i % 2 else "b"
        for w in range(8):
            sure = rng.random() < 0.7
            label = truth if sure else ("tie" if rng.random() < habit[w] else ["a", "b"][rng.integers(2)])
            lines.append({"item_id": f"p{i}", "annotator_id": f"w{w}", "label": label})
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_lines(src, lines)
    call_command("quality_eval", str(src), "--out", str(out), "--no-true-ties")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["label"] for r in rows} <= {"a", "b"} and all(r["posterior"]["tie"] == 0.0 for r in rows)
    assert sum(r["label"] == ("a" if int(r["item_id"][1:]) % 2 else "b") for r in rows) >= 55
