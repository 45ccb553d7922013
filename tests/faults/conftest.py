"""Fixtures for the fault tests: the tiny models and labeled projects of the rewards, policy and
rounds tests (built offline in tmp folders), shared here."""

from tests.policy.conftest import _one_torch_thread, tiny_lm, tiny_reward_folder  # noqa: F401 - shared fixtures
from tests.rewards_db.conftest import annotators, tiny_gpt2_path  # noqa: F401 - shared fixtures
