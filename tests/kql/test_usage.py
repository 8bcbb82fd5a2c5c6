"""Usage per subscription and per deployment, from real traffic, by KQL.

Three subscriptions call two deployments through the gateway (the in-process
mock answers with usage); the join of the two log tables on CorrelationId
must add up to the usage each client was told, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from tests.postgres_schema import temporary_schema
from tests.support import RunningGateway
from tollhouse.config import DeploymentConfig, StoreConfig, embedded_default
from tollhouse.errors import StoreError
from tollhouse.kql.run import (
    PostgresQueryEngine,
    QueryLimits,
    SqliteQueryEngine,
    run_query,
)

DEPLOYMENTS = ("gpt-4o-deployment", "gpt-4o-mini-deployment")
SUBSCRIPTIONS = ("team-search", "team-chat", "team-ops")
# (subscription, deployment, prompt) of every call, in order.
CALLS = [
    (SUBSCRIPTIONS[i % 3], DEPLOYMENTS[i % 2], "질문 " + "word " * (i * 3 % 17))
    for i in range(24)
]

BY_SUBSCRIPTION_AND_DEPLOYMENT = """
ApiManagementGatewayLogs
| where TimeGenerated > ago(1h) and ResponseCode == 200
| join kind=inner (
    ApiManagementGatewayLlmLog
    | where SequenceNumber == 0
) on CorrelationId
| summarize Requests = count(),
            PromptTokens = sum(tolong(PromptTokens)),
            CompletionTokens = sum(tolong(CompletionTokens)),
            TotalTokens = sum(tolong(TotalTokens))
    by ApimSubscriptionId, DeploymentName
| order by ApimSubscriptionId asc, DeploymentName asc
"""

BY_SUBSCRIPTION = """
ApiManagementGatewayLlmLog
| where SequenceNumber == 0
| join kind=leftouter (
    ApiManagementGatewayLogs | project CorrelationId, ApimSubscriptionId
) on CorrelationId
| summarize TotalTokens = sum(TotalTokens) by ApimSubscriptionId
| top 10 by TotalTokens
"""

Usage = dict[tuple[str, str], list[int]]


@dataclasses.dataclass
class Traffic:
    engine: SqliteQueryEngine | PostgresQueryEngine
    usage: Usage  # (subscription, deployment) -> [requests, prompt, completion, total]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def traffic(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Traffic]:
    with ExitStack() as stack:
        config = embedded_default(str(tmp_path_factory.mktemp("usage") / "data"))
        api = dataclasses.replace(
            config.apis["azure-openai"],
            deployments={name: DeploymentConfig() for name in DEPLOYMENTS},
        )
        config = dataclasses.replace(config, apis={"azure-openai": api})
        dsn = None
        if request.param == "postgres":
            dsn = stack.enter_context(temporary_schema("usage"))
            config = dataclasses.replace(
                config, store=StoreConfig(kind="postgres", dsn=dsn)
            )
        gateway = stack.enter_context(RunningGateway(config))
        usage = _send(gateway)
        engine: SqliteQueryEngine | PostgresQueryEngine
        if dsn is not None:
            engine = PostgresQueryEngine(dsn)
        else:
            engine = SqliteQueryEngine(config.database_path)
        _wait_until_logged(engine, len(CALLS))
        yield Traffic(engine, usage)


def _send(gateway: RunningGateway) -> Usage:
    store = gateway.gateway._subscriptions
    assert store is not None
    keys = {}
    for name in SUBSCRIPTIONS:
        store.create(name, name.title(), "/apis")
        keys[name] = store.key(name)
    gateway.gateway._reload_keys(gateway.gateway.runtime.keys)

    usage: Usage = {}
    for subscription, deployment, prompt in CALLS:
        response = requests.post(
            f"{gateway.url}/openai/deployments/{deployment}/chat/completions"
            "?api-version=2024-10-21",
            json={"messages": [{"role": "user", "content": prompt}]},
            headers={"api-key": keys[subscription]},
            timeout=10,
        )
        assert response.status_code == 200
        told = response.json()["usage"]
        counts = usage.setdefault((subscription, deployment), [0, 0, 0, 0])
        counts[0] += 1
        counts[1] += told["prompt_tokens"]
        counts[2] += told["completion_tokens"]
        counts[3] += told["total_tokens"]
    return usage


def _wait_until_logged(engine: SqliteQueryEngine | PostgresQueryEngine, n: int) -> None:
    query = "ApiManagementGatewayLlmLog | where SequenceNumber == 0 | count"
    deadline = time.monotonic() + 15
    while True:
        try:
            if run_query(engine, query, QueryLimits()).rows == [[n]]:
                return
        except StoreError:
            pass  # PostgreSQL: the writer has not made the tables yet
        assert time.monotonic() < deadline, "the log rows did not arrive"
        time.sleep(0.05)


def test_usage_per_subscription_and_deployment_is_what_was_sent(
    traffic: Traffic,
) -> None:
    result = run_query(
        traffic.engine,
        BY_SUBSCRIPTION_AND_DEPLOYMENT,
        QueryLimits(),
        now=datetime.now(UTC),
    )

    assert [(c.name, c.type) for c in result.columns] == [
        ("ApimSubscriptionId", "string"),
        ("DeploymentName", "string"),
        ("Requests", "long"),
        ("PromptTokens", "long"),
        ("CompletionTokens", "long"),
        ("TotalTokens", "long"),
    ]
    expected = [[*key, *counts] for key, counts in sorted(traffic.usage.items())]
    assert result.rows == expected
    assert len(expected) == 6 and sum(row[2] for row in expected) == len(CALLS)


def test_usage_per_subscription_through_a_left_outer_join(traffic: Traffic) -> None:
    result = run_query(traffic.engine, BY_SUBSCRIPTION, QueryLimits())

    totals: Counter[str] = Counter()
    for (subscription, _), counts in traffic.usage.items():
        totals[subscription] += counts[3]
    assert sorted(map(tuple, result.rows)) == sorted(totals.items())
    assert [row[1] for row in result.rows] == sorted(totals.values(), reverse=True)


def test_the_log_file_is_where_the_config_says(tmp_path: Path) -> None:
    # The SQLite engine reads only an existing file: a typo is an error, not
    # an empty result from a new database.
    with pytest.raises(StoreError, match="no log database at .*tollhouse.db"):
        run_query(
            SqliteQueryEngine(tmp_path / "tollhouse.db"),
            "ApiManagementGatewayLogs | count",
            QueryLimits(),
        )
