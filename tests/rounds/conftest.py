"""Fixtures for RLHF round tests: a labeled pairwise project whose 'good' answers win, a tiny
GPT-2 reward base and a tiny causal LM policy base (both built offline in tmp folders), and
round settings that keep every run to a few CPU seconds. One torch thread."""

from __future__ import annotations

import pytest

from tests.policy.conftest import _one_torch_thread, tiny_lm  # noqa: F401 - shared fixtures
from tests.rewards_db.conftest import annotators, learnable_project, tiny_gpt2_path  # noqa: F401


@pytest.fixture(autouse=True)
def _artifacts(settings, tmp_path):
    settings.ARTIFACT_DIR = tmp_path / "artifacts"
    settings.TORCH_THREADS = 1


@pytest.fixture
def labeled_project(project, annotators):  # noqa: F811 - the shared fixture
    learnable_project(project, annotators, n_prompts=8)
    return project


@pytest.fixture
def round_config(tiny_gpt2_path, tiny_lm):  # noqa: F811 - the shared fixtures
    return {
        "reward": {"base_model": tiny_gpt2_path, "min_heldout": 0, "eval_fraction": 0.25,
                   "config": {"batch_size": 4, "learning_rate": 0.02, "precision": "fp32", "max_length": 32,
                              "device": "cpu", "max_steps": 6}},
        "ppo": {"config": {"base_model": tiny_lm, "steps": 2, "batch_size": 4, "mini_batch_size": 2,
                           "max_new_tokens": 6, "precision": "fp32", "temperature": 1.0, "learning_rate": 1e-2,
                           "device": "cpu"}},
        "generate": {"k": 2, "prompts": "all", "config": {"max_new_tokens": 6, "temperature": 1.0, "batch_size": 16,
                                                          "seed": 3}},
    }
