"""Fixtures of the policy tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.register_assert_rewrite("tests.policy.policy_cases")

from tests.policy.policy_cases import Harness  # noqa: E402


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """Two scripted backends and a gateway per policy setup, for one module."""
    running = Harness(tmp_path_factory.mktemp("policies"))
    try:
        yield running
    finally:
        running.close()
