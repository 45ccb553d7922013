"""One frozen base in memory, several named LoRA adapters on it.

Adapter names: ``default`` is the trainable policy (PEFT saves it at the folder's root, so the
output is a standard adapter folder); ``value`` is the value function's adapter, read through a
linear value head; ``reference`` is a frozen adapter the KL is measured against (the SFT adapter
PPO started from). The base-model reference needs no adapter: ``model.disable_adapter()``.
Nothing here loads a second copy of the base.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from training.torch_setup import pick_device, resolve_precision

POLICY = "default"
VALUE = "value"
REFERENCE = "reference"
FORMAT = "preflab-policy/1"
META_FILE = "policy_config.json"
VALUE_HEAD_FILE = "value_head.safetensors"

# Attention projections per architecture; PEFT's own table is the fallback.
TARGET_MODULES: dict[str, list[str]] = {
    "gpt2": ["c_attn"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen3": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "gemma": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "gemma2": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "phi3": ["qkv_proj", "o_proj"],
}


def target_modules_for(model_type: str) -> list[str]:
    if model_type in TARGET_MODULES:
        return list(TARGET_MODULES[model_type])
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as peft_table

    if model_type in peft_table:
        return list(peft_table[model_type])
    raise ValueError(f"no default LoRA target modules for model type {model_type!r}; pass target_modules")


def load_causal_base(base_model: str, *, device: str = "auto", precision: str = "auto") -> tuple[Any, Any, str]:
    """The frozen base (dropout off, eval mode, weights in bf16 where bf16 is fast), its tokenizer
    (left padding, a pad token) and the resolved precision."""
    dev = pick_device(device)
    resolved = resolve_precision(precision, dev)
    dtype = torch.bfloat16 if resolved == "bf16" else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    model = AutoModelForCausalLM.from_pretrained(base_model, dtype=dtype)
    for key, value in model.config.to_dict().items():
        if isinstance(value, float) and ("dropout" in key or key.endswith("_pdrop")):
            setattr(model.config, key, 0.0)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.requires_grad_(False)
    model.eval()
    return model.to(dev), tokenizer, resolved


def lora_config(cfg: Any, model: PreTrainedModel, layers: list[int] | None = None) -> LoraConfig:
    """LoRA on the target modules of every decoder layer, or of ``layers`` only."""
    return LoraConfig(
        task_type="CAUSAL_LM", r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
        target_modules=cfg.target_modules or target_modules_for(model.config.model_type),
        fan_in_fan_out=model.config.model_type == "gpt2", layers_to_transform=layers,
    )


def check_same_base(adapter_dir: str, base_model: str) -> None:
    """Refuse an adapter trained on another base (ValueError naming both)."""
    meta = read_meta(adapter_dir)
    trained_on = meta.get("base_model")
    if trained_on and base_model and trained_on != base_model:
        raise ValueError(f"adapter {adapter_dir} was trained on base {trained_on!r}, not {base_model!r}")


def attach_policy(base: PreTrainedModel, cfg: Any) -> PeftModel:
    """The trainable policy adapter: fresh, or continued from ``cfg.init_adapter``."""
    torch.manual_seed(cfg.seed)
    if cfg.init_adapter:
        check_same_base(cfg.init_adapter, cfg.base_model)
        model = PeftModel.from_pretrained(base, cfg.init_adapter, adapter_name=POLICY, is_trainable=True)
    else:
        model = get_peft_model(base, lora_config(cfg, base), adapter_name=POLICY)
    for name, param in model.named_parameters():
        if "lora_" in name and f".{POLICY}." in name:
            param.data = param.data.float()
    return model


def add_adapter(
    model: PeftModel, name: str, *, path: str = "", cfg: Any = None, trainable: bool, layers: list[int] | None = None,
) -> None:
    """Load ``path`` (or make a fresh LoRA from ``cfg``, on ``layers`` if given) as adapter ``name``
    on the same base."""
    if path:
        model.load_adapter(path, adapter_name=name, is_trainable=trainable)
    else:
        model.add_adapter(name, lora_config(cfg, model.get_base_model(), layers))
    for pname, param in model.named_parameters():
        if f".{name}." in pname and "lora_" in pname:
            param.data = param.data.float()
            param.requires_grad_(trainable)


def trainable_parameters(model: PeftModel, names: tuple[str, ...]) -> list[torch.nn.Parameter]:
    return [p for n, p in model.named_parameters() if "lora_" in n and any(f".{a}." in n for a in names)]


@contextlib.contextmanager
def use_adapter(model: PeftModel, name: str | None, trainable: list[torch.nn.Parameter]) -> Iterator[None]:
    """Route forwards through adapter ``name`` (None = the bare base). PEFT's set_adapter also
    flips requires_grad; afterwards exactly ``trainable`` require grad again."""
    if name is None:
        with model.disable_adapter():
            yield
        return
    model.base_model.set_adapter(name)
    wanted = {id(p) for p in trainable}
    for n, p in model.named_parameters():
        if "lora_" in n:
            p.requires_grad_(id(p) in wanted)
    try:
        yield
    finally:
        model.base_model.set_adapter(POLICY)
        for n, p in model.named_parameters():
            if "lora_" in n:
                p.requires_grad_(id(p) in wanted)


def hidden_size(model: PreTrainedModel) -> int:
    config = model.config
    return int(getattr(config, "hidden_size", None) or config.n_embd)


def new_value_head(model: PreTrainedModel, device: torch.device, path: str = "") -> torch.nn.Linear:
    head = torch.nn.Linear(hidden_size(model), 1)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    if path:
        head.load_state_dict(load_file(str(Path(path) / VALUE_HEAD_FILE)))
    return head.to(device)


def save_meta(out: Path, meta: dict[str, Any]) -> None:
    (out / META_FILE).write_text(json.dumps({"format": FORMAT, **meta}, indent=2, sort_keys=True, default=str))


def read_meta(adapter_dir: str | Path) -> dict[str, Any]:
    path = Path(adapter_dir) / META_FILE
    if path.is_file():
        return json.loads(path.read_text())
    config = Path(adapter_dir) / "adapter_config.json"
    if not config.is_file():
        raise FileNotFoundError(f"{adapter_dir}: no adapter_config.json (not a PEFT adapter folder)")
    return {"base_model": json.loads(config.read_text()).get("base_model_name_or_path")}


def save_adapter(
    model: PeftModel, name: str, out_dir: str | Path, *, tokenizer: Any = None, meta: dict[str, Any] | None = None,
    value_head: torch.nn.Module | None = None,
) -> Path:
    """Write adapter ``name`` in PEFT's layout at the root of ``out_dir`` (adapter_config.json,
    adapter_model.safetensors), with the tokenizer, policy_config.json and a value head if given."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone() for k, v in _adapter_state(model, name).items()}
    config = model.peft_config[name]
    config.save_pretrained(str(out))
    save_file({k: v.contiguous() for k, v in state.items()}, str(out / "adapter_model.safetensors"))
    if tokenizer is not None:
        tokenizer.save_pretrained(out)
    if value_head is not None:
        save_file({k: v.detach().float().contiguous().cpu() for k, v in value_head.state_dict().items()},
                  str(out / VALUE_HEAD_FILE))
    if meta is not None:
        save_meta(out, meta)
    return out


def _adapter_state(model: PeftModel, name: str) -> dict[str, torch.Tensor]:
    from peft.utils import get_peft_model_state_dict

    return get_peft_model_state_dict(model, adapter_name=name)


def load_adapter_state(model: PeftModel, name: str, folder: str | Path) -> None:
    from peft.utils import set_peft_model_state_dict

    state = load_file(str(Path(folder) / "adapter_model.safetensors"))
    result = set_peft_model_state_dict(model, state, adapter_name=name)
    if getattr(result, "unexpected_keys", None):
        raise ValueError(f"{folder}: unexpected adapter keys {result.unexpected_keys[:3]}")


def _fingerprint(p: torch.Tensor) -> torch.Tensor:
    values = p.detach().double()
    return torch.stack([values.sum(), (values * values).sum()])


def adapter_snapshot(params: list[torch.nn.Parameter]) -> list[torch.Tensor]:
    """A cheap fingerprint per parameter (sum and sum of squares, in float64): no second copy of
    the weights, which matters when every weight trains."""
    return [_fingerprint(p) for p in params]


def adapter_changed(params: list[torch.nn.Parameter], before: list[torch.Tensor]) -> bool:
    return any(not torch.equal(_fingerprint(p), b) for p, b in zip(params, before, strict=True))


def load_for_generation(
    base_model: str, adapter_dirs: list[str], *, device: str = "auto", precision: str = "auto",
    backend: str | None = None,
) -> tuple[Any, Any, list[str | None]]:
    """The base once, with every adapter folder loaded under its own name (``a0``, ``a1``...).
    Returns (model, tokenizer, adapter names); with no folders the name list is [None] (base).
    ``backend`` (default: PREFLAB_GENERATION_BACKEND) 'vllm' returns a vLLM engine as the model
    (vllm_backend.py), which generate_completions drives the same way."""
    from .vllm_backend import generation_backend, load_vllm

    if generation_backend(backend) == "vllm":
        return load_vllm(base_model, adapter_dirs, precision=precision)
    base, tokenizer, _ = load_causal_base(base_model, device=device, precision=precision)
    if not adapter_dirs:
        return base, tokenizer, [None]
    names = [f"a{i}" for i in range(len(adapter_dirs))]
    model: Any = None
    for name, folder in zip(names, adapter_dirs, strict=True):
        check_same_base(folder, base_model)
        if model is None:
            model = PeftModel.from_pretrained(base, folder, adapter_name=name)
        else:
            model.load_adapter(folder, adapter_name=name)
    model.eval()
    return model, tokenizer, names
