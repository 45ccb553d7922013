"""Policy configurations: generation, SFT and PPO. One dataclass each, every field with help
text (TRL style); serialized into checkpoints and saved next to each adapter."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

KL_ESTIMATORS = ("k1", "k3")
REWARD_NORMS = ("none", "batch", "running")
REFERENCES = ("init", "base")

C = TypeVar("C")


class PolicyTrainingError(RuntimeError):
    """Training could not do what was asked (nothing trainable, the adapter never changed...)."""


def _f(default: Any, help: str) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


class _Serializable:
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def help(cls) -> dict[str, str]:
        return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}  # type: ignore[arg-type]


def _check_runtime(cfg: Any) -> None:
    if cfg.precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, not {cfg.precision!r}")
    if cfg.threads < 0:
        raise ValueError("threads must be >= 0")


@dataclass
class GenerationConfig(_Serializable):
    """How completions are sampled. The defaults suit a 2-core CPU (short answers)."""

    max_new_tokens: int = _f(64, "Most tokens per completion; generation stops earlier at EOS.")
    temperature: float = _f(0.7, "Sampling temperature; 0 = greedy decoding.")
    top_k: int = _f(0, "Sample from the k most likely tokens only; 0 = no limit.")
    top_p: float = _f(1.0, "Nucleus sampling: the smallest set of tokens with this much probability; 1 = off.")
    repetition_penalty: float = _f(1.0, "Penalty > 1 discourages repeating tokens already in the text; 1 = off.")
    batch_size: int = _f(8, "Prompts (times adapters) decoded together in one batch.")
    max_prompt_length: int = _f(512, "Prompt tokens kept (cut from the left, so the question itself stays).")
    seed: int = _f(0, "Seed of the sampler.")
    chat_template: bool = _f(True, "Wrap prompts in the tokenizer's chat template when it has one (instruct bases).")
    system_prompt: str = _f("", "System message put before text prompts when the chat template is used.")

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        if self.batch_size < 1 or self.top_k < 0:
            raise ValueError("batch_size must be >= 1 and top_k >= 0")


@dataclass
class AdapterConfig(_Serializable):
    """LoRA settings shared by SFT and PPO."""

    base_model: str = _f("", "Local path or hub id of a causal LM (AutoModelForCausalLM).")
    output_dir: str = _f("", "Where the adapter, its tokenizer, policy_config.json and checkpoints are written.")
    init_adapter: str = _f("", "A saved policy adapter to continue from instead of a fresh one (same base).")
    lora_r: int = _f(16, "LoRA rank.")
    lora_alpha: int = _f(32, "LoRA alpha; the update is scaled by alpha / r.")
    lora_dropout: float = _f(0.0, "Dropout on the LoRA input (kept 0 for PPO: sampling and training must agree).")
    target_modules: list[str] | None = _f(
        None, "Module names to adapt. None = the attention projections for the architecture."
    )
    seed: int = _f(0, "Seed for initialisation, data order and sampling.")
    threads: int = _f(0, "Torch intra-op threads for this process; 0 = one per available core.")
    device: str = _f("auto", "'auto', 'cpu', 'cuda', ...")
    precision: str = _f("auto", "'auto' (bf16 where the device runs it fast), 'bf16' or 'fp32'.")
    save_steps: int = _f(0, "Write a resumable checkpoint every N optimizer steps; 0 = only at the end.")
    save_total_limit: int = _f(2, "Keep at most this many checkpoints (oldest removed first).")
    logging_steps: int = _f(1, "Report metrics every N steps.")


@dataclass
class SFTConfig(AdapterConfig):
    """Supervised fine-tuning of a LoRA adapter on {prompt, response} or {messages} records."""

    learning_rate: float = _f(2e-4, "AdamW peak learning rate.")
    weight_decay: float = _f(0.0, "AdamW weight decay.")
    warmup_ratio: float = _f(0.05, "Share of optimizer steps in linear warm-up; then linear decay to 0.")
    num_epochs: float = _f(2.0, "Passes over the data (fractions allowed).")
    max_steps: int = _f(0, "If > 0, stop after this many optimizer steps (overrides num_epochs).")
    batch_size: int = _f(8, "Sequences per micro-batch (length-bucketed).")
    grad_accum_steps: int = _f(1, "Micro-batches per optimizer step.")
    max_length: int = _f(512, "Tokens per sequence (prompt cut from the left, response from the right).")
    max_grad_norm: float = _f(1.0, "Gradient clipping norm; 0 disables.")
    chat_template: bool = _f(True, "Use the tokenizer's chat template when it has one.")

    def __post_init__(self) -> None:
        _check_runtime(self)
        if self.batch_size < 1 or self.grad_accum_steps < 1:
            raise ValueError("batch_size and grad_accum_steps must be >= 1")
        if self.max_length < 8:
            raise ValueError("max_length must be >= 8")


@dataclass
class PPOConfig(AdapterConfig):
    """PPO of a LoRA policy against a reward callable. Policy, value function and reference
    share one frozen base: the value function is its own LoRA adapter plus a linear head."""

    steps: int = _f(20, "PPO steps; each samples batch_size rollouts and trains on them.")
    batch_size: int = _f(8, "Rollouts (prompts) per step.")
    mini_batch_size: int = _f(4, "Rollouts per gradient step inside a PPO epoch.")
    ppo_epochs: int = _f(2, "Passes over each step's rollouts.")
    micro_batch_size: int = _f(
        4, "Rollouts per forward/backward pass inside a minibatch; gradients accumulate to the minibatch's, so"
        " only activation memory changes. 0 = the whole minibatch in one pass."
    )
    learning_rate: float = _f(5e-5, "AdamW learning rate of the policy adapter.")
    value_learning_rate: float = _f(1e-4, "AdamW learning rate of the value adapter and value head.")
    max_grad_norm: float = _f(1.0, "Gradient clipping norm (policy and value separately); 0 disables.")
    # Sampling (rollouts); log-probs are computed at the same temperature.
    max_new_tokens: int = _f(32, "Most tokens per rollout response.")
    temperature: float = _f(0.7, "Sampling temperature of the rollouts (> 0); training uses the same one.")
    max_prompt_length: int = _f(256, "Prompt tokens kept (cut from the left).")
    chat_template: bool = _f(True, "Wrap prompts in the tokenizer's chat template when it has one.")
    # Reward shaping
    kl_coef: float = _f(0.05, "beta: weight of the per-token KL penalty beta * (log pi - log pi_ref).")
    kl_estimator: str = _f("k1", "Per-token KL estimator: 'k1' (log ratio) or 'k3' (non-negative, lower variance).")
    adaptive_kl: bool = _f(False, "Adapt beta towards target_kl (Ziegler et al. 2019 controller).")
    target_kl: float = _f(6.0, "Target KL per sequence for the adaptive controller.")
    kl_horizon: int = _f(10000, "Horizon (in rollouts) of the adaptive KL controller.")
    missing_eos_penalty: float = _f(0.0, "Subtracted from the score of a response that never ended (no EOS); 0 = off.")
    reward_norm: str = _f("none", "Score normalisation: 'none', 'batch' (per step) or 'running' (mean/std so far).")
    reward_clip: float = _f(0.0, "Clip scores (after normalisation) to [-c, c]; 0 = off.")
    # Advantages and losses
    gamma: float = _f(1.0, "Discount factor of GAE.")
    lam: float = _f(0.95, "GAE lambda.")
    cliprange: float = _f(0.2, "PPO ratio clip epsilon of the policy loss.")
    cliprange_value: float = _f(0.2, "Clip of the value prediction around its rollout value.")
    vf_coef: float = _f(0.5, "Weight of the value loss.")
    whiten_rewards: bool = _f(False, "Whiten the shaped per-token rewards before GAE.")
    reference: str = _f(
        "init", "Reference for the KL: 'init' = init_adapter when one is given (e.g. the SFT adapter), else the"
        " base; 'base' = the base model with adapters disabled."
    )
    value_init_adapter: str = _f("", "A saved value adapter folder (value/ of an earlier PPO run) to continue from.")
    value_layers: float = _f(
        0.25, "Share of the top decoder layers that carry the value adapter (1.0 = all). Below them the value"
        " function is the frozen base, computed once per rollout batch, so value passes run only the top layers."
    )
    rollout_batch_size: int = _f(0, "Rollouts per forward pass when scoring log-probs; 0 = mini_batch_size.")
    full_finetune: bool = _f(
        False, "Train every weight instead of LoRA adapters (three model copies: policy, value, reference). For"
        " comparisons; LoRA is the product default."
    )

    def __post_init__(self) -> None:
        _check_runtime(self)
        if self.kl_estimator not in KL_ESTIMATORS:
            raise ValueError(f"kl_estimator must be one of {KL_ESTIMATORS}, not {self.kl_estimator!r}")
        if self.reward_norm not in REWARD_NORMS:
            raise ValueError(f"reward_norm must be one of {REWARD_NORMS}, not {self.reward_norm!r}")
        if self.reference not in REFERENCES:
            raise ValueError(f"reference must be one of {REFERENCES}, not {self.reference!r}")
        if self.steps < 1 or self.ppo_epochs < 1:
            raise ValueError("steps and ppo_epochs must be >= 1")
        if self.batch_size < 1 or not 1 <= self.mini_batch_size <= self.batch_size:
            raise ValueError("batch_size must be >= 1 and mini_batch_size between 1 and batch_size")
        if self.micro_batch_size < 0:
            raise ValueError("micro_batch_size must be >= 0 (0 = the whole minibatch in one pass)")
        if self.temperature <= 0:
            raise ValueError("temperature must be > 0 for PPO (log-probs are computed at it)")
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")
        if not 0 < self.value_layers <= 1:
            raise ValueError("value_layers must be in (0, 1]: the share of top decoder layers with the value adapter")
        if self.lora_dropout != 0.0:
            raise ValueError("lora_dropout must be 0 for PPO: rollouts and training must compute the same policy")
