"""The Test console in a real browser: a chat completion, then a streamed one.

Screenshots go to ``tests/screenshots/console-*.png``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard_support import log_in, needs_chromium, shoot
from tests.management_support import ENVIRON, policied_config
from tests.support import RunningGateway

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = needs_chromium


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    config = policied_config(tmp_path / "data", tmp_path / "policies")
    gw = RunningGateway(config, environ=ENVIRON).start()
    try:
        yield gw
    finally:
        gw.stop()


def test_send_a_chat_completion_then_stream_one(
    gateway: RunningGateway, browser: Any
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(gateway.management_url + "/dashboard/console")
    log_in(page, gateway)
    page.wait_for_url(re.compile(r"/dashboard/console"))

    expect = playwright.expect
    expect(page.locator("#console-url")).to_have_text(
        "POST " + gateway.url + "/openai/deployments/gpt-4o-deployment/"
        "chat/completions?api-version=2025-01-01-preview"
    )
    expect(page.locator("#console-body")).to_have_value(re.compile('"messages"'))
    shoot(page, "console-empty")

    page.click("#console-send")
    expect(page.locator("#console-status-code")).to_have_text("200")
    expect(page.locator("#console-trace")).to_contain_text("forward-request")
    expect(page.locator("#console-answer")).not_to_be_empty()
    expect(page.locator("#console-log")).to_contain_text("Open in Logs")
    shoot(page, "console-chat")

    # Streamed: the answer grows while the request is still running.
    page.check("#console-stream")
    expect(page.locator("#console-body")).to_have_value(re.compile('"stream": true'))
    page.fill(
        "#console-headers",
        "Content-Type: application/json\nx-mock-chunk-delay-ms: 150",
    )
    page.click("#console-send")
    expect(page.locator("#console-answer")).not_to_be_empty()
    expect(page.locator("#console-running")).to_be_visible()
    expect(page.locator("#console-running")).to_be_hidden(timeout=30_000)
    expect(page.locator("#console-body-out")).to_contain_text("data: [DONE]")
    expect(page.locator("#console-trace")).to_contain_text("answered 200")
    shoot(page, "console-stream")

    # A body edited by hand moves the box with it.
    page.fill("#console-body", '{"messages": [], "stream": false}')
    expect(page.locator("#console-stream")).not_to_be_checked()
    page.fill("#console-body", '{"messages": [], "stream": true}')
    expect(page.locator("#console-stream")).to_be_checked()

    page.click("#console-log")
    page.wait_for_url(re.compile(r"/dashboard/logs/"))
    expect(page.locator("main")).to_contain_text("gpt-4o-deployment")
    assert errors == []


def test_a_refused_build_shows_its_reason(
    gateway: RunningGateway, browser: Any
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(gateway.management_url + "/dashboard/console")
    log_in(page, gateway)
    page.wait_for_url(re.compile(r"/dashboard/console"))
    page.fill("#console-headers", "not a header line")
    page.click("#console-send")
    playwright.expect(page.locator("#console-problem")).to_contain_text(
        "Header line 1 is not 'Name: value'"
    )
