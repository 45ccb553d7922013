"""Batched generation from one base and any number of LoRA adapters.

Prompts are left-padded so every row's next token sits at the same position and the KV cache
is shared per batch; rows stop at EOS. Rows of one batch may use different adapters: PEFT's
mixed-batch ``adapter_names`` runs the base matmuls once for the whole batch and each adapter's
low-rank update on its own rows (the S-LoRA idea); ``None`` means the bare base.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

from .config import GenerationConfig

BASE = "__base__"  # PEFT's name for "no adapter" in a mixed batch
Prompt = str | list[dict[str, str]]


def prompt_messages(prompt: Prompt, system_prompt: str = "") -> list[dict[str, str]]:
    if isinstance(prompt, str):
        turns = [{"role": "user", "content": prompt}]
        return [{"role": "system", "content": system_prompt}, *turns] if system_prompt else turns
    return list(prompt)


def prompt_plain_text(prompt: Prompt) -> str:
    """A chat prompt as plain text (for tokenizers without a chat template)."""
    if isinstance(prompt, str):
        return prompt
    return "".join(f"{m.get('role', 'user')}: {m.get('content', '')}\n" for m in prompt) + "assistant: "


def uses_chat_template(tokenizer: Any, wanted: bool = True) -> bool:
    return bool(wanted and getattr(tokenizer, "chat_template", None))


def encode_prompt(
    tokenizer: Any, prompt: Prompt, *, chat_template: bool = True, system_prompt: str = "", max_length: int = 512
) -> list[int]:
    """Token ids of a prompt ready for the response to follow; cut from the left to max_length."""
    if uses_chat_template(tokenizer, chat_template):
        text = tokenizer.apply_chat_template(
            prompt_messages(prompt, system_prompt), add_generation_prompt=True, tokenize=False
        )
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    else:
        ids = tokenizer(prompt_plain_text(prompt), add_special_tokens=True)["input_ids"]
    if not ids:
        ids = [tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id]
    return ids[-max_length:]


def left_pad(
    rows: list[list[int]], pad_id: int, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row):] = 1
    return ids.to(device), mask.to(device)


def eos_ids(model: Any, tokenizer: Any) -> list[int]:
    """Every token id that ends a response (the generation config may list several)."""
    ids: set[int] = set()
    gen = getattr(model, "generation_config", None)
    configured = getattr(gen, "eos_token_id", None) if gen is not None else None
    for value in (configured, tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    return sorted(ids)


def response_mask(responses: torch.Tensor, stop_ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(mask, ended): 1 up to and including the first stop token of each row; ended = had one."""
    is_stop = torch.isin(responses, torch.tensor(stop_ids, device=responses.device))
    ended = is_stop.any(dim=1)
    last = torch.full_like(ended, responses.shape[1] - 1, dtype=torch.long)
    first = torch.where(ended, is_stop.int().argmax(dim=1), last)
    positions = torch.arange(responses.shape[1], device=responses.device).unsqueeze(0)
    return (positions <= first.unsqueeze(1)).long(), ended


@dataclass
class Generation:
    """One batch of completions. Tensors are batch-first; response tensors are right-padded."""

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    response_ids: torch.Tensor
    response_mask: torch.Tensor
    ended: torch.Tensor
    texts: list[str]
    logprobs: torch.Tensor | None = None
    seconds: float = 0.0
    entropy: torch.Tensor | None = None
    adapters: list[str | None] = field(default_factory=list)

    @property
    def new_tokens(self) -> int:
        return int(self.response_mask.sum())


def _hf_generation_config(model: Any, config: GenerationConfig, pad_id: int, stop: list[int]) -> Any:
    from transformers import GenerationConfig as HFGenerationConfig

    sample = config.temperature > 0
    return HFGenerationConfig(
        max_new_tokens=config.max_new_tokens, do_sample=sample, temperature=config.temperature if sample else 1.0,
        top_k=config.top_k if sample else None, top_p=config.top_p if sample else None,
        repetition_penalty=config.repetition_penalty, pad_token_id=pad_id, eos_token_id=stop, use_cache=True,
    )


def decode_responses(tokenizer: Any, response_ids: torch.Tensor, mask: torch.Tensor, ended: torch.Tensor) -> list[str]:
    texts = []
    for row, m, end in zip(response_ids.tolist(), mask.sum(1).tolist(), ended.tolist(), strict=True):
        keep = row[: m - 1] if end else row[:m]  # the stop token is not part of the text
        texts.append(tokenizer.decode(keep, skip_special_tokens=True).strip())
    return texts


@torch.no_grad()
def generate_batch(
    model: Any,
    tokenizer: Any,
    prompt_ids: list[list[int]],
    config: GenerationConfig,
    *,
    adapters: list[str | None] | None = None,
    return_logprobs: bool = False,
) -> Generation:
    """Sample one completion per prompt row. ``adapters`` names each row's adapter (mixed batch;
    None = base); without it the model's active adapter serves every row."""
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id
    stop = eos_ids(model, tokenizer)
    ids, mask = left_pad(prompt_ids, pad_id, device)
    kwargs: dict[str, Any] = {}
    if adapters is not None:
        kwargs["adapter_names"] = [a if a is not None else BASE for a in adapters]
    if return_logprobs:
        kwargs.update(output_logits=True, return_dict_in_generate=True)
    started = time.perf_counter()
    out = model.generate(
        input_ids=ids, attention_mask=mask, generation_config=_hf_generation_config(model, config, pad_id, stop),
        **kwargs,
    )
    seconds = time.perf_counter() - started
    sequences = out.sequences if return_logprobs else out
    responses = sequences[:, ids.shape[1]:]
    if responses.shape[1] == 0:
        responses = torch.full((ids.shape[0], 1), stop[0] if stop else pad_id, device=device)
    rmask, ended = response_mask(responses, stop)
    responses = torch.where(rmask.bool(), responses, torch.full_like(responses, pad_id))
    logprobs = entropy = None
    if return_logprobs:
        # The raw logits at the sampling temperature: the distribution each token was drawn from
        # (top_k and top_p, when set, narrow it further and are not reflected here).
        temperature = config.temperature if config.temperature > 0 else 1.0
        logp_all = torch.log_softmax(torch.stack(out.logits, dim=1).float()[:, : responses.shape[1]] / temperature, -1)
        logprobs = logp_all.gather(-1, responses.unsqueeze(-1)).squeeze(-1) * rmask
        entropy = -(logp_all.exp() * logp_all).sum(-1) * rmask
    return Generation(ids, mask, responses, rmask, ended, decode_responses(tokenizer, responses, rmask, ended),
                      logprobs=logprobs, seconds=seconds, entropy=entropy,
                      adapters=list(adapters) if adapters is not None else [])


@dataclass
class Completion:
    prompt_index: int
    adapter: str | None
    k: int
    text: str
    ended: bool
    tokens: int
    seed: int = 0


def generate_completions(
    model: Any,
    tokenizer: Any,
    prompts: list[Prompt],
    config: GenerationConfig,
    *,
    adapters: list[str | None] | None = None,
    k: int = 1,
    on_batch: Any = None,
) -> list[Completion]:
    """k completions per prompt and per adapter, every adapter in the same batches. Seeded per
    batch, so the same call writes the same samples. A vLLM engine from load_for_generation
    (PREFLAB_GENERATION_BACKEND=vllm) generates them instead, as the same records."""
    from .vllm_backend import VLLMGenerator  # here: it imports this module

    if isinstance(model, VLLMGenerator):
        return model.generate_completions(prompts, config, adapters=adapters, k=k, on_batch=on_batch)
    adapters = adapters if adapters is not None else [None]
    encoded = [encode_prompt(tokenizer, p, chat_template=config.chat_template, system_prompt=config.system_prompt,
                             max_length=config.max_prompt_length) for p in prompts]
    jobs = [(i, a, j) for i in range(len(prompts)) for j in range(k) for a in adapters]
    # Similar lengths together: less padding per batch.
    jobs.sort(key=lambda job: len(encoded[job[0]]))
    mixed = hasattr(model, "peft_config")  # a PeftModel: name every row's adapter (None = the base)
    out: list[Completion] = []
    for start in range(0, len(jobs), config.batch_size):
        batch = jobs[start: start + config.batch_size]
        seed = config.seed + start
        torch.manual_seed(seed)
        result = generate_batch(model, tokenizer, [encoded[i] for i, _, _ in batch], config,
                                adapters=[a for _, a, _ in batch] if mixed else None)
        lengths = result.response_mask.sum(1).tolist()
        for (i, a, j), text, end, n in zip(batch, result.texts, result.ended.tolist(), lengths, strict=True):
            out.append(Completion(i, a, j, text, bool(end), int(n), seed))
        if on_batch is not None:
            on_batch(len(batch), result)
    out.sort(key=lambda c: (c.prompt_index, adapters.index(c.adapter), c.k))
    return out
