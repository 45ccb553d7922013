"""The policy commands offline, on tiny models: their output contracts (last lines, JSONL shape)
and clear CommandErrors for bad input."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from tests.policy.conftest import PROMPTS


@pytest.fixture
def files(tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in PROMPTS[:6])
                       + json.dumps({"prompt": [{"role": "user", "content": "why sky"}]}) + "\n")
    sft = tmp_path / "sft.jsonl"
    sft.write_text("".join(json.dumps({"prompt": p, "response": "yes good answer"}) + "\n" for p in PROMPTS))
    return {"prompts": str(prompts), "sft": str(sft), "dir": tmp_path}


def _last_line(capsys) -> str:
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_sft_then_ppo_then_generate_with_both_adapters(tiny_lm, tiny_reward_folder, files, capsys):
    sft_dir, ppo_dir, out = files["dir"] / "sft", files["dir"] / "ppo", files["dir"] / "gen.jsonl"
    call_command("sft", "--data", files["sft"], "--base-model", tiny_lm, "--out", str(sft_dir), "--num-epochs", "3",
                 "--learning-rate", "0.01", "--precision", "fp32", "--no-progress")
    line = _last_line(capsys)
    assert line.startswith("steps=")
    first, last = (float(part.split("=")[1]) for part in line.split()[1:])
    assert last < first and (sft_dir / "adapter_model.safetensors").is_file()

    call_command("train_policy", "--prompts", files["prompts"], "--reward-model", tiny_reward_folder,
                 "--heldout-reward-model", tiny_reward_folder, "--base-model", tiny_lm, "--out", str(ppo_dir),
                 "--init-adapter", str(sft_dir), "--steps", "2", "--batch-size", "4", "--mini-batch-size", "2",
                 "--max-new-tokens", "5", "--precision", "fp32", "--no-progress")
    out_lines = capsys.readouterr().out.strip().splitlines()
    assert out_lines[-1].startswith("steps=2 reward_first=") and " reward_last=" in out_lines[-1]
    assert out_lines[-2].startswith("heldout_reward_first=")
    meta = json.loads((ppo_dir / "policy_config.json").read_text())
    assert meta["kind"] == "ppo" and meta["reference"] == "reference" and meta["init_adapter"] == str(sft_dir)

    call_command("generate", "--prompts", files["prompts"], "--base-model", tiny_lm, "--adapter", str(sft_dir),
                 "--adapter", str(ppo_dir), "--k", "2", "--max-new-tokens", "4", "--seed", "5", "--out", str(out),
                 "--no-progress")
    assert _last_line(capsys) == "generated=28"  # 7 prompts x 2 adapters x k=2
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 28 and {r["adapter"] for r in rows} == {str(sft_dir), str(ppo_dir)}
    assert set(rows[0]) == {"prompt", "response", "adapter", "generation"}
    assert rows[0]["generation"]["max_new_tokens"] == 4 and "seed" in rows[0]["generation"]
    assert any(isinstance(r["prompt"], list) for r in rows)


@pytest.mark.parametrize("args, message", [
    (["sft", "--data", "{dir}/missing.jsonl", "--out", "{dir}/o"], "no such file"),
    (["sft", "--data", "{bad}", "--out", "{dir}/o"], ":2: not JSON"),
    (["sft", "--data", "{prompts}", "--out", "{dir}/o"], "response must be a non-empty string"),
    (["sft", "--data", "{sft}"], "--out is required"),
    (["sft", "--data", "{sft}", "--out", "{dir}/o", "--lora-r", "8", "--precision", "fp64"], "precision"),
    (["train_policy", "--prompts", "{prompts}", "--out", "{dir}/o"], "--reward-model is required"),
    (["train_policy", "--prompts", "{sft}", "--reward-model", "{dir}", "--out", "{dir}/o", "--steps", "0"],
     "--steps must be at least 1"),
    (["train_policy", "--prompts", "{prompts}", "--reward-model", "{dir}/none", "--out", "{dir}/o"],
     "cannot load the reward model"),
    (["generate", "--prompts", "{prompts}", "--adapter", "{dir}", "--out", "{dir}/g.jsonl"], "not a PEFT adapter"),
    (["generate", "--prompts", "{prompts}", "--out", "{dir}/g.jsonl", "--temperature", "-1"], "temperature"),
    (["generate", "--prompts", "{prompts}", "--k", "0", "--out", "{dir}/g.jsonl"], "--k must be at least 1"),
    (["generate", "--prompts", "{prompts}", "--base-model", "/no/such/model", "--out", "{dir}/g.jsonl"],
     "does not exist"),
])
def test_bad_input_is_a_clear_command_error(args, message, tiny_lm, files):
    bad = files["dir"] / "bad.jsonl"
    bad.write_text('{"prompt": "ok", "response": "fine"}\n{not json\n')
    values = {"dir": str(files["dir"]), "bad": str(bad), **files}
    argv = [a.format(**values) for a in args]
    if "--base-model" not in argv:
        argv += ["--base-model", tiny_lm]
    with pytest.raises(CommandError, match=message):
        call_command(*argv)
