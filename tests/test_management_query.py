"""``POST /query`` with queries that are too big, too deep or too slow.

Each is the query's fault, answered 400 ``InvalidQuery`` or 504
``QueryLimitExceeded``, never 503 ``StoreUnavailable``, and none holds the
gateway past the query's time limit.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.management_support import assert_error, call
from tests.support import RunningGateway, default_config
from tollhouse.config import QueryConfig

GW = "ApiManagementGatewayLogs"
#: The row a catastrophic regular expression was found on.
REPORTED_URL = "/openai/" + "a" * 28 + "!"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    """The embedded default, half a second per query, one row in its log."""
    config = default_config(tmp_path / "data")
    config = dataclasses.replace(config, query=QueryConfig(timeout_seconds=0.5))
    with RunningGateway(config) as running:
        with sqlite3.connect(running.db_path) as conn:
            conn.execute(
                f"INSERT INTO {GW} (TimeGenerated, CorrelationId, Url)"
                " VALUES ('2026-12-03T12:00:00.000000Z', 'reported', ?)",
                (REPORTED_URL,),
            )
        yield running


def query(gw: RunningGateway, text: str) -> requests.Response:
    return call(gw, "POST", "/query", {"query": text})


def test_the_reported_regex_answers(gateway: RunningGateway) -> None:
    response = query(gateway, f'{GW} | where Url matches regex "(a+)+$" | count')

    assert response.status_code == 200
    assert response.json()["rows"] == [[0]]


def test_a_backtracking_regex_is_stopped_at_the_time_limit(
    gateway: RunningGateway,
) -> None:
    response = query(gateway, f'{GW} | where Url matches regex "(a|a)+$" | count')

    message = assert_error(response, 504, "QueryLimitExceeded")
    assert message == "Query exceeded the time limit of 0.5 s."


def test_a_normal_regex_finds_its_row(gateway: RunningGateway) -> None:
    response = query(
        gateway, f'{GW} | where Url matches regex "^/openai/a+!$" | project Url'
    )

    assert response.status_code == 200
    assert response.json()["rows"] == [[REPORTED_URL]]


def test_strcat_nested_64_deep_is_an_invalid_query(gateway: RunningGateway) -> None:
    text = f"{GW} | project x = " + "strcat(" * 64 + '"a"' + ")" * 64

    message = assert_error(query(gateway, text), 400, "InvalidQuery")

    assert message == (
        "line 1, column 173: the query is nested too deeply: expressions and"
        f" subqueries nest at most 20 levels\n{text}\n" + " " * 172 + "^"
    )


def test_thirty_thousand_lets_are_an_invalid_query(gateway: RunningGateway) -> None:
    text = "".join(f"let x{i} = {i};" for i in range(30_000)) + f"{GW} | count"

    message = assert_error(query(gateway, text), 400, "InvalidQuery")

    assert message == "the query is 547812 characters long; the limit is 65536"
