"""The dashboard in a real browser: Playwright driving Debian's chromium.

Screenshots go to ``tests/screenshots/login-*.png``, ``logs-*.png`` and
``log-detail-*.png``, so a person can look at what the test saw.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard_support import CHAT, log_in, needs_chromium, shoot
from tests.management_support import secured_gateway
from tests.support import RunningGateway

playwright = pytest.importorskip("playwright.sync_api")

PROMPT = "Which <b>river</b> runs through Paris? Answer & explain."

pytestmark = needs_chromium


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    gw = secured_gateway(tmp_path / "data")
    try:
        yield gw
    finally:
        gw.stop()


def test_a_chat_completion_shows_in_logs(gateway: RunningGateway, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    base = gateway.management_url + "/dashboard"

    # Log in: a wrong key first, then the right one.
    page.goto(base + "/logs")
    page.wait_for_url(re.compile(r"/dashboard/login"))
    log_in(page, gateway, "not-the-key")
    playwright.expect(page.get_by_role("alert")).to_contain_text("not the admin key")
    shoot(page, "login")
    log_in(page, gateway)
    page.wait_for_url(re.compile(r"/dashboard/logs"))
    playwright.expect(page.locator("main")).to_contain_text("No requests match")

    # Traffic arrives; the list shows it without a reload.
    response = gateway.post(CHAT, {"messages": [{"role": "user", "content": PROMPT}]})
    assert response.status_code == 200, response.text
    correlation_id = response.headers["x-correlation-id"]
    completion = response.json()["choices"][0]["message"]["content"]
    row = page.locator(f"a[href$='/logs/{correlation_id}']")
    playwright.expect(row).to_be_visible(timeout=10_000)
    assert gateway.post(CHAT[:-5] + "1999", {"messages": []}).status_code >= 400
    playwright.expect(page.locator("table.logs tbody tr")).to_have_count(
        2, timeout=10_000
    )
    shoot(page, "logs")

    # Filters narrow the list as they are typed.
    page.fill("input[name=text]", "RIVER")
    playwright.expect(page.locator("table.logs tbody tr")).to_have_count(
        1, timeout=10_000
    )
    assert "text=RIVER" in page.url

    # The detail: prompt and completion as readable text, tokens, headers.
    page.locator(f"a[href$='/logs/{correlation_id}']").click()
    page.wait_for_url(re.compile(correlation_id))
    main = page.locator("main")
    playwright.expect(main).to_contain_text(PROMPT)
    playwright.expect(main).to_contain_text(completion.strip()[:40])
    playwright.expect(main).to_contain_text("Counted by")
    playwright.expect(main).to_contain_text("Request headers")
    assert page.locator("main b").count() == 0  # the prompt's markup is text
    assert gateway.key not in page.content()
    shoot(page, "log-detail")

    # Back to the filtered list, then log out.
    page.click("text=← Logs")
    page.wait_for_url(re.compile(r"text=RIVER"))
    page.click("text=Log out")
    page.wait_for_url(re.compile(r"/dashboard/login"))
    page.goto(base + "/logs")
    page.wait_for_url(re.compile(r"/dashboard/login"))
