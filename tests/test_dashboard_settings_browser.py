"""The Settings page in a real browser: override, refuse, inherit, reset.

Screenshots go to ``tests/screenshots/settings-*.png``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard_support import log_in, needs_chromium, shoot
from tests.management_support import ENVIRON, call
from tests.support import RunningGateway
from tests.test_dashboard_settings import settings_config

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = needs_chromium

OPENAI = "#settings-apis-azure-openai"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    gw = RunningGateway(settings_config(tmp_path / "data"), environ=ENVIRON).start()
    try:
        yield gw
    finally:
        gw.stop()


def stored_for_openai(gw: RunningGateway) -> Any:
    return call(gw, "GET", "/apis/azure-openai/diagnostics").json()["stored"]


def test_override_a_setting_for_an_api_then_inherit_and_reset(
    gateway: RunningGateway, browser: Any
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    expect = playwright.expect

    page.goto(gateway.management_url + "/dashboard/settings")
    log_in(page, gateway)
    page.wait_for_url(re.compile(r"/dashboard/settings"))
    card = page.locator(OPENAI)
    expect(card).to_contain_text("Azure OpenAI")
    shoot(page, "settings")

    # Turn message logging off for one API, with a smaller size limit.
    card.locator("select[name=log_llm_messages]").select_option("false")
    card.locator("input[name=max_message_bytes]").fill("4096")
    card.locator("button:text('Save')").click()
    page.wait_for_url(re.compile(r"saved=apis/azure-openai"))
    card = page.locator(OPENAI)
    expect(card.locator("p.ok")).to_contain_text("Saved.")
    expect(
        card.locator("#settings-apis-azure-openai-log_llm_messages-row")
    ).to_contain_text("API · stored")
    assert stored_for_openai(gateway) == {
        "log_llm_messages": False,
        "max_message_bytes": 4096,
    }
    shoot(page, "settings-saved")

    # The browser refuses a sampling of 150 itself; the page refuses it too.
    sampling = card.locator("input[name=sampling_percentage]")
    sampling.fill("150")
    card.locator("button:text('Save')").click()
    assert sampling.evaluate("input => input.validity.rangeOverflow")
    card.locator("form").first.evaluate("form => form.submit()")
    page.wait_for_load_state()
    card = page.locator(OPENAI)
    expect(card.locator(".field-error")).to_contain_text(
        "'sampling_percentage' must be a number from 0 to 100."
    )
    expect(card.locator("p.error")).to_contain_text("Not saved")
    shoot(page, "settings-invalid")
    assert stored_for_openai(gateway) == {
        "log_llm_messages": False,
        "max_message_bytes": 4096,
    }

    # Inherit one field again, then reset the API to the configuration.
    page.goto(gateway.management_url + "/dashboard/settings")
    card = page.locator(OPENAI)
    row = card.locator("#settings-apis-azure-openai-max_message_bytes-row")
    row.locator("button:text('Inherit')").click()
    page.wait_for_url(re.compile(r"saved="))
    assert stored_for_openai(gateway) == {"log_llm_messages": False}
    card = page.locator(OPENAI)
    card.locator("button:text('Reset to configuration')").click()
    page.wait_for_url(re.compile(r"saved="))
    assert stored_for_openai(gateway) == {}
    expect(
        page.locator(OPENAI).locator("button:text('Reset to configuration')")
    ).to_be_disabled()
    assert errors == []
