"""The Subscriptions page in a real browser: create, copy the key, suspend."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

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


@pytest.fixture
def page(browser: Any) -> Any:
    """A page that may read and write the clipboard."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 800},
        permissions=["clipboard-read", "clipboard-write"],
    )
    return context.new_page()


def chat(gw: RunningGateway, key: str) -> requests.Response:
    body = {"messages": [{"role": "user", "content": "Hello from team A"}]}
    return gw.post(CHAT, body, headers={"api-key": key})


def test_create_copy_use_and_suspend_a_subscription(
    gateway: RunningGateway, page: Any
) -> None:
    expect = playwright.expect
    page.goto(gateway.management_url + "/dashboard/subscriptions")
    log_in(page, gateway)
    page.wait_for_url(re.compile(r"/dashboard/subscriptions$"))
    expect(page.locator("#subscription-master")).to_contain_text("built-in")
    assert chat(gateway, gateway.key).status_code == 200
    page.reload()
    shoot(page, "subscriptions")

    # A bad id is explained where it was typed.
    page.fill("input[name=id]", "team a")
    page.evaluate("document.querySelector('input[name=id]').removeAttribute('pattern')")
    page.click("text=Create")
    expect(page.get_by_role("alert")).to_contain_text("A subscription id is 1 to 80")
    shoot(page, "subscriptions-error")

    # Create: the keys are shown once, with a Copy button.
    page.fill("input[name=id]", "team-a")
    page.fill("input[name=name]", "Team A")
    page.select_option("select[name=scope]", "/apis/azure-openai")
    page.click("text=Create")
    panel = page.locator(".key-panel")
    expect(panel).to_contain_text("will not be shown again")
    expect(page.locator("#subscription-team-a")).to_contain_text("API: Azure OpenAI")
    key = panel.locator("#key-primary").input_value()
    panel.locator("button[data-copy=key-primary]").click()
    expect(panel.locator("button[data-copy=key-primary]")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == key
    shoot(page, "subscriptions-key")

    # The gateway takes the key at once.
    assert chat(gateway, key).status_code == 200

    # Suspend, once confirmed: the panel is gone, the key stops working at once.
    asked: list[str] = []

    def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.locator("#subscription-team-a button", has_text="Suspend").click()
    row = page.locator("#subscription-team-a")
    expect(row).to_contain_text("suspended")
    assert asked == [
        "Suspend team-a? Its keys are refused until it is activated again."
    ]
    expect(panel).to_have_count(0)
    assert key not in page.content()
    assert chat(gateway, key).status_code == 401

    # The usage of this day shows, and no page shows the key again.
    gateway.wait_rows(
        "SELECT * FROM ApiManagementGatewayLlmLog WHERE ApimSubscriptionId = ?",
        ("team-a",),
    )
    page.reload()
    expect(page.locator("#subscription-team-a td.num").first).to_have_text("1")
    assert key not in page.content()
    shoot(page, "subscriptions-suspended")

    # Cancel asks first; saying no changes nothing.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.locator("#subscription-team-a button", has_text="Cancel subscription").click()
    expect(row).to_contain_text("suspended")
