"""Database-free torch core of the policy: configs, one base with named LoRA adapters, batched
(mixed-adapter) generation, SFT and PPO. No Django imports: tasks and commands call into it."""

from .adapters import POLICY, REFERENCE, VALUE, load_causal_base, load_for_generation, read_meta, save_adapter
from .config import AdapterConfig, GenerationConfig, PolicyTrainingError, PPOConfig, SFTConfig
from .data import PolicyDataError, read_prompts_file
from .generate import Completion, Generation, encode_prompt, generate_batch, generate_completions
from .ppo import PPOResult, PPOTrainer, RewardFn, train_ppo
from .ppo_core import AdaptiveKLController, gae, kl_per_token, policy_loss, shape_rewards, value_loss, whiten
from .sft import SFTDataError, SFTExample, SFTResult, read_sft_file, sft_example, sft_planned_steps, train_sft

__all__ = [
    "POLICY", "REFERENCE", "VALUE", "PolicyDataError", "read_prompts_file",
    "AdapterConfig", "AdaptiveKLController", "Completion", "GenerationConfig",
    "Generation", "PPOConfig", "PPOResult", "PPOTrainer", "PolicyTrainingError", "RewardFn", "SFTConfig",
    "SFTDataError", "SFTExample", "SFTResult", "encode_prompt", "gae", "generate_batch", "generate_completions",
    "kl_per_token", "load_causal_base", "load_for_generation",
    "policy_loss", "read_meta", "read_sft_file", "save_adapter", "sft_example",
    "sft_planned_steps", "shape_rewards", "train_ppo", "train_sft", "value_loss", "whiten",
]
