"""The APIs and policies page in a real browser: validate, then save.

Screenshots go to ``tests/screenshots/apis-*.png``.
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
from tests.test_dashboard_apis import BROKEN, FORBID_LOOPBACK

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


def test_validate_an_invalid_document_then_save_a_valid_one(
    gateway: RunningGateway, browser: Any, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(gateway.management_url + "/dashboard/apis")
    log_in(page, gateway)
    page.wait_for_url(re.compile(r"/dashboard/apis"))
    page.click("text=Creates a completion for the chat message")
    playwright.expect(page.locator(".effective")).to_contain_text("ChatCompletions")
    shoot(page, "apis-effective")

    editor = page.locator(".scope-editor").last
    editor.locator("textarea").fill(BROKEN)
    editor.locator("button:text('Validate')").click()
    editor = page.locator(".scope-editor").last
    playwright.expect(editor.locator(".problems")).to_contain_text("line 3, column")
    shoot(page, "apis-invalid")

    editor.locator("textarea").fill(FORBID_LOOPBACK)
    editor.locator("button:text('Save')").click()
    editor = page.locator(".scope-editor").last
    playwright.expect(editor).to_contain_text("Saved; the gateway runs it")
    playwright.expect(page.locator(".effective")).to_contain_text("ip-filter")
    assert (tmp_path / "policies" / "chat.xml").read_text() == FORBID_LOOPBACK
    assert errors == []
