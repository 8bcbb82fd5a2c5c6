"""The Overview page in a real browser: login lands there, totals and a chart.

Screenshots go to ``tests/screenshots/overview-*.png``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard_support import log_in, needs_chromium, shoot
from tests.management_support import ENVIRON
from tests.support import RunningGateway
from tests.test_dashboard_overview import send
from tests.test_management_usage import blocking_config

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = needs_chromium


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    gw = RunningGateway(blocking_config(tmp_path / "data"), environ=ENVIRON).start()
    try:
        yield gw
    finally:
        gw.stop()


def test_login_lands_on_the_overview_with_a_chart(
    gateway: RunningGateway, browser: Any
) -> None:
    usage = send(gateway)
    total = sum(u["total_tokens"] for sent in usage.values() for u in sent)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "response",
        lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else 0,
    )

    page.goto(gateway.management_url + "/dashboard/")
    log_in(page, gateway)
    page.wait_for_url(re.compile(r"/dashboard/overview$"))

    expect = playwright.expect
    expect(page.locator("nav[aria-label=Pages] [aria-current=page]")).to_have_text(
        "Overview"
    )
    expect(page.locator("[data-total=requests]")).to_have_text("4")
    expect(page.locator("[data-total=blocked]")).to_have_text("1")
    expect(page.locator("[data-total=totalTokens]")).to_have_text(f"{total:,}")
    canvas = page.locator(".chart canvas")
    expect(canvas).to_be_visible()
    page.wait_for_function(
        "() => { const c = document.querySelector('.chart canvas');"
        " return c && window.Chart && Chart.getChart(c) !== undefined; }"
    )
    box = canvas.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 200
    expect(page.locator(".overview-table").first).to_contain_text("team-a")
    shoot(page, "overview-day")

    page.click("text=Last hour")
    page.wait_for_url(re.compile(r"range=1h"))
    expect(page.locator(".ranges [aria-current]")).to_have_text("Last hour")
    expect(page.locator("[data-total=requests]")).to_have_text("4")
    page.wait_for_function(
        "() => Chart.getChart(document.querySelector('.chart canvas')) !== undefined"
    )
    shoot(page, "overview-hour")

    assert errors == []
