"""Fixtures shared by the test modules."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.dashboard_support import CHROMIUM, CHROMIUM_ARGS
from tests.support import (
    RunningGateway,
    ScriptedBackend,
    default_config,
    scripted_config,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in its own directory with no Tollhouse or Azure settings."""
    monkeypatch.chdir(tmp_path)
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    """The embedded default (in-process mock backend) on a free port."""
    with RunningGateway(default_config(tmp_path / "data")) as running:
        yield running


@pytest.fixture
def backend() -> Iterator[ScriptedBackend]:
    """A scripted backend on a free loopback port."""
    with ScriptedBackend() as scripted:
        yield scripted


@pytest.fixture
def scripted_gateway(
    tmp_path: Path, backend: ScriptedBackend
) -> Iterator[Callable[..., RunningGateway]]:
    """Starts gateways in front of ``backend``; options as for `scripted_config`."""
    with contextlib.ExitStack() as stack:

        def start(**options: Any) -> RunningGateway:
            config = scripted_config(tmp_path / "data", backend.url, **options)
            return stack.enter_context(RunningGateway(config))

        yield start


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, driven by Playwright (skips without Playwright).

    Tests that use it also take the `needs_chromium` mark.
    """
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
