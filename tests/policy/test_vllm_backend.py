"""The vLLM generation backend without vLLM: the setting, the error when the package is missing,
and our side of the mapping (GenerationConfig -> SamplingParams arguments, vLLM's outputs ->
Completion records), driven by hand-made objects shaped like vLLM's RequestOutput and
CompletionOutput. vLLM itself (a GPU and the package) is not exercised here."""

from __future__ import annotations

import io
import json
import sys
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command

from policy.engine import GenerationConfig, encode_prompt, generate_completions, load_for_generation
from policy.engine import vllm_backend as vb

from .conftest import PROMPTS


def _out(index, text, token_ids, finish_reason="stop"):
    return SimpleNamespace(index=index, text=text, token_ids=token_ids, finish_reason=finish_reason,
                           stop_reason=None, cumulative_logprob=None, logprobs=None)


def _request_output(*samples):
    return SimpleNamespace(request_id="0", prompt=None, prompt_token_ids=[1], outputs=list(samples), finished=True)


@pytest.fixture
def no_vllm(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # `import vllm` raises ImportError, installed or not


def test_backend_setting(monkeypatch):
    monkeypatch.delenv(vb.BACKEND_ENV, raising=False)
    assert vb.generation_backend() == "transformers"
    monkeypatch.setenv(vb.BACKEND_ENV, " VLLM ")
    assert vb.generation_backend() == "vllm"
    assert vb.generation_backend("transformers") == "transformers"  # an explicit choice wins
    monkeypatch.setenv(vb.BACKEND_ENV, "vlm")
    with pytest.raises(vb.GenerationBackendError, match="PREFLAB_GENERATION_BACKEND must be one of transformers, vllm"):
        vb.generation_backend()


def test_missing_vllm_is_a_clear_error_before_any_loading(no_vllm, monkeypatch, tmp_path):
    monkeypatch.setenv(vb.BACKEND_ENV, "vllm")
    with pytest.raises(vb.GenerationBackendError) as info:
        load_for_generation(str(tmp_path / "no-such-model"), [])  # fails on the package, not the missing model
    message = str(info.value)
    assert "'vllm' package" in message and "PREFLAB_GENERATION_BACKEND" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_generate_command_names_the_package_and_the_setting(no_vllm, monkeypatch, tiny_lm, tmp_path):
    monkeypatch.setenv(vb.BACKEND_ENV, "vllm")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"prompt": "why cat question"}) + "\n")
    with pytest.raises(CommandError, match=r"PREFLAB_GENERATION_BACKEND=vllm needs the 'vllm' package"):
        call_command("generate", "--prompts", str(prompts), "--base-model", tiny_lm, "--out",
                     str(tmp_path / "out.jsonl"), "--no-progress", stdout=io.StringIO())


def test_sampling_kwargs_follow_the_generation_config():
    config = GenerationConfig(temperature=0.7, top_p=0.9, top_k=0, repetition_penalty=1.1, max_new_tokens=48)
    assert vb.sampling_kwargs(config, k=4, seed=12, stop_ids=[2]) == {
        "n": 4, "temperature": 0.7, "top_p": 0.9, "top_k": -1, "repetition_penalty": 1.1, "max_tokens": 48,
        "seed": 12, "stop_token_ids": [2]}
    assert vb.sampling_kwargs(GenerationConfig(top_k=40), k=2, seed=0)["top_k"] == 40
    greedy = vb.sampling_kwargs(GenerationConfig(temperature=0.0, top_p=0.5, top_k=5), k=3, seed=0)
    assert (greedy["n"], greedy["top_p"], greedy["top_k"]) == (1, 1.0, -1)  # vLLM refuses n > 1 when greedy


def test_outputs_become_completion_records():
    requests = [(0, None, 7), (0, "a0", 8), (1, None, 9)]
    outputs = [
        _request_output(_out(1, " second ", [5, 6, 1]), _out(0, "first", [4, 1])),  # out of index order
        _request_output(_out(0, "cut off", [4, 4, 4, 4], "length"), _out(1, "", [1])),
        _request_output(_out(0, "x", [3, 1], "stop"), _out(1, "y", [3, 3], "abort")),
    ]
    got = vb.completions_from_outputs(outputs, requests, k=2)
    assert [(c.prompt_index, c.adapter, c.k, c.text, c.ended, c.tokens, c.seed) for c in got] == [
        (0, None, 0, "first", True, 2, 7), (0, None, 1, "second", True, 3, 7),
        (0, "a0", 0, "cut off", False, 4, 8), (0, "a0", 1, "", True, 1, 8),
        (1, None, 0, "x", True, 2, 9), (1, None, 1, "y", False, 2, 9),
    ]
    greedy = vb.completions_from_outputs([_request_output(_out(0, "same", [2, 1]))], [(3, "a1", 0)], k=3)
    assert [(c.k, c.text) for c in greedy] == [(0, "same"), (1, "same"), (2, "same")]
    with pytest.raises(ValueError, match="expected 3"):
        vb.completions_from_outputs([_request_output(_out(0, "a", [1]), _out(1, "b", [1]))], [(0, None, 0)], k=3)
    with pytest.raises(ValueError, match="answered 0 requests, 1 were sent"):
        vb.completions_from_outputs([], [(0, None, 0)], k=1)


class FakeLLM:
    """Answers like vllm.LLM.generate: one RequestOutput per prompt, in order, n samples each."""

    def __init__(self):
        self.calls = []

    def generate(self, prompts, params, *, lora_request, use_tqdm):
        self.calls.append((prompts, params, lora_request))
        return [_request_output(*[_out(j, f"p{len(pr['prompt_token_ids'])} {lr} s{sp['seed']} {j}", [1] * (j + 1))
                                  for j in range(sp["n"])])
                for pr, sp, lr in zip(prompts, params, lora_request, strict=True)]


def test_generator_drives_vllm_like_the_transformers_path(tiny_lm, monkeypatch):
    from transformers import AutoTokenizer

    monkeypatch.setattr(vb, "CHUNK", 3)  # 4 prompts x 2 adapters = 8 requests: chunks of 3, 3, 2
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    fake = FakeLLM()
    engine = vb.VLLMGenerator(fake, tokenizer, {"a0": "LORA-a0"}, dict, stop_ids=[1])
    config = GenerationConfig(max_new_tokens=5, seed=100)
    batches = []
    prompts = PROMPTS[:4]
    got = generate_completions(engine, tokenizer, prompts, config, adapters=["a0", None], k=2,
                               on_batch=lambda n, _r: batches.append(n))
    assert batches == [6, 6, 4]
    sent = [p["prompt_token_ids"] for call in fake.calls for p in call[0]]
    assert sent == [encode_prompt(tokenizer, prompts[i], max_length=config.max_prompt_length)
                    for i in range(4) for _ in range(2)]
    assert [lr for call in fake.calls for lr in call[2]] == ["LORA-a0", None] * 4
    params = [p for call in fake.calls for p in call[1]]
    assert [p["seed"] for p in params] == list(range(100, 108)) and {p["n"] for p in params} == {2}
    assert {p["max_tokens"] for p in params} == {5} and params[0]["stop_token_ids"] == [1]
    # The records and their order are the transformers path's: prompt, then adapter as listed, then k.
    assert [(c.prompt_index, c.adapter, c.k) for c in got] == [
        (i, a, j) for i in range(4) for a in ("a0", None) for j in range(2)]
    assert got[0].seed == 100 and got[0].text.startswith("p") and " LORA-a0 s100 0" in got[0].text
    assert all(c.ended and c.tokens == c.k + 1 for c in got)
