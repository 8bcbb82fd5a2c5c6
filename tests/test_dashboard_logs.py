"""The dashboard's Logs page: one request in full, over real traffic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboard_support import login
from tests.management_support import call, secured_gateway
from tests.support import RunningGateway

CHAT = "/openai/deployments/gpt-4o-deployment/chat/completions?api-version=2024-10-21"
MISSING = "/openai/deployments/nope/chat/completions?api-version=2024-10-21"
HELLO = {"messages": [{"role": "user", "content": "Hello there"}]}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    gw = secured_gateway(tmp_path / "data")
    try:
        yield gw
    finally:
        gw.stop()


def detail(gw: RunningGateway, correlation_id: str) -> str:
    gw.wait_rows(
        "SELECT * FROM ApiManagementGatewayLogs WHERE CorrelationId = ?",
        (correlation_id,),
    )
    page = login(gw).get(
        f"{gw.management_url}/dashboard/logs/{correlation_id}", timeout=10
    )
    assert page.status_code == 200, page.text
    return page.text


def test_a_logged_request_shows_its_prompt_and_completion(
    gateway: RunningGateway,
) -> None:
    response = gateway.post(CHAT, HELLO)

    page = detail(gateway, response.headers["x-correlation-id"])

    assert "Hello there" in page
    assert "Not logged" not in page


def test_messages_left_out_by_the_diagnostics_say_so(gateway: RunningGateway) -> None:
    off = call(gateway, "PUT", "/diagnostics", {"log_llm_messages": False})
    assert off.status_code == 200
    response = gateway.post(CHAT, HELLO)

    page = detail(gateway, response.headers["x-correlation-id"])

    assert page.count("Not logged: the API's diagnostics kept no messages") == 2
    assert "Hello there" not in page


def test_a_request_that_never_reached_a_model_says_so(
    gateway: RunningGateway,
) -> None:
    response = gateway.post(MISSING, HELLO)
    assert response.status_code == 404

    page = detail(gateway, response.headers["x-correlation-id"])

    assert page.count("None: no model answered this request, which never") == 2
    assert "<dt>Deployment</dt><dd>nope</dd>" in page
