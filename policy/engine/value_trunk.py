"""The value function's frozen trunk, computed once per rollout batch.

The value adapter sits on the top decoder layers only (``PPOConfig.value_layers``). Below them
the value function is the bare base, so the hidden state entering its first adapted layer does
not change while the PPO epochs train: it is captured once (from the base-model reference pass
when the reference is the base, else from the rollout value pass) and replayed in every value
pass, which then runs only the top layers forward and backward.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch


def decoder_layers(model: Any) -> torch.nn.ModuleList:
    """The transformer's list of decoder blocks (``transformer.h``, ``model.layers``...)."""
    hf = model.get_base_model() if hasattr(model, "get_base_model") else model
    count = hf.config.num_hidden_layers
    for _, module in hf.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == count:
            return module
    raise ValueError(f"cannot find the {count} decoder layers of {type(hf).__name__}")


def value_layer_indices(num_layers: int, share: float) -> list[int]:
    """Indices of the top ``ceil(share * num_layers)`` layers (at least one)."""
    top = min(num_layers, max(1, math.ceil(share * num_layers)))
    return list(range(num_layers - top, num_layers))


class _Replay(torch.nn.Module):
    """Stands in for a frozen lower layer: returns the captured hidden state, whatever comes in."""

    def __init__(self, hidden: torch.Tensor):
        super().__init__()
        self.hidden = hidden

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.hidden


class ValueTrunk:
    """Capture and replay of the hidden state entering decoder layer ``first`` (0 = no trunk)."""

    def __init__(self, model: Any, first: int):
        self.layers = decoder_layers(model) if first > 0 else None
        self.first = first

    @property
    def enabled(self) -> bool:
        return self.layers is not None

    @contextlib.contextmanager
    def capture(self, into: list[torch.Tensor]) -> Iterator[None]:
        """Append the input of the first value layer of every forward run inside the block."""
        if self.layers is None:
            yield
            return

        def hook(_module: Any, args: tuple, kwargs: dict) -> None:
            hidden = args[0] if args else kwargs["hidden_states"]
            into.append(hidden.detach())

        handle = self.layers[self.first].register_forward_pre_hook(hook, with_kwargs=True)
        try:
            yield
        finally:
            handle.remove()

    @contextlib.contextmanager
    def replay(self, hidden: torch.Tensor | None) -> Iterator[None]:
        """Forwards inside the block skip the layers below ``first``: they return ``hidden``."""
        if self.layers is None or hidden is None:
            yield
            return
        lower = [self.layers[i] for i in range(self.first)]
        stand_in = _Replay(hidden)
        try:
            for i in range(self.first):
                self.layers[i] = stand_in
            yield
        finally:
            for i, layer in enumerate(lower):
                self.layers[i] = layer
