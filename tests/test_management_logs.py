"""The management API's log routes, on SQLite and PostgreSQL stores."""

from __future__ import annotations

import dataclasses
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.management_support import ENVIRON, assert_error, call, secured_config
from tests.support import RunningGateway
from tollhouse.config import StoreConfig
from tollhouse.logsearch import Filters, page_statement
from tollhouse.store.schema import utc_timestamp
from tollhouse.store.sqlite import connect

CHAT = "/openai/deployments/gpt-4o-deployment/chat/completions?api-version=2024-10-21"
MISSING = "/openai/deployments/nope/chat/completions?api-version=2024-10-21"
PROMPTS = ("What is the Capital of France?", "Name a prime number.")


def chat(gw: RunningGateway, prompt: str, path: str = CHAT) -> str:
    response = gw.post(path, {"messages": [{"role": "user", "content": prompt}]})
    return response.headers["x-correlation-id"] if response.ok else ""


def wait_logs(gw: RunningGateway, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        items: list[dict[str, Any]] = call(gw, "GET", "/logs").json()["value"]
        if len(items) >= count or time.monotonic() > deadline:
            return items
        time.sleep(0.05)


def start(config: Any) -> RunningGateway:
    gw = RunningGateway(config, environ=ENVIRON).start()
    try:
        for prompt in PROMPTS:
            assert chat(gw, prompt)
        assert gw.post(MISSING, {"messages": []}).status_code == 404
        assert len(wait_logs(gw, 3)) == 3
    except BaseException:
        gw.stop()
        raise
    return gw


@pytest.fixture(params=["sqlite", "postgres"])
def gateway(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningGateway]:
    config = secured_config(tmp_path / "data")
    if request.param == "sqlite":
        gw = start(config)
        try:
            yield gw
        finally:
            gw.stop()
        return

    from tests.postgres_schema import temporary_schema

    with temporary_schema("management_logs") as dsn:
        gw = start(dataclasses.replace(config, store=StoreConfig("postgres", dsn)))
        try:
            yield gw
        finally:
            gw.stop()


def test_the_newest_requests_come_first(gateway: RunningGateway) -> None:
    response = call(gateway, "GET", "/logs")

    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["next"]) == (3, None)
    missing, second, first = body["value"]
    assert [missing["status"], second["status"], first["status"]] == [404, 200, 200]
    assert second["time"] >= first["time"]
    assert second["method"] == "POST"
    assert second["path"] == "/openai/deployments/gpt-4o-deployment/chat/completions"
    assert second["subscription"] == "master"
    assert second["deployment"] == "gpt-4o-deployment"
    assert second["callerIp"] == "127.0.0.1"
    assert second["error"] is None
    tokens = second["tokens"]
    assert tokens["total"] == tokens["prompt"] + tokens["completion"] > 0
    assert tokens["source"]
    assert missing["tokens"] is None
    assert missing["error"]["reason"]


@pytest.mark.parametrize(
    ("query", "prompts"),
    [
        ("text=capital%20OF%20france", [PROMPTS[0]]),
        ("text=prime", [PROMPTS[1]]),
        ("text=nowhere", []),
        ("status=200", [PROMPTS[1], PROMPTS[0]]),
        ("status=4xx", [""]),
        ("status=5XX", []),
        ("subscription=master&deployment=gpt-4o-deployment", [PROMPTS[1], PROMPTS[0]]),
        ("subscription=team-b", []),
        ("api=azure-openai&operation=ChatCompletions_Create", ["", *PROMPTS[::-1]]),
        ("caller_ip=10.0.0.1", []),
        ("from=2000-01-01T00:00:00Z&to=2001-01-01T00:00:00", []),
    ],
)
def test_filters(gateway: RunningGateway, query: str, prompts: list[str]) -> None:
    response = call(gateway, "GET", f"/logs?{query}")
    assert response.status_code == 200, response.text
    shown = []
    for item in response.json()["value"]:
        detail = call(gateway, "GET", f"/logs/{item['correlationId']}").json()
        prompt = detail["prompt"]
        shown.append(prompt["messages"][0]["content"] if prompt else "")
    assert shown == prompts


def test_pages_follow_one_another(gateway: RunningGateway) -> None:
    everything = [i["correlationId"] for i in wait_logs(gateway, 3)]
    seen: list[str] = []
    path = "/logs?limit=2"
    while True:
        body = call(gateway, "GET", path).json()
        seen += [item["correlationId"] for item in body["value"]]
        if body["next"] is None:
            break
        path = f"/logs?limit=2&cursor={body['next']}"
    assert seen == everything


def test_one_request_in_full(gateway: RunningGateway) -> None:
    [_, second, _] = wait_logs(gateway, 3)

    response = call(gateway, "GET", f"/logs/{second['correlationId']}")

    assert response.status_code == 200
    detail = response.json()
    assert {k: detail[k] for k in second} == second
    assert detail["prompt"] == {
        "truncated": False,
        "messages": [{"role": "user", "content": PROMPTS[1]}],
    }
    [choice] = detail["completion"]["messages"]
    assert PROMPTS[1] in str(choice)
    assert detail["usage"]["source"] == second["tokens"]["source"]
    assert detail["usage"]["totalTokens"] == second["tokens"]["total"]
    assert detail["usage"]["streamed"] is False
    assert detail["timings"]["total"] == second["totalTime"]
    assert detail["lastError"] is None
    assert detail["requestHeaders"]["content-type"] == "application/json"
    assert gateway.key not in response.text
    assert detail["responseHeaders"]


def test_the_error_of_a_refused_request(gateway: RunningGateway) -> None:
    [missing, *_] = wait_logs(gateway, 3)
    detail = call(gateway, "GET", f"/logs/{missing['correlationId']}").json()
    assert detail["status"] == 404
    assert detail["lastError"]["reason"] == missing["error"]["reason"]
    assert detail["prompt"] is None
    # No usage row, but the deployment it was addressed to, as in the list.
    assert detail["deployment"] == missing["deployment"] == "nope"


def test_an_unknown_request_is_404(gateway: RunningGateway) -> None:
    response = call(gateway, "GET", "/logs/no-such-id")
    message = assert_error(response, 404, "NotFound")
    assert message == "There is no request with correlation id 'no-such-id'."


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "status=abc",
            "'status' must be a status code such as 429 or a class like 4xx.",
        ),
        (
            "status=600",
            "'status' must be a status code such as 429 or a class like 4xx.",
        ),
        ("limit=0", "'limit' must be a whole number from 1 to 500."),
        ("limit=501", "'limit' must be a whole number from 1 to 500."),
        ("limit=x", "'limit' must be a whole number from 1 to 500."),
        (
            "from=yesterday",
            "'from' must be an ISO 8601 time such as 2026-12-04T09:30:00Z.",
        ),
        ("from=2026-01-02&to=2026-01-01", "'from' must be before 'to'."),
        ("cursor=garbage", "'cursor' is not one this API gave; use a page's 'next'."),
        (
            "colour=red",
            "Unknown parameter 'colour'; the parameters are api, caller_ip, "
            "cursor, deployment, from, limit, operation, status, subscription, "
            "text, to.",
        ),
    ],
)
def test_bad_parameters_are_400(
    gateway: RunningGateway, query: str, message: str
) -> None:
    response = call(gateway, "GET", f"/logs?{query}")
    assert assert_error(response, 400, "InvalidParameter") == message


@pytest.mark.parametrize("path", ["/logs", "/logs/some-id"])
@pytest.mark.parametrize(
    ("key", "code"), [("", "AdminKeyMissing"), ("0" * 64, "AdminKeyInvalid")]
)
def test_the_log_routes_need_the_admin_key(
    gateway: RunningGateway, path: str, key: str, code: str
) -> None:
    assert_error(call(gateway, "GET", path, key=key), 401, code)


# The query plan on a large log ---------------------------------------------

START = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def large_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    conn = connect(tmp_path_factory.mktemp("large") / "logs.db")
    rows = [
        (
            utc_timestamp(START + timedelta(seconds=i)),
            str(uuid.UUID(int=i)),
            200 if i % 10 else 429,
            f"team-{i % 7}",
        )
        for i in range(20_000)
    ]
    conn.executemany(
        "INSERT INTO ApiManagementGatewayLogs"
        " (TimeGenerated, CorrelationId, ResponseCode, ApimSubscriptionId)"
        " VALUES (?, ?, ?, ?)",
        rows,
    )
    conn.commit()
    conn.execute("ANALYZE")
    yield conn
    conn.close()


@pytest.mark.parametrize(
    ("filters", "count"),
    [
        (Filters(), 50),
        (Filters(text="france"), 0),
        (
            Filters(
                since=START + timedelta(hours=1),
                until=START + timedelta(hours=2),
                status=(400, 500),
                text="france",
            ),
            0,
        ),
        (
            Filters(
                since=START + timedelta(hours=1),
                until=START + timedelta(hours=2),
                status=(400, 500),
            ),
            50,
        ),
    ],
)
def test_a_page_walks_the_time_index(
    large_log: sqlite3.Connection, filters: Filters, count: int
) -> None:
    sql, params = page_statement("sqlite", filters, 50)
    plan = [row[3] for row in large_log.execute(f"EXPLAIN QUERY PLAN {sql}", params)]

    # The rows are read from the time index, newest first: no whole-log
    # scan, no sort of every row before the page is cut.
    assert any("g USING INDEX ix_gateway_logs_time" in s for s in plan), plan
    assert "USE TEMP B-TREE FOR ORDER BY" not in plan, plan
    assert len(large_log.execute(sql, params).fetchall()) == count + (count > 0)
