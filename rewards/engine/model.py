"""Build, save and load a LoRA reward model; compute rewards.

The model is any base that loads as AutoModelForSequenceClassification with one label, a PEFT
LoRA adapter on its attention projections and a fully trained score head (PEFT
``modules_to_save``), saved in PEFT's standard layout plus ``reward_config.json`` and the
tokenizer. On decoders the reward is read at the last real token according to the attention
mask (never by looking for the pad id, which is often the EOS id too).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel

from training.torch_setup import pick_device

from .config import RewardConfig
from .pooling import default_pooling, resolve_pooling

FORMAT = "preflab-reward/1"
META_FILE = "reward_config.json"
ENSEMBLE_KEY = "ensemble"  # reward_config.json of an ensemble: its member folders (see ensemble.py)

# Attention projections per architecture (PEFT's own table is the fallback).
DEFAULT_TARGET_MODULES: dict[str, list[str]] = {
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "xlm-roberta": ["query", "value"],
    "electra": ["query", "value"],
    "distilbert": ["q_lin", "v_lin"],
    "deberta": ["in_proj"],
    "deberta-v2": ["query_proj", "value_proj"],
    "gpt2": ["c_attn"],
    "llama": ["q_proj", "v_proj"],
    "mistral": ["q_proj", "v_proj"],
    "qwen2": ["q_proj", "v_proj"],
    "qwen3": ["q_proj", "v_proj"],
    "gemma": ["q_proj", "v_proj"],
}


def default_target_modules(model_type: str) -> list[str]:
    """The attention projections LoRA adapts by default for ``model_type``."""
    if model_type in DEFAULT_TARGET_MODULES:
        return list(DEFAULT_TARGET_MODULES[model_type])
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as peft_table

    if model_type in peft_table:
        return list(peft_table[model_type])
    raise ValueError(f"no default LoRA target modules for model type {model_type!r}; pass target_modules")


def is_decoder_model(model: torch.nn.Module) -> bool:
    """Decoder classification heads in transformers are called ``score``; encoders' ``classifier``."""
    hf = unwrap(model)
    return hasattr(hf, "score") and not hasattr(hf, "classifier")


def unwrap(model: torch.nn.Module) -> PreTrainedModel:
    """The transformers model inside a PeftModel (its LoRA layers stay in place)."""
    return model.get_base_model() if isinstance(model, PeftModel) else model


def _no_dropout(config: Any) -> None:
    for key, value in config.to_dict().items():
        if isinstance(value, float) and ("dropout" in key or key.endswith("_pdrop")):
            setattr(config, key, 0.0)


def resolve_attn_implementation(attn_implementation: str | None, device: str = "auto") -> str | None:
    """'auto' -> 'eager' on CPU (faster there for padded bf16 batches), 'sdpa' on accelerators."""
    if attn_implementation != "auto":
        return attn_implementation
    return "eager" if pick_device(device).type == "cpu" else "sdpa"


HEAD_PREFIXES = ("classifier.", "score.")  # a sequence-classification head, new on a base model
_LOAD_LOGGER = "transformers.modeling_utils"


class _HeldReports(logging.Filter):
    """Holds back transformers' weight-loading report so it can be judged once loading is done."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if "LOAD REPORT" in record.getMessage():
            self.held.append(record)
            return False
        return True


@contextmanager
def _load_report_unless_only_new_head(info: dict[str, Any]) -> Iterator[None]:
    """Drop transformers' load report when all it says is that the classification head is new
    (``classifier.*`` / ``score.*`` MISSING: expected, the head is trained here); any other
    missing, unexpected or mismatched weight still gets the report. ``info`` is filled by
    ``from_pretrained(..., output_loading_info=True)`` inside the block."""
    logger = logging.getLogger(_LOAD_LOGGER)
    held = _HeldReports()
    logger.addFilter(held)
    try:
        yield
    finally:
        logger.removeFilter(held)
    expected = (info and not info.get("unexpected_keys") and not info.get("mismatched_keys")
                and all(str(k).startswith(HEAD_PREFIXES) for k in info.get("missing_keys", ())))
    if not expected:
        for record in held.held:
            logger.handle(record)


def _from_pretrained(base_model: str, **kwargs: Any) -> PreTrainedModel:
    info: dict[str, Any] = {}
    with _load_report_unless_only_new_head(info):
        model, loading = AutoModelForSequenceClassification.from_pretrained(
            base_model, output_loading_info=True, **kwargs)
        info.update(loading)
    return model


def load_base(
    base_model: str, *, attn_implementation: str | None = "auto", device: str = "auto"
) -> tuple[PreTrainedModel, Any]:
    """Base model with one label, all dropout off, and its tokenizer (pad token set on decoders).
    The load report that only says the new score head is missing is not printed."""
    attn_implementation = resolve_attn_implementation(attn_implementation, device)
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    config = AutoConfig.from_pretrained(base_model, num_labels=1)
    _no_dropout(config)
    kwargs: dict[str, Any] = {"config": config, "dtype": torch.float32}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    try:
        model = _from_pretrained(base_model, **kwargs)
    except (ValueError, ImportError) as exc:
        if "attn_implementation" not in kwargs or "attention" not in str(exc).lower():
            raise
        kwargs.pop("attn_implementation")
        model = _from_pretrained(base_model, **kwargs)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def default_modules_to_save(model: PreTrainedModel, pooling: str = "auto") -> list[str]:
    """The score head; on encoders read at [CLS] also the pooler (unused with mean pooling)."""
    if is_decoder_model(model):
        return ["score"]
    names = ["classifier"]
    if pooling in {"auto", "cls"} and any(name.endswith("pooler") for name, _ in model.named_modules()):
        names.append("pooler")
    return names


def init_adapter_meta(config: RewardConfig) -> dict[str, Any]:
    """reward_config.json of ``config.init_adapter``, checked against the config (ValueError)."""
    meta = read_meta(config.init_adapter)
    if meta.get("base_model") and meta["base_model"] != config.base_model:
        raise ValueError(f"init_adapter {config.init_adapter} was trained on base {meta['base_model']!r}, "
                         f"not {config.base_model!r}; pass that base model")
    saved = meta.get("pooling", "auto")
    if config.pooling not in ("auto", saved):
        raise ValueError(f"init_adapter {config.init_adapter} reads the reward with pooling {saved!r}, "
                         f"not {config.pooling!r}; leave pooling at auto")
    return meta


def training_pooling(config: RewardConfig, is_decoder: bool) -> str:
    """The pooling a run of ``config`` trains with: ``config.pooling``, or for 'auto' the value saved
    with ``config.init_adapter`` or else the base model's default (see pooling.default_pooling)."""
    if config.pooling != "auto":
        return config.pooling
    if config.init_adapter:
        return init_adapter_meta(config).get("pooling", "auto")
    return default_pooling(config.base_model, is_decoder)


def build_reward_model(config: RewardConfig) -> tuple[PeftModel, Any]:
    """Load ``config.base_model`` and wrap it with a fresh LoRA adapter and trainable head, or with
    the trainable adapter and head saved in ``config.init_adapter``."""
    torch.manual_seed(config.seed)
    if config.init_adapter:
        init_adapter_meta(config)  # fail on a mismatch before loading anything
    base, tokenizer = load_base(config.base_model, attn_implementation=config.attn_implementation,
                                device=config.device)
    if config.init_adapter:
        return PeftModel.from_pretrained(base, config.init_adapter, is_trainable=True), tokenizer
    targets = config.target_modules or default_target_modules(base.config.model_type)
    pooling = training_pooling(config, is_decoder_model(base))
    lora = LoraConfig(
        task_type="SEQ_CLS",
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        modules_to_save=config.modules_to_save or default_modules_to_save(base, pooling),
        fan_in_fan_out=base.config.model_type == "gpt2",
    )
    model = get_peft_model(base, lora)
    return model, tokenizer


def cast_frozen_to_bf16(model: torch.nn.Module) -> int:
    """Store frozen parameters in bf16 (trainable LoRA/head parameters stay fp32). Returns the count."""
    n = 0
    for p in model.parameters():
        if not p.requires_grad and p.dtype == torch.float32:
            p.data = p.data.to(torch.bfloat16)
            n += 1
    return n


def _head(hf: PreTrainedModel, is_decoder: bool, pooled: torch.Tensor) -> torch.Tensor:
    """Apply the classification head to one vector per row. Linear heads take it directly; the
    RoBERTa/ELECTRA-style heads read position 0 of a sequence, so they get a length-1 sequence."""
    head = hf.score if is_decoder else hf.classifier
    inner = getattr(head, "original_module", head)  # PEFT wraps modules_to_save
    if isinstance(inner, torch.nn.Linear):
        return head(pooled)
    return head(pooled.unsqueeze(1)).reshape(pooled.shape[0], -1)


def forward_rewards(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    token_type_ids: torch.Tensor | None = None,
    *,
    is_decoder: bool | None = None,
    pooling: str = "auto",
) -> torch.Tensor:
    """One scalar reward per row (float32). Encoders with 'cls': the model's own head ([CLS] via
    the pooler). Decoders with 'last': hidden state at the last position where attention_mask is 1
    (works for left and right padding), then the score head. 'mean': mask-weighted mean of the last
    hidden layer, then the head."""
    hf = unwrap(model)
    if is_decoder is None:
        is_decoder = is_decoder_model(hf)
    pooling = resolve_pooling(pooling, is_decoder)
    if pooling == "cls":
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        return hf(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits[:, 0].float()
    body = getattr(hf, hf.base_model_prefix)
    if is_decoder:
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        hidden = body(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
        ).last_hidden_state
    else:
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = body(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
    if pooling in ("mean", "response_mean"):
        m = attention_mask
        if pooling == "response_mean":
            if token_type_ids is None:
                raise ValueError("response_mean pooling needs token_type_ids (prompt and response encoded as a pair)")
            m = m * token_type_ids
        m = m.unsqueeze(-1).to(torch.float32)
        pooled = (hidden.float() * m).sum(1) / m.sum(1).clamp(min=1.0)
    else:
        positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
        last = (attention_mask * positions).argmax(-1)
        pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    return _head(hf, is_decoder, pooled)[:, 0].float()


@dataclass
class RewardModel:
    """A loaded reward model ready for scoring."""

    model: torch.nn.Module
    tokenizer: Any
    is_decoder: bool
    max_length: int = 256
    reward_offset: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)
    pooling: str = "auto"
    # An ensemble: (adapter name, that member's reward offset) per member, all loaded on ``model``.
    members: list[tuple[str, float]] = field(default_factory=list)


def save_reward_model(
    model: PeftModel,
    tokenizer: Any,
    out_dir: str | Path,
    *,
    config: RewardConfig,
    reward_offset: float = 0.0,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write adapter_config.json + adapter_model.safetensors (LoRA and head), the tokenizer and
    reward_config.json (what this is, how it was trained, the reward offset, metrics)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    meta = {
        "format": FORMAT,
        "base_model": config.base_model,
        "is_decoder": is_decoder_model(model),
        "max_length": config.max_length,
        "pooling": config.pooling,
        "reward_offset": reward_offset,
        "metrics": metrics or {},
        "config": config.to_dict(),
        **(extra or {}),
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
    return out


def read_meta(adapter_dir: str | Path) -> dict[str, Any]:
    path = Path(adapter_dir) / META_FILE
    if path.is_file():
        return json.loads(path.read_text())
    cfg = Path(adapter_dir) / "adapter_config.json"
    if not cfg.is_file():
        raise FileNotFoundError(f"{adapter_dir}: no adapter_config.json (not a PEFT adapter folder)")
    return {"base_model": json.loads(cfg.read_text()).get("base_model_name_or_path")}


def load_reward_model(
    adapter_dir: str | Path, *, base_model: str | None = None, attn_implementation: str | None = "auto"
) -> RewardModel:
    """Load base + adapter + head for scoring (eval mode). ``base_model`` overrides the saved one."""
    meta = read_meta(adapter_dir)
    base_id = base_model or meta.get("base_model")
    if not base_id:
        raise ValueError(f"{adapter_dir}: base model unknown; pass base_model")
    base, tokenizer = load_base(base_id, attn_implementation=attn_implementation)
    if (Path(adapter_dir) / "tokenizer_config.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(adapter_dir)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    members: list[tuple[str, float]] = []
    if meta.get(ENSEMBLE_KEY):
        model = None
        for name in meta[ENSEMBLE_KEY]:
            path = str(Path(adapter_dir) / name)
            if model is None:
                model = PeftModel.from_pretrained(base, path, adapter_name=name)
            else:
                model.load_adapter(path, adapter_name=name)
            members.append((name, float(read_meta(path).get("reward_offset", 0.0))))
    else:
        model = PeftModel.from_pretrained(base, str(adapter_dir))
    model.eval()
    return RewardModel(
        model, tokenizer, is_decoder_model(model), int(meta.get("max_length", 256)),
        float(meta.get("reward_offset", 0.0)), meta, str(meta.get("pooling", "auto")), members,
    )
