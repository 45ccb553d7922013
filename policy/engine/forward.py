"""Teacher-forced passes over prompt + response: per-token log-probs (at the sampling
temperature), entropies, and value estimates read from the last hidden layer."""

from __future__ import annotations

from typing import Any

import torch


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that ignore left padding (a row's first real token is position 0)."""
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)


def _body(model: Any) -> torch.nn.Module:
    """The transformer without its LM head (its LoRA layers stay in place)."""
    hf = model.get_base_model() if hasattr(model, "get_base_model") else model
    return getattr(hf, hf.base_model_prefix)


def response_logprobs(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    response_length: int,
    temperature: float,
    *,
    with_entropy: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probs of the last ``response_length`` tokens under ``model`` (whatever adapter is
    active), and their entropies when asked. The LM head runs on the response positions only."""
    out = model(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids(attention_mask),
        use_cache=False, logits_to_keep=response_length + 1,
    )
    logits = out.logits[:, -(response_length + 1): -1].float() / temperature
    logp_all = torch.log_softmax(logits, dim=-1)
    targets = input_ids[:, -response_length:]
    logprobs = logp_all.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    entropy = None
    if with_entropy:
        with torch.no_grad():
            entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logprobs, entropy


def response_values(
    model: Any, value_head: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
    response_length: int,
) -> torch.Tensor:
    """V(s_t) for each response token t: the head applied to the hidden state that predicts it."""
    hidden = _body(model)(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids(attention_mask), use_cache=False,
    ).last_hidden_state
    states = hidden[:, -(response_length + 1): -1]
    return value_head(states.to(value_head.weight.dtype)).squeeze(-1)

