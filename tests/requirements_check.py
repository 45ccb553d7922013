"""Skip a test whose service is missing on a developer machine, but fail it in CI, where
PREFLAB_REQUIRE_SERVICES=1 says the browser, PostgreSQL and Redis are all there."""

import os

import pytest


def skip_or_fail(reason: str) -> None:
    if os.environ.get("PREFLAB_REQUIRE_SERVICES"):
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)
