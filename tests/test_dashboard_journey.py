"""The seed walkthrough, end to end in the dashboard of the embedded default.

Log in; create a subscription and copy its key; send the walkthrough's chat
completion from the Test console with that key; find it in Logs with its
prompt and completion; run the daily token summary in Query and chart it;
put the walkthrough's ``ip-filter`` policy on the API, which leaves the
console's caller (127.0.0.1) out; send again and see the 403 in Logs and in
the blocked-requests query.  Screenshots of every step go to
``tests/screenshots/journey-*.png``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard_support import log_in, needs_chromium, shoot
from tests.support import RunningGateway, default_config

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = needs_chromium

PROMPT = "APIM을 거쳐 Azure OpenAI를 호출하는 구조를 간결하게 설명해 주세요."
#: The walkthrough's policy as written, its placeholders filled for this
#: gateway: neither range holds the console's caller, 127.0.0.1.
SEED = Path(__file__).parent / "policy" / "data" / "seed-ip-restriction.xml"
FILLED = {
    "YOUR_OFFICE_IP_START": "10.0.0.1",
    "YOUR_OFFICE_IP_END": "10.255.255.254",
    "YOUR_INTERNAL_NETWORK_START": "192.168.1.1",
    "YOUR_INTERNAL_NETWORK_END": "192.168.1.254",
    "YOUR_OPENAI_BACKEND_ID": "mock",
}


def seed_policy() -> str:
    text = SEED.read_text(encoding="utf-8")
    for placeholder, value in FILLED.items():
        text = text.replace(placeholder, value)
    return text


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    gw = RunningGateway(default_config(tmp_path / "data")).start()
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture
def page(browser: Any) -> Any:
    context = browser.new_context(
        viewport={"width": 1280, "height": 800},
        permissions=["clipboard-read", "clipboard-write"],
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert errors == []


def test_the_seed_journey(gateway: RunningGateway, page: Any) -> None:
    expect = playwright.expect
    base = gateway.management_url + "/dashboard"

    # Log in; the dashboard opens on the Overview.
    page.goto(base + "/")
    page.wait_for_url(re.compile(r"/dashboard/login"))
    shoot(page, "journey-login")
    log_in(page, gateway)
    page.wait_for_url(re.compile(r"/dashboard/overview"))
    shoot(page, "journey-overview-empty")

    key = create_subscription_and_copy_its_key(page, base)
    correlation_id = send_from_the_console(page, base, key, status=200)
    find_in_logs(page, base, correlation_id)
    run_the_daily_summary(page, base)
    add_the_ip_filter(page, base, gateway)

    blocked = send_from_the_console(page, base, key, status=403)
    expect(page.locator("#console-body-out")).to_contain_text('"IP_BLOCKED"')
    expect(page.locator("#console-trace")).to_contain_text("inbound/ip-filter[1]")
    shoot(page, "journey-console-blocked")
    see_the_block(page, base, blocked)

    page.goto(base + "/overview")
    expect(page.locator("main")).to_contain_text("Blocked")
    shoot(page, "journey-overview")


def create_subscription_and_copy_its_key(page: Any, base: str) -> str:
    expect = playwright.expect
    page.goto(base + "/subscriptions")
    page.fill("input[name=id]", "seed-team")
    page.fill("input[name=name]", "Seed team")
    page.click("text=Create")
    panel = page.locator(".key-panel")
    expect(panel).to_contain_text("will not be shown again")
    panel.locator("button[data-copy=key-primary]").click()
    expect(panel.locator("button[data-copy=key-primary]")).to_have_text("Copied")
    key: str = page.evaluate("navigator.clipboard.readText()")
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    shoot(page, "journey-subscription")
    page.reload()
    assert key not in page.content()  # shown once
    return key


def send_from_the_console(page: Any, base: str, key: str, *, status: int) -> str:
    """Send the walkthrough's chat completion with ``key``; its correlation id."""
    expect = playwright.expect
    page.goto(base + "/console")
    page.select_option("#console-subscription", "")  # the typed key decides
    page.fill("#console-headers", f"Content-Type: application/json\napi-key: {key}")
    page.fill(
        "#console-body",
        '{"messages": [{"role": "system", "content": "You are an AI assistant '
        'that helps people find information."}, {"role": "user", "content": "'
        + PROMPT
        + '"}], "temperature": 0.7, "top_p": 0.95, "max_tokens": 800}',
    )
    page.click("#console-send")
    expect(page.locator("#console-status-code")).to_have_text(str(status))
    link = page.locator("#console-log")
    expect(link).to_be_visible()
    found = re.search(r"\(([0-9a-f-]{36})\)", link.inner_text())
    assert found is not None
    if status == 200:
        expect(page.locator("#console-answer")).to_contain_text(PROMPT[:10])
        shoot(page, "journey-console")
    return found[1]


def find_in_logs(page: Any, base: str, correlation_id: str) -> None:
    expect = playwright.expect
    page.goto(base + "/logs")
    row = page.locator(f"a[href$='/logs/{correlation_id}']")
    expect(row).to_be_visible(timeout=10_000)
    shoot(page, "journey-logs")
    row.click()
    page.wait_for_url(re.compile(correlation_id))
    main = page.locator("main")
    expect(main).to_contain_text(PROMPT)
    expect(main).to_contain_text("You are an AI assistant")
    expect(main).to_contain_text("seed-team")
    expect(main).to_contain_text("Counted by")
    shoot(page, "journey-log-detail")


def run_the_daily_summary(page: Any, base: str) -> None:
    expect = playwright.expect
    page.goto(base + "/query")
    page.click("text=Daily token summary")
    page.click("button:text('Run')")
    table = page.locator("#query-result table")
    expect(table).to_contain_text("TotalTokensSum")
    expect(table.locator("tbody td").first).to_have_text("1")
    page.click("#query-result summary:has-text('Chart')")
    canvas = page.locator("#query-result .chart canvas")
    expect(canvas).to_be_visible()
    page.wait_for_function(
        "document.querySelector('#query-result .chart').dataset.drawn === 'yes'"
    )
    shoot(page, "journey-query")


def add_the_ip_filter(page: Any, base: str, gateway: RunningGateway) -> None:
    expect = playwright.expect
    page.goto(base + "/apis")
    editor = page.locator(".scope-editor", has_text="API azure-openai")
    editor.locator("textarea").fill(seed_policy())
    editor.locator("button:text('Validate')").click()
    editor = page.locator(".scope-editor", has_text="API azure-openai")
    expect(editor).to_contain_text("The document is valid.")
    editor.locator("button:text('Save')").click()
    editor = page.locator(".scope-editor", has_text="API azure-openai")
    expect(editor).to_contain_text("Saved; the gateway runs it")
    expect(page.locator(".effective")).to_contain_text("ip-filter")
    shoot(page, "journey-policy")
    policy = Path(gateway.config.data_dir) / "policies" / "azure-openai.xml"
    assert policy.read_text(encoding="utf-8") == seed_policy()


def see_the_block(page: Any, base: str, correlation_id: str) -> None:
    expect = playwright.expect
    page.goto(base + "/logs?status=403")
    row = page.locator(f"a[href$='/logs/{correlation_id}']")
    expect(row).to_be_visible(timeout=10_000)
    shoot(page, "journey-logs-blocked")
    row.click()
    page.wait_for_url(re.compile(correlation_id))
    error = page.locator(".policy-error")
    expect(error).to_contain_text("ip-filter")
    expect(error).to_contain_text("CallerIpNotAllowed")
    shoot(page, "journey-log-blocked")

    page.goto(base + "/query")
    page.click("text=Blocked requests")
    page.click("button:text('Run')")
    table = page.locator("#query-result table")
    expect(table).to_contain_text("127.0.0.1")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table).to_contain_text("403")
    shoot(page, "journey-query-blocked")
