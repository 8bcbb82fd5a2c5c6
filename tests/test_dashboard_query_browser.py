"""The Query page in a real browser: examples, results and a chart.

Screenshots go to ``tests/screenshots/query-*.png``.
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

pytestmark = needs_chromium


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    gw = secured_gateway(tmp_path / "data")
    try:
        yield gw
    finally:
        gw.stop()


def test_the_daily_summary_and_a_timechart(
    gateway: RunningGateway, browser: Any
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "response",
        lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else 0,
    )

    # Log in, straight to the Query page.
    page.goto(gateway.management_url + "/dashboard/query")
    log_in(page, gateway)
    page.wait_for_url(re.compile(r"/dashboard/query"))

    # A chat completion goes through the gateway.
    message = {"role": "user", "content": "Count my tokens, please."}
    response = gateway.post(CHAT, {"messages": [message]})
    assert response.status_code == 200, response.text
    tokens = response.json()["usage"]
    gateway.wait_rows("SELECT 1 FROM ApiManagementGatewayLlmLog", count=1)

    # The daily summary, loaded from the examples and run.
    page.click("text=Daily token summary")
    playwright.expect(page.locator("#kql")).to_have_value(re.compile("summarize"))
    page.click("button:text('Run')")
    table = page.locator("#query-result table")
    playwright.expect(table).to_contain_text("TotalTokensSum")
    cells = table.locator("tbody tr").first.locator("td")
    playwright.expect(cells.nth(0)).to_have_text("1")
    playwright.expect(cells.nth(1)).to_have_text(str(tokens["prompt_tokens"]))
    playwright.expect(cells.nth(3)).to_have_text(str(tokens["total_tokens"]))
    shoot(page, "query-daily-summary")

    # Clicking a column inserts its name where the cursor is.
    page.fill("#kql", "ApiManagementGatewayLogs | project ")
    page.click("#kql")
    page.keyboard.press("End")
    page.click("button.insert[data-insert='CallerIpAddress']")
    playwright.expect(page.locator("#kql")).to_have_value(
        "ApiManagementGatewayLogs | project CallerIpAddress"
    )

    # An error points at the spot; Ctrl+Enter runs.
    page.fill("#kql", "ApiManagementGatewayLogs\n| where Nope == 1")
    page.press("#kql", "Control+Enter")
    playwright.expect(page.locator(".query-error")).to_contain_text("line 2, column 9")
    shoot(page, "query-error")

    # The tokens-per-hour timechart draws a chart.
    page.click("text=Tokens per hour")
    page.press("#kql", "Control+Enter")
    canvas = page.locator("#query-result .chart canvas")
    playwright.expect(canvas).to_be_visible()
    page.wait_for_function(
        "() => { const c = document.querySelector('#query-result canvas');"
        " return c && window.Chart && Chart.getChart(c) !== undefined; }"
    )
    box = canvas.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 200
    shoot(page, "query-timechart")

    # And a bar chart: usage per subscription.
    page.click("text=Usage per subscription")
    page.press("#kql", "Control+Enter")
    playwright.expect(page.locator("#query-result .chart canvas")).to_be_visible()
    shoot(page, "query-barchart")

    assert errors == []
