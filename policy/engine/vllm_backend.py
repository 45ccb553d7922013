"""Optional vLLM generation backend, selected with PREFLAB_GENERATION_BACKEND=vllm.

The default backend is transformers (generate.py: PEFT's mixed-adapter batches). On a GPU host
with the ``vllm`` package, vLLM serves the same calls faster: the base is loaded once in
``vllm.LLM(enable_lora=True)``, each adapter folder (PEFT layout, as saved here) becomes one
``LoRARequest``, and every (prompt, adapter) pair is one request with ``n=k`` samples. Prompts go
in as token ids from ``encode_prompt``, so the chat template and the left cut are the ones the
transformers path uses; the answers come back as the same ``Completion`` records.

``load_for_generation`` and ``generate_completions`` switch here when the setting says so, so the
generate command, generate runs and RLHF rounds need no change. PPO's own rollouts stay on
transformers: they need log-probabilities from the model being trained.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from .config import GenerationConfig
from .generate import Completion, Prompt, encode_prompt

BACKEND_ENV = "PREFLAB_GENERATION_BACKEND"
BACKENDS = ("transformers", "vllm")
# Requests per LLM.generate call: progress is reported (and a queued run's heartbeat written)
# after each chunk; vLLM batches within a chunk on its own.
CHUNK = 256
# Ranks vLLM accepts for max_lora_rank; the smallest one that holds every adapter is used.
LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
DTYPES = {"auto": "auto", "bf16": "bfloat16", "fp32": "float32"}


class GenerationBackendError(ValueError):
    """The generation backend setting is wrong, or names a package that is not installed."""


def generation_backend(value: str | None = None) -> str:
    """'transformers' or 'vllm': ``value``, else PREFLAB_GENERATION_BACKEND, else transformers."""
    raw = (value if value is not None else os.environ.get(BACKEND_ENV, "")).strip().lower() or "transformers"
    if raw not in BACKENDS:
        raise GenerationBackendError(f"{BACKEND_ENV} must be one of {', '.join(BACKENDS)}, got {raw!r}")
    return raw


def require_vllm() -> Any:
    """The vllm module, or an error naming the package and the setting (no ImportError traceback)."""
    try:
        import vllm
    except ImportError as exc:
        raise GenerationBackendError(
            f"{BACKEND_ENV}=vllm needs the 'vllm' package, which cannot be imported here ({exc}). Install it on"
            f" the GPU host (pip install vllm; it brings its own CUDA build of torch), or unset {BACKEND_ENV}"
            " to generate with transformers."
        ) from None
    return vllm


def sampling_kwargs(config: GenerationConfig, *, k: int, seed: int, stop_ids: Sequence[int] = ()) -> dict[str, Any]:
    """vllm.SamplingParams arguments equivalent to ``config`` for one request of k samples."""
    greedy = config.temperature == 0
    return {
        # vLLM refuses n > 1 with greedy decoding; the k greedy answers are one answer repeated.
        "n": 1 if greedy else k,
        "temperature": config.temperature,
        "top_p": 1.0 if greedy else config.top_p,
        "top_k": config.top_k if config.top_k > 0 and not greedy else -1,  # -1 = no limit in every vLLM version
        "repetition_penalty": config.repetition_penalty,
        "max_tokens": config.max_new_tokens,
        "seed": seed,
        "stop_token_ids": list(stop_ids),
    }


def completions_from_outputs(
    outputs: Sequence[Any], requests: Sequence[tuple[int, str | None, int]], k: int
) -> list[Completion]:
    """Our Completion records from vLLM's RequestOutputs. ``requests`` holds (prompt index,
    adapter name, seed) per request in the order sent; LLM.generate answers in that order."""
    if len(outputs) != len(requests):
        raise ValueError(f"vLLM answered {len(outputs)} requests, {len(requests)} were sent")
    out = []
    for (prompt_index, adapter, seed), result in zip(requests, outputs, strict=True):
        samples = sorted(result.outputs, key=lambda o: o.index)
        if len(samples) == 1 and k > 1:  # greedy: one answer stands for all k
            samples = samples * k
        if len(samples) != k:
            raise ValueError(f"vLLM returned {len(samples)} completions for prompt {prompt_index}, expected {k}")
        for j, sample in enumerate(samples):
            out.append(Completion(
                prompt_index=prompt_index, adapter=adapter, k=j, text=sample.text.strip(),
                ended=sample.finish_reason == "stop",  # EOS or a stop token; "length" = cut at max_tokens
                tokens=len(sample.token_ids), seed=seed,
            ))
    return out


@dataclass
class VLLMGenerator:
    """A vLLM engine with its adapters: what ``load_for_generation`` returns as the model under
    the vllm backend, and what ``generate_completions`` hands its calls to."""

    llm: Any
    tokenizer: Any
    lora_requests: dict[str, Any]  # adapter name -> LoRARequest
    make_sampling_params: Callable[..., Any]
    stop_ids: list[int]

    def generate_completions(
        self, prompts: list[Prompt], config: GenerationConfig, *, adapters: list[str | None] | None = None,
        k: int = 1, on_batch: Callable[[int, Any], None] | None = None,
    ) -> list[Completion]:
        """k completions per prompt and adapter, in generate_completions' order. Request r has
        seed config.seed + r, so the same call asks for the same samples."""
        adapters = adapters if adapters is not None else [None]
        encoded = [encode_prompt(self.tokenizer, p, chat_template=config.chat_template,
                                 system_prompt=config.system_prompt, max_length=config.max_prompt_length)
                   for p in prompts]
        requests = [(i, a, config.seed + r) for r, (i, a) in
                    enumerate((i, a) for i in range(len(prompts)) for a in adapters)]
        out: list[Completion] = []
        for start in range(0, len(requests), CHUNK):
            chunk = requests[start: start + CHUNK]
            results = self.llm.generate(
                [{"prompt_token_ids": encoded[i]} for i, _, _ in chunk],
                [self.make_sampling_params(**sampling_kwargs(config, k=k, seed=s, stop_ids=self.stop_ids))
                 for _, _, s in chunk],
                lora_request=[self.lora_requests[a] if a is not None else None for _, a, _ in chunk],
                use_tqdm=False,
            )
            out.extend(completions_from_outputs(results, chunk, k))
            if on_batch is not None:
                on_batch(len(chunk) * k, None)
        out.sort(key=lambda c: (c.prompt_index, adapters.index(c.adapter), c.k))
        return out


def max_lora_rank(adapter_dirs: Sequence[str]) -> int:
    """The smallest rank vLLM accepts that holds every adapter's ``r``."""
    ranks = [int(json.loads((Path(d) / "adapter_config.json").read_text()).get("r", 8)) for d in adapter_dirs]
    need = max(ranks, default=8)
    for rank in LORA_RANKS:
        if rank >= need:
            return rank
    raise GenerationBackendError(f"LoRA rank {need} is above what vLLM serves ({LORA_RANKS[-1]})")


def load_vllm(
    base_model: str, adapter_dirs: list[str], *, precision: str = "auto"
) -> tuple[VLLMGenerator, Any, list[str | None]]:
    """(engine, tokenizer, adapter names) like load_for_generation's: the base once in vLLM, each
    folder as LoRARequest(name ``a<i>``, id i+1; vLLM reserves 0 for no adapter)."""
    vllm = require_vllm()  # first, so a missing package fails before anything loads
    from transformers import AutoTokenizer
    from transformers import GenerationConfig as HFGenerationConfig

    from .adapters import check_same_base
    from .generate import eos_ids

    for folder in adapter_dirs:
        check_same_base(folder, base_model)
    names: list[str | None] = [f"a{i}" for i in range(len(adapter_dirs))] or [None]
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    try:  # the stop tokens the transformers path uses: the generation config's EOS ids and the tokenizer's
        gen_config = HFGenerationConfig.from_pretrained(base_model)
    except OSError:
        gen_config = None
    stop_ids = eos_ids(SimpleNamespace(generation_config=gen_config), tokenizer)
    kwargs: dict[str, Any] = {"model": base_model, "dtype": DTYPES.get(precision, "auto")}
    if adapter_dirs:
        kwargs.update(enable_lora=True, max_lora_rank=max_lora_rank(adapter_dirs), max_loras=len(adapter_dirs))
    from vllm.lora.request import LoRARequest

    requests = {name: LoRARequest(name, i + 1, str(folder))
                for i, (name, folder) in enumerate(zip(names, adapter_dirs, strict=False))}
    engine = VLLMGenerator(vllm.LLM(**kwargs), tokenizer, requests, vllm.SamplingParams, stop_ids)
    return engine, tokenizer, names
