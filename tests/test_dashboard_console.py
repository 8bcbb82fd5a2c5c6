"""The dashboard's Test console: requests through the gateway as a subscription."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from tests.dashboard_support import csrf_token, login
from tests.management_support import ENVIRON, call, policied_config
from tests.support import LoopThread, RunningGateway, default_config
from tollhouse.config import ApiConfig, ProductConfig

PAGE = "/dashboard/console"
SEND = "/dashboard/console/send"
CHAT = {
    "api": "azure-openai",
    "operation": "ChatCompletions_Create",
    "params": {"deployment-id": "gpt-4o-deployment"},
    "query": "api-version=2025-01-01-preview",
    "subscription": "master",
    "headers": "Content-Type: application/json",
    "body": '{"messages": [{"role": "user", "content": "Say hello in Korean"}]}',
}
FORBID_LOOPBACK = """<policies>
    <inbound>
        <base />
        <ip-filter action="forbid">
            <address>127.0.0.1</address>
        </ip-filter>
    </inbound>
</policies>
"""


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    return tmp_path / "policies"


@pytest.fixture
def gateway(tmp_path: Path, policies: Path) -> Iterator[RunningGateway]:
    config = policied_config(tmp_path / "data", policies)
    gw = RunningGateway(config, environ=ENVIRON).start()
    try:
        yield gw
    finally:
        gw.stop()


class Console:
    """A logged-in operator sending from the console."""

    def __init__(self, gw: RunningGateway) -> None:
        self.gw = gw
        self.browser = login(gw)
        self.token = csrf_token(gw, self.browser)

    def send(self, **changes: Any) -> requests.Response:
        form = {**CHAT, **changes}
        return self.browser.post(
            self.gw.management_url + SEND,
            data=orjson.dumps({k: v for k, v in form.items() if v is not ...}),
            headers={"X-CSRF-Token": self.token, "Content-Type": "application/json"},
            timeout=30,
        )

    def events(self, **changes: Any) -> list[dict[str, Any]]:
        response = self.send(**changes)
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("application/x-ndjson")
        return [orjson.loads(line) for line in response.text.splitlines()]


@pytest.fixture
def console(gateway: RunningGateway) -> Console:
    return Console(gateway)


def by_kind(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {event["event"]: event for event in events}


def body_of(events: list[dict[str, Any]]) -> str:
    return "".join(e["text"] for e in events if e["event"] == "body")


def test_the_page_lists_apis_operations_and_active_subscriptions(
    console: Console,
) -> None:
    call(console.gw, "POST", "/subscriptions", {"id": "paused"})
    call(console.gw, "POST", "/subscriptions/paused/suspend")
    page = console.browser.get(console.gw.management_url + PAGE, timeout=10)

    assert page.status_code == 200
    assert 'id="console-setup"' in page.text
    assert "ChatCompletions_Create" in page.text
    assert '<option value="master" selected>' in page.text
    assert '"paused"' not in page.text  # a suspended subscription is not offered
    assert "2025-01-01-preview" in page.text  # the seed's api-version to start
    assert console.gw.url in page.text


def test_a_chat_completion_is_sent_as_the_subscription_and_logged(
    console: Console,
) -> None:
    events = console.events()
    kinds = by_kind(events)

    assert [e["event"] for e in events][:2] == ["request", "response"]
    assert kinds["request"]["url"] == (
        console.gw.url + "/openai/deployments/gpt-4o-deployment/chat/completions"
        "?api-version=2025-01-01-preview"
    )
    assert kinds["response"]["status"] == 200
    completion = orjson.loads(body_of(events))
    assert completion["object"] == "chat.completion"
    end = kinds["end"]
    assert end["status"] == 200 and end["error"] is None
    assert end["logUrl"] == f"/dashboard/logs/{end['correlationId']}"
    headers = {n.lower(): v for n, v in kinds["response"]["headers"]}
    assert headers["x-correlation-id"] == end["correlationId"]

    row = console.gw.gateway_row(end["correlationId"])
    assert row["ApimSubscriptionId"] == "master"
    assert row["SubscriptionKeySource"] == "header:x-tollhouse-console"
    assert row["CallerIpAddress"] == "127.0.0.1"
    assert "x-tollhouse-console" not in row["RequestHeaders"].lower()
    assert "tollhouse test console" in row["RequestHeaders"].lower()
    llm = console.gw.llm_rows(end["correlationId"])
    assert llm and llm[0]["DeploymentName"] == "gpt-4o-deployment"


def test_the_trace_lists_route_subscription_policies_backend_and_response(
    console: Console,
) -> None:
    end = by_kind(console.events())["end"]
    steps = [(s["step"], s["scope"], s["name"]) for s in end["trace"]]

    assert steps[0] == ("route", "", "azure-openai / ChatCompletions_Create")
    assert steps[1] == ("subscription", "", "master")
    assert end["trace"][1]["outcome"] == "active, by the console's ticket"
    assert steps[2:5] == [
        ("inbound", "global", "inbound/set-variable[1]"),
        ("inbound", "api", "inbound/set-header[1]"),
        ("backend", "global", "backend/forward-request[1]"),
    ]
    backend = end["trace"][5]
    assert backend["step"] == "backend" and backend["scope"] == ""
    assert backend["name"].startswith("POST http://127.0.0.1:")
    assert backend["outcome"].startswith("answered 200 in ")
    assert end["trace"][-1] == {
        "step": "response",
        "scope": "",
        "name": "200",
        "outcome": "sent",
    }


def test_a_streamed_answer_arrives_in_pieces(console: Console) -> None:
    events = console.events(
        headers="Content-Type: application/json\nx-mock-chunk-delay-ms: 30",
        body='{"stream": true, "messages": [{"role": "user", "content": "Count"}]}',
    )
    pieces = [e["text"] for e in events if e["event"] == "body"]

    assert by_kind(events)["response"]["status"] == 200
    assert len(pieces) > 1
    assert "".join(pieces).rstrip().endswith("data: [DONE]")
    end = by_kind(events)["end"]
    llm = console.gw.llm_rows(end["correlationId"])
    assert llm[0]["IsStreamCompletion"] in (1, True)


def test_without_a_subscription_the_typed_key_decides(console: Console) -> None:
    missing = by_kind(console.events(subscription=""))
    assert missing["response"]["status"] == 401
    assert "missing subscription key" in body_of(console.events(subscription=""))

    typed = console.events(
        subscription="",
        headers=f"Content-Type: application/json\napi-key: {console.gw.key}",
    )
    end = by_kind(typed)["end"]
    assert end["status"] == 200
    row = console.gw.gateway_row(end["correlationId"])
    assert row["SubscriptionKeySource"] == "header:api-key"
    assert console.gw.key not in row["RequestHeaders"]


def test_a_subscription_outside_its_scope_is_refused(tmp_path: Path) -> None:
    config = policied_config(tmp_path / "data", tmp_path / "policies")
    products = {**config.products, "empty": ProductConfig(apis=())}
    config = dataclasses.replace(config, products=products)
    with RunningGateway(config, environ=ENVIRON) as gw:
        other = {"id": "other", "scope": "/products/empty"}
        assert call(gw, "POST", "/subscriptions", other).status_code == 201
        events = Console(gw).events(subscription="other")
        assert by_kind(events)["end"]["status"] == 401
        assert "invalid subscription key" in body_of(events)


def test_a_suspended_subscription_is_refused(console: Console) -> None:
    call(console.gw, "POST", "/subscriptions", {"id": "later"})
    assert by_kind(console.events(subscription="later"))["end"]["status"] == 200
    call(console.gw, "POST", "/subscriptions/later/suspend")
    events = console.events(subscription="later")
    assert by_kind(events)["end"]["status"] == 401
    assert "invalid subscription key" in body_of(events)


def test_a_policy_refusal_shows_in_the_trace(console: Console, policies: Path) -> None:
    reloaded = call(
        console.gw,
        "PUT",
        "/policies/apis/azure-openai/operations/ChatCompletions_Create",
        data=FORBID_LOOPBACK.encode(),
        content_type="application/xml",
    )
    assert reloaded.status_code == 200, reloaded.text

    events = console.events()
    end = by_kind(events)["end"]
    assert by_kind(events)["response"]["status"] == 403
    assert end["error"].startswith("CallerIpNotAllowed: ")
    refusal = next(s for s in end["trace"] if s["name"] == "inbound/ip-filter[1]")
    assert refusal["step"] == "inbound" and refusal["scope"] == "operation"
    assert refusal["outcome"].startswith("failed")
    row = console.gw.gateway_row(end["correlationId"])
    assert row["ResponseCode"] == 403 and row["LastErrorSource"] == "ip-filter"


def test_a_path_no_api_serves_is_a_404_with_its_trace(console: Console) -> None:
    events = console.events(
        api="azure-openai",
        operation="ChatCompletions_Create",
        params={"deployment-id": "no-such-deployment"},
    )
    end = by_kind(events)["end"]
    assert end["status"] == 404
    assert end["trace"][-1]["name"] == "404"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"api": "nope"}, "There is no API 'nope'."),
        ({"operation": "Nope"}, "has no operation 'Nope'"),
        ({"params": {}}, "Fill in the template parameter 'deployment-id'."),
        ({"params": {"deployment-id": "  "}}, "'deployment-id'"),
        ({"params": "x"}, "'params' must map"),
        ({"subscription": "ghost"}, "There is no subscription 'ghost'."),
        ({"headers": "no colon here"}, "Header line 1 is not 'Name: value'"),
        ({"headers": "Bad Name: x"}, "Header line 1 is not"),
        ({"headers": "A: 1\n\nHost: evil"}, "Header line 3: the console sets Host"),
        ({"headers": "Content-Length: 5"}, "sets Content-Length itself"),
        ({"headers": "Expect: 100-continue"}, "the console sets Expect itself"),
        ({"headers": "X-Tollhouse-Console: forged"}, "sets X-Tollhouse-Console"),
        ({"headers": "X-A: a\x7fb"}, "Header line 1 holds a control character."),
        ({"body": 5}, "'body' must be text."),
        ({"extra": 1}, "Unknown fields: extra."),
    ],
)
def test_a_request_the_console_cannot_build_is_refused(
    console: Console, changes: dict[str, Any], message: str
) -> None:
    response = console.send(**changes)
    assert response.status_code == 400
    assert message in response.json()["message"]


def test_bad_json_is_refused(console: Console) -> None:
    response = console.browser.post(
        console.gw.management_url + SEND,
        data=b"{not json",
        headers={"X-CSRF-Token": console.token, "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400
    assert "JSON object" in response.json()["message"]


def test_a_pass_through_api_takes_method_and_path(tmp_path: Path) -> None:
    config = default_config(tmp_path / "data")
    api = ApiConfig(
        path="/echo", backend=next(iter(config.backends)), template="passthrough"
    )
    config = dataclasses.replace(config, apis={**config.apis, "echo": api})
    with RunningGateway(config) as gw:
        console = Console(gw)
        planned = console.send(
            api="echo",
            operation="passthrough",
            method="GET",
            path="/a b/c",
            query="x=1",
            params=...,
        )
        assert planned.status_code == 200, planned.text
        start = orjson.loads(planned.text.splitlines()[0])
        assert start["url"] == gw.url + "/echo/a%20b/c?x=1"
        assert (
            console.send(api="echo", operation="passthrough", path="/a?b")
            .json()["message"]
            .startswith("The path may not hold")
        )


def test_the_send_route_wants_a_session_and_its_csrf_token(
    gateway: RunningGateway,
) -> None:
    anonymous = requests.post(
        gateway.management_url + SEND, data=orjson.dumps(CHAT), timeout=10
    )
    assert anonymous.status_code == 403
    browser = login(gateway)
    without = browser.post(
        gateway.management_url + SEND,
        data=orjson.dumps(CHAT),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert without.status_code == 403
    cross_site = browser.post(
        gateway.management_url + SEND,
        data=orjson.dumps(CHAT),
        headers={
            "X-CSRF-Token": csrf_token(gateway, browser),
            "Origin": "http://evil.test",
        },
        timeout=10,
    )
    assert cross_site.status_code == 403


def test_a_ticket_is_good_for_one_request(gateway: RunningGateway) -> None:
    tickets = gateway.gateway.runtime.console

    async def issue() -> str:
        return tickets.issue("master")[0]

    loop = LoopThread()
    try:
        ticket = loop.run(issue())
    finally:
        loop.close()
    url = gateway.url + "/openai/deployments/gpt-4o-deployment/chat/completions"
    sent = {"messages": [{"role": "user", "content": "hi"}]}
    first = requests.post(
        url,
        params={"api-version": "2024-10-21"},
        json=sent,
        headers={"X-Tollhouse-Console": ticket},
        timeout=10,
    )
    assert first.status_code == 200
    again = requests.post(
        url,
        params={"api-version": "2024-10-21"},
        json=sent,
        headers={"X-Tollhouse-Console": ticket},
        timeout=10,
    )
    assert again.status_code == 401
    assert "console's ticket has expired or was used" in again.json()["message"]
    forged = requests.post(
        url,
        params={"api-version": "2024-10-21"},
        json=sent,
        headers={"X-Tollhouse-Console": "made-up"},
        timeout=10,
    )
    assert forged.status_code == 401


@pytest.mark.parametrize("deployment", ["..", "."])
def test_dot_segments_reach_the_gateway_as_typed(
    console: Console, deployment: str
) -> None:
    events = console.events(params={"deployment-id": deployment})

    sent = by_kind(events)
    assert (
        f"/openai/deployments/{deployment}/chat/completions?"
        in (sent["request"]["url"])
    )
    assert sent["response"]["status"] == 400
    assert sent["end"]["status"] == 400
    row = console.gw.gateway_row(sent["end"]["correlationId"])
    assert f"/deployments/{deployment}/chat" in row["Url"]


def test_an_answer_cut_short_still_ends_with_its_trace(console: Console) -> None:
    events = console.events(
        headers="Content-Type: application/json\nx-mock-drop-after: 3",
        body='{"messages": [{"role": "user", "content": "Count to ten"}],'
        ' "stream": true}',
    )

    kinds = by_kind(events)
    assert "failed" not in kinds
    assert "[the answer ended before it was complete" in body_of(events)
    assert kinds["end"]["logUrl"].endswith(kinds["end"]["correlationId"])


def test_a_page_that_leaves_mid_stream_leaves_no_error(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    form = {
        **CHAT,
        "headers": "Content-Type: application/json\nx-mock-chunk-delay-ms: 100",
        "body": '{"messages": [{"role": "user", "content": "Count to ten"}],'
        ' "stream": true}',
    }
    with console.browser.post(
        console.gw.management_url + SEND,
        data=orjson.dumps(form),
        headers={"X-CSRF-Token": console.token, "Content-Type": "application/json"},
        stream=True,
        timeout=30,
    ) as response:
        lines = response.iter_lines()
        assert orjson.loads(next(lines))["event"] == "request"
        assert orjson.loads(next(lines))["event"] == "response"
    # The console, the gateway's client, leaves with the page: one row says so.
    [row] = console.gw.wait_rows("SELECT * FROM ApiManagementGatewayLogs")

    assert (row["ApimSubscriptionId"], row["ResponseCode"]) == ("master", 499)
    assert row["ClientDisconnected"] == 1
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
