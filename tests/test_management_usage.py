"""``GET /usage`` over real traffic, on SQLite and PostgreSQL stores."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.management_support import ENVIRON, assert_error, call, secured_config
from tests.support import RunningGateway
from tollhouse.config import GatewayConfig, OperationConfig, StoreConfig

CHAT = "/openai/deployments/gpt-4o-deployment/chat/completions?api-version=2024-10-21"
EMBED = "/openai/deployments/gpt-4o-deployment/embeddings?api-version=2024-10-21"
MISSING = "/openai/deployments/nope/chat/completions?api-version=2024-10-21"
BLOCK = """<policies><inbound><base />
<ip-filter action="forbid"><address>127.0.0.1</address></ip-filter>
</inbound></policies>
"""


@dataclasses.dataclass
class Traffic:
    """What the test sent, and the token counts the responses reported."""

    gw: RunningGateway
    usage: dict[str, list[dict[str, int]]]
    streamed: str


def blocking_config(data_dir: Path) -> GatewayConfig:
    """`secured_config` with embeddings forbidden to the loopback caller."""
    data_dir.mkdir(parents=True, exist_ok=True)
    policy = data_dir.parent / "block.xml"
    policy.write_text(BLOCK, encoding="utf-8")
    config = secured_config(data_dir)
    api = dataclasses.replace(
        config.apis["azure-openai"],
        operations={"embeddings_create": OperationConfig(str(policy))},
    )
    return dataclasses.replace(config, apis={"azure-openai": api})


def send(gw: RunningGateway) -> Traffic:
    """Two chats as master, one as team-a, a 404, a 403 and a streamed chat."""
    created = call(gw, "POST", "/subscriptions", {"id": "team-a", "scope": "/apis"})
    team_key = created.json()["primaryKey"]
    usage: dict[str, list[dict[str, int]]] = {"master": [], "team-a": []}
    for subscription, key in (
        ("master", gw.key),
        ("master", gw.key),
        ("team-a", team_key),
    ):
        body = {"messages": [{"role": "user", "content": f"Hello from {subscription}"}]}
        response = gw.post(CHAT, body, headers={"api-key": key})
        assert response.status_code == 200, response.text
        usage[subscription].append(response.json()["usage"])
    assert gw.post(MISSING, {"messages": []}).status_code == 404
    assert gw.post(EMBED, {"input": "blocked"}).status_code == 403
    stream = {"messages": [{"role": "user", "content": "Stream it"}], "stream": True}
    # Without usage from the backend, the gateway estimates the counts.
    response = gw.post(CHAT, stream, headers={"x-mock-no-usage": "true"}, stream=True)
    assert response.status_code == 200
    response.content  # noqa: B018 - read the stream to its end
    return Traffic(gw, usage, response.headers["x-correlation-id"])


def wait_rows(gw: RunningGateway, requests: int) -> None:
    deadline = time.monotonic() + 10
    query = {"query": "ApiManagementGatewayLogs | count"}
    while call(gw, "POST", "/query", query).json()["rows"][0][0] < requests:
        assert time.monotonic() < deadline, "the log rows never came"
        time.sleep(0.05)
    time.sleep(0.2)


@pytest.fixture(params=["sqlite", "postgres"])
def traffic(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Traffic]:
    config = blocking_config(tmp_path / "data")
    if request.param == "sqlite":
        yield from _run(config)
        return

    from tests.postgres_schema import temporary_schema

    with temporary_schema("management_usage") as dsn:
        yield from _run(dataclasses.replace(config, store=StoreConfig("postgres", dsn)))


def _run(config: GatewayConfig) -> Iterator[Traffic]:
    gw = RunningGateway(config, environ=ENVIRON).start()
    try:
        sent = send(gw)
        wait_rows(gw, 6)
        yield sent
    finally:
        gw.stop()


def usage(gw: RunningGateway, query: str) -> dict[str, Any]:
    response = call(gw, "GET", f"/usage?{query}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def streamed_tokens(traffic: Traffic) -> dict[str, int]:
    detail = call(traffic.gw, "GET", f"/logs/{traffic.streamed}").json()
    tokens: dict[str, int] = detail["tokens"]
    assert tokens["source"] == "estimated"
    return tokens


def sums(reported: list[dict[str, int]]) -> tuple[int, int, int]:
    return (
        sum(u["prompt_tokens"] for u in reported),
        sum(u["completion_tokens"] for u in reported),
        sum(u["total_tokens"] for u in reported),
    )


def test_by_subscription_the_numbers_are_what_was_sent(traffic: Traffic) -> None:
    body = usage(traffic.gw, "by=subscription")

    groups = {g["key"]: g for g in body["value"]}
    assert set(groups) == {"master", "team-a"}
    streamed = streamed_tokens(traffic)
    master, team = groups["master"], groups["team-a"]
    prompt, completion, total = sums(traffic.usage["master"])
    assert (master["requests"], master["errors"], master["blocked"]) == (5, 2, 1)
    assert master["promptTokens"] == prompt + streamed["prompt"]
    assert master["completionTokens"] == completion + streamed["completion"]
    assert master["totalTokens"] == total + streamed["total"]
    assert master["estimated"] == 1
    assert (team["requests"], team["errors"], team["blocked"]) == (1, 0, 0)
    assert (
        team["promptTokens"],
        team["completionTokens"],
        team["totalTokens"],
    ) == sums(traffic.usage["team-a"])
    assert team["estimated"] == 0
    assert body["total"]["requests"] == 6
    assert body["truncated"] is False


@pytest.mark.parametrize(
    ("by", "requests"),
    [
        ("deployment", {"gpt-4o-deployment": 5, "nope": 1}),
        ("api", {"azure-openai": 6}),
        ("operation", {"ChatCompletions_Create": 5, "embeddings_create": 1}),
    ],
)
def test_grouped_by_configuration(
    traffic: Traffic, by: str, requests: dict[str, int]
) -> None:
    body = usage(traffic.gw, f"by={by}")

    assert body["by"] == by
    assert {g["key"]: g["requests"] for g in body["value"]} == requests
    assert sum(g["blocked"] for g in body["value"]) == 1


@pytest.mark.parametrize(("by", "length"), [("day", 10), ("hour", 13)])
def test_grouped_by_time(traffic: Traffic, by: str, length: int) -> None:
    now = datetime.now(UTC)
    body = usage(
        traffic.gw, f"by={by}&from={(now - timedelta(days=2)):%Y-%m-%dT%H:%M:%SZ}"
    )

    # A run across midnight or the hour may split the traffic in two.
    assert 1 <= len(body["value"]) <= 2
    for group in body["value"]:
        assert group["key"][:length] <= now.isoformat()[:length]
    assert sum(g["requests"] for g in body["value"]) == 6
    assert body["total"]["totalTokens"] > 0


def test_a_range_without_traffic_is_empty(traffic: Traffic) -> None:
    body = usage(traffic.gw, "from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00")

    assert (body["from"], body["to"]) == (
        "2000-01-01T00:00:00.000000Z",
        "2000-01-02T00:00:00.000000Z",
    )
    assert body["value"] == []
    assert body["total"]["requests"] == 0


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    gw = RunningGateway(secured_config(tmp_path / "data"), environ=ENVIRON).start()
    try:
        yield gw
    finally:
        gw.stop()


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("by=model", "'by' must be one of subscription, deployment, api"),
        ("from=yesterday", "'from' must be an ISO 8601 time"),
        ("to=2026-13-01", "'to' must be an ISO 8601 time"),
        ("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "earlier than 'to'"),
        ("group=day", "Unknown parameter 'group'"),
    ],
)
def test_bad_parameters_are_refused(
    gateway: RunningGateway, query: str, reason: str
) -> None:
    response = call(gateway, "GET", f"/usage?{query}")

    assert reason in assert_error(response, 400, "InvalidParameter")


@pytest.mark.parametrize(
    ("key", "code"), [("", "AdminKeyMissing"), ("wrong", "AdminKeyInvalid")]
)
def test_the_admin_key_is_required(
    gateway: RunningGateway, key: str, code: str
) -> None:
    assert_error(call(gateway, "GET", "/usage", key=key), 401, code)
