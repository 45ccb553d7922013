"""Fixtures for the policy app's database tests: a project with prompts, a tiny causal LM and a
tiny registered reward model (a 2-layer BERT on its own vocabulary: the policy's texts are
re-tokenized for it). One torch thread; artifacts in a tmp folder the test worker shares."""

from __future__ import annotations

import pytest

from labeling.models import Prompt
from tests.policy.conftest import PROMPTS, _one_torch_thread, tiny_lm, tiny_reward_folder  # noqa: F401 - shared fixtures


@pytest.fixture(autouse=True)
def _artifacts(settings, tmp_path):
    settings.ARTIFACT_DIR = tmp_path / "artifacts"
    settings.TORCH_THREADS = 1


@pytest.fixture
def reward_model(project, tiny_reward_folder):  # noqa: F811 - the shared fixture
    from rewards.engine.model import read_meta
    from rewards.models import RewardModel
    from rewards.services.scoring import cache_clear

    cache_clear()
    yield RewardModel.objects.create(name="tiny", project=project, base_model=read_meta(tiny_reward_folder)
                                     ["base_model"], adapter_path=tiny_reward_folder, is_active=True)
    cache_clear()


@pytest.fixture
def prompts(project) -> list[Prompt]:
    rows = [Prompt.objects.create(project=project, external_id=f"q{i}", text=text) for i, text in enumerate(PROMPTS)]
    rows.append(Prompt.objects.create(project=project, external_id="chat", text="why sky",
                                      messages=[{"role": "user", "content": "why sky"}]))
    return rows
