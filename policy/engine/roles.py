"""Who plays policy, reference and value in a PPO run.

``LoraRoles`` (the default, PERL): one frozen base; the policy and the value function are LoRA
adapters on it (the value read through a linear head), the reference is the base with adapters
disabled or a frozen SFT adapter. ``FullRoles`` trains every weight the classic way: the policy
is the whole model, the value function a second full copy with a head, the reference a third,
frozen copy. It exists to measure what LoRA saves (bench/policy_lora_vs_full.py).
"""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from training.torch_setup import autocast, pick_device, resolve_precision

from .adapters import (
    POLICY,
    REFERENCE,
    VALUE,
    VALUE_HEAD_FILE,
    add_adapter,
    attach_policy,
    load_adapter_state,
    load_causal_base,
    new_value_head,
    save_adapter,
    save_meta,
    trainable_parameters,
    use_adapter,
)
from .forward import response_logprobs, response_values
from .value_trunk import ValueTrunk, decoder_layers, value_layer_indices


class LoraRoles:
    """One base in memory; policy, value and (optionally) reference are named adapters on it."""

    def __init__(self, config: Any):
        base, self.tokenizer, self.precision = load_causal_base(config.base_model, device=config.device,
                                                                precision=config.precision)
        self.device = next(base.parameters()).device
        self.policy = attach_policy(base, config)
        self.reference_name: str | None = None
        if config.init_adapter and config.reference == "init":
            add_adapter(self.policy, REFERENCE, path=config.init_adapter, trainable=False)
            self.reference_name = REFERENCE
        layers = None
        if config.value_layers < 1:
            layers = value_layer_indices(len(decoder_layers(base)), config.value_layers)
        add_adapter(self.policy, VALUE, path=config.value_init_adapter, cfg=config, trainable=True, layers=layers)
        self.trunk = ValueTrunk(self.policy, _first_layer(self.policy.peft_config[VALUE].layers_to_transform))
        self.policy.base_model.set_adapter(POLICY)
        self.value_head = new_value_head(base, self.device, config.value_init_adapter)
        self.policy_params = trainable_parameters(self.policy, (POLICY,))
        self.value_params = [*trainable_parameters(self.policy, (VALUE,)), *self.value_head.parameters()]
        self.trainable = self.policy_params + self.value_params
        for p in self.trainable:
            p.requires_grad_(True)
        self.policy.eval()  # dropout off

    @property
    def reference_label(self) -> str:
        return self.reference_name or "base"

    def compute(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()  # bf16 lives in the frozen weights; LoRA runs in fp32

    # Roles take turns on the shared base: one pass each. (PEFT's mixed-batch adapter_names can put
    # two roles in one pass, but its per-layer gather/scatter measured ~1.5x slower here.)
    def rollout_pass(self, ids: torch.Tensor, mask: torch.Tensor, length: int, temperature: float):
        """(reference log-probs, values, value trunk) of the rollouts. Below the value adapter's
        layers the value function is the bare base: with the base as reference, the reference pass
        already computes that trunk, and the value pass runs the top layers only."""
        captured: list[torch.Tensor] = []
        with torch.no_grad():
            base_reference = self.reference_name is None
            with use_adapter(self.policy, self.reference_name, self.trainable), \
                    (self.trunk.capture(captured) if base_reference else contextlib.nullcontext()):
                ref, _ = response_logprobs(self.policy, ids, mask, length, temperature)
            trunk = captured[0] if captured else None
            with use_adapter(self.policy, VALUE, self.trainable), \
                    (self.trunk.replay(trunk) if trunk is not None else self.trunk.capture(captured)):
                values = response_values(self.policy, self.value_head, ids, mask, length)
        return ref, values.float(), (captured[0] if captured else None)

    def policy_logprobs(self, ids: torch.Tensor, mask: torch.Tensor, length: int, temperature: float):
        return response_logprobs(self.policy, ids, mask, length, temperature)[0]

    def values(self, ids: torch.Tensor, mask: torch.Tensor, length: int,
               trunk: torch.Tensor | None = None) -> torch.Tensor:
        """Values under the value adapter; ``trunk`` (from ``rollout_pass``) skips the frozen layers."""
        with use_adapter(self.policy, VALUE, self.trainable), self.trunk.replay(trunk):
            return response_values(self.policy, self.value_head, ids, mask, length).float()

    def write(self, folder: Path, meta: dict[str, Any] | None = None) -> None:
        save_adapter(self.policy, POLICY, folder, tokenizer=self.tokenizer, meta=meta)
        save_adapter(self.policy, VALUE, folder / "value", value_head=self.value_head)

    def load(self, folder: Path) -> None:
        load_adapter_state(self.policy, POLICY, folder)
        load_adapter_state(self.policy, VALUE, folder / "value")
        self.value_head.load_state_dict(load_file(str(folder / "value" / VALUE_HEAD_FILE)))


class FullRoles:
    """Full-parameter PPO: three copies of the model (policy, value, frozen reference), fp32
    weights with bf16 autocast where the device runs it fast."""

    def __init__(self, config: Any):
        if config.init_adapter:
            raise ValueError("full-parameter PPO starts from the base model; init_adapter is for LoRA runs")
        from transformers import AutoModelForCausalLM

        base, self.tokenizer, _ = load_causal_base(config.base_model, device=config.device, precision="fp32")
        self.device = pick_device(config.device)
        self.precision = resolve_precision(config.precision, self.device)
        self.policy = base
        self.reference_model = AutoModelForCausalLM.from_pretrained(config.base_model, dtype=torch.bfloat16
                                                                    if self.precision == "bf16" else torch.float32)
        self.reference_model.to(self.device).eval().requires_grad_(False)
        self.value_model = copy.deepcopy(base)
        self.value_head = new_value_head(base, self.device)
        self.policy.requires_grad_(True)
        self.value_model.requires_grad_(True)
        self.policy_params = list(self.policy.parameters())
        self.value_params = [*self.value_model.parameters(), *self.value_head.parameters()]
        self.reference_label = "base"

    def compute(self) -> contextlib.AbstractContextManager:
        return autocast(self.device, self.precision)

    def rollout_pass(self, ids: torch.Tensor, mask: torch.Tensor, length: int, temperature: float):
        with torch.no_grad(), self.compute():
            ref, _ = response_logprobs(self.reference_model, ids, mask, length, temperature)
            values = response_values(self.value_model, self.value_head, ids, mask, length)
        return ref, values.float(), None

    def policy_logprobs(self, ids: torch.Tensor, mask: torch.Tensor, length: int, temperature: float):
        with self.compute():
            return response_logprobs(self.policy, ids, mask, length, temperature)[0]

    def values(self, ids: torch.Tensor, mask: torch.Tensor, length: int,
               trunk: torch.Tensor | None = None) -> torch.Tensor:
        with self.compute():
            return response_values(self.value_model, self.value_head, ids, mask, length).float()

    def write(self, folder: Path, meta: dict[str, Any] | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.policy.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        self.value_model.save_pretrained(folder / "value")
        save_file({k: v.detach().contiguous() for k, v in self.value_head.state_dict().items()},
                  str(folder / "value" / VALUE_HEAD_FILE))
        if meta is not None:
            save_meta(folder, {**meta, "full_finetune": True})

    def load(self, folder: Path) -> None:
        from safetensors.torch import load_model

        load_model(self.policy, str(folder / "model.safetensors"), strict=False)
        load_model(self.value_model, str(folder / "value" / "model.safetensors"), strict=False)
        self.value_head.load_state_dict(load_file(str(folder / "value" / VALUE_HEAD_FILE)))


def _first_layer(layers: int | list[int] | None) -> int:
    """The lowest layer the value adapter adapts (0 when it spans every layer)."""
    if layers is None:
        return 0
    return layers if isinstance(layers, int) else min(layers)


def make_roles(config: Any) -> LoraRoles | FullRoles:
    return FullRoles(config) if config.full_finetune else LoraRoles(config)
