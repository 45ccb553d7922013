"""Database-free torch core of the reward model: config, data, model, loss, trainer, evaluation.

No Django imports here: the Celery task and the management commands call into this package.
"""

from .config import RewardConfig
from .data import (
    Comparison,
    DataError,
    Element,
    drop_ties,
    pair_element,
    ranking_element,
    read_elements,
    record_to_element,
    split_by_prompt,
    split_shared_prefix,
)
from .ensemble import train_reward_ensemble
from .evaluate import (
    compute_metrics,
    evaluate_reward_model,
    expected_calibration_error,
    score_encoded,
    score_reward_model,
    score_texts,
    score_texts_by_member,
)
from .loss import preference_loss
from .model import (
    RewardModel,
    build_reward_model,
    default_target_modules,
    forward_rewards,
    load_reward_model,
    save_reward_model,
)
from .tokenize import Batch, EncodedElement, bucketed_batches, collate, encode_elements
from .trainer import TrainResult, planned_steps, resume_step, train_reward_model

__all__ = [
    "Batch", "Comparison", "DataError", "Element", "EncodedElement", "RewardConfig", "RewardModel",
    "TrainResult", "bucketed_batches", "build_reward_model", "collate", "compute_metrics",
    "default_target_modules", "drop_ties", "encode_elements", "evaluate_reward_model",
    "expected_calibration_error", "forward_rewards", "load_reward_model", "pair_element", "planned_steps",
    "preference_loss",
    "ranking_element", "read_elements", "resume_step", "record_to_element", "save_reward_model", "score_encoded",
    "score_reward_model", "score_texts", "score_texts_by_member", "split_by_prompt", "split_shared_prefix",
    "train_reward_ensemble", "train_reward_model",
]
