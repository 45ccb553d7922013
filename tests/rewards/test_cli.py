import io
import json
import re

import pytest
from django.core.management import CommandError, call_command

from .conftest import toy_elements


def _write_pairs(path, n=40):
    with open(path, "w") as fh:
        for el in toy_elements(n):
            if len(el.responses) == 2:
                rec = {"prompt": el.prompt, "chosen": el.responses[0], "rejected": el.responses[1]}
                fh.write(json.dumps(rec) + "\n")
            else:
                fh.write(json.dumps({"prompt": el.prompt, "responses": el.responses, "ranks": [1, 2, 3]}) + "\n")


def test_train_then_eval_end_to_end(tiny_bert, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    _write_pairs(pairs)
    out = tmp_path / "rm"
    stdout = io.StringIO()
    call_command("train_reward", "--pairs", str(pairs), "--base-model", tiny_bert, "--out", str(out),
                 "--num-epochs", "5", "--learning-rate", "0.02", "--batch-size", "8", "--precision", "fp32",
                 "--no-progress", stdout=stdout, stderr=io.StringIO())
    assert "saved adapter to" in stdout.getvalue()
    assert (out / "adapter_model.safetensors").is_file()
    stdout = io.StringIO()
    call_command("eval_reward", "--adapter", str(out), "--pairs", str(pairs), "--precision", "fp32",
                 "--no-progress", stdout=stdout)
    last = stdout.getvalue().strip().splitlines()[-1]
    m = re.fullmatch(r"accuracy=(\d\.\d{4}) n=(\d+)", last)
    assert m, last
    assert float(m.group(1)) >= 0.8 and int(m.group(2)) == 43


def test_cli_errors_are_clear(tiny_bert, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"chosen": "a b", "rejected": "a c"}\n{"chosen": "x"}\n')
    with pytest.raises(CommandError, match=r"bad.jsonl:2: field 'rejected'"):
        call_command("train_reward", "--pairs", str(bad), "--base-model", tiny_bert, "--out", str(tmp_path / "o"))
    with pytest.raises(CommandError, match="no such file"):
        call_command("eval_reward", "--adapter", str(tmp_path), "--pairs", str(tmp_path / "missing.jsonl"))
    good = tmp_path / "good.jsonl"
    _write_pairs(good, 4)
    with pytest.raises(CommandError, match="cannot load reward model"):
        call_command("eval_reward", "--adapter", str(tmp_path / "nothing"), "--pairs", str(good))


def test_train_and_eval_an_ensemble_from_the_cli(tiny_bert, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    _write_pairs(pairs, n=16)
    out = tmp_path / "ens"
    call_command("train_reward", "--pairs", str(pairs), "--base-model", tiny_bert, "--out", str(out),
                 "--max-steps", "2", "--ensemble-size", "2", "--precision", "fp32", "--no-progress",
                 stdout=io.StringIO(), stderr=io.StringIO())
    assert json.loads((out / "reward_config.json").read_text())["ensemble"] == ["member-0", "member-1"]
    stdout = io.StringIO()
    call_command("eval_reward", "--adapter", str(out), "--pairs", str(pairs), "--precision", "fp32",
                 "--no-progress", stdout=stdout)
    assert re.fullmatch(r"accuracy=\d\.\d{4} n=19", stdout.getvalue().strip().splitlines()[-1])
    with pytest.raises(CommandError, match="ensemble_size must be >= 1"):
        call_command("train_reward", "--pairs", str(pairs), "--base-model", tiny_bert, "--out", str(out),
                     "--ensemble-size", "0", stdout=io.StringIO(), stderr=io.StringIO())
