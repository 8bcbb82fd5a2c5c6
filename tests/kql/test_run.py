"""The query runner and its engines, on real SQLite files and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.postgres_schema import temporary_schema
from tollhouse.errors import StoreError
from tollhouse.kql.errors import QueryError, QueryLimitExceeded
from tollhouse.kql.run import (
    PostgresQueryEngine,
    QueryEngine,
    QueryLimits,
    SqliteQueryEngine,
    run_query,
)
from tollhouse.kql.tables import GATEWAY_LOGS, LLM_LOG
from tollhouse.store import postgres as postgres_store
from tollhouse.store import sqlite as sqlite_store
from tollhouse.store.schema import utc_timestamp

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
ROWS = 3000  # enough for a join of the table with itself to take seconds

# Counts to a billion: far longer than any time limit below.
ENDLESS_SQL = (
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r"
    " WHERE n < 1000000000) SELECT count(*) FROM r"
)
WRITES = [
    "INSERT INTO ApiManagementGatewayLogs (TimeGenerated, CorrelationId)"
    " VALUES ('2026-12-03T00:00:00.000000Z', 'x')",
    "DELETE FROM ApiManagementGatewayLogs",
    "UPDATE ApiManagementGatewayLogs SET Url = 'x'",
    "CREATE TABLE intruder (x integer)",
    "DROP TABLE ApiManagementGatewayLogs",
]


def gateway_rows() -> list[dict[str, Any]]:
    return [
        {
            "TimeGenerated": utc_timestamp(NOW - timedelta(seconds=n)),
            "CorrelationId": f"req-{n:05d}",
            "Method": "POST",
            "ResponseCode": 200 if n % 10 else 429,
            "ApimSubscriptionId": f"sub-{n % 3}",
        }
        for n in range(ROWS)
    ]


def llm_rows() -> list[dict[str, Any]]:
    return [
        {
            "TimeGenerated": utc_timestamp(NOW - timedelta(seconds=n)),
            "CorrelationId": f"req-{n:05d}",
            "SequenceNumber": 0,
            "TotalTokens": 10,
        }
        for n in range(ROWS)
    ]


@pytest.fixture(scope="module")
def sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("run") / "tollhouse.db"
    conn = sqlite_store.connect(path)
    for table, columns, rows in (
        (GATEWAY_LOGS, GATEWAY_LOGS.columns, gateway_rows()),
        (LLM_LOG, LLM_LOG.columns, llm_rows()),
    ):
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        conn.executemany(
            f"INSERT INTO {table.name} ({names}) VALUES ({marks})",
            [tuple(map(row.get, columns)) for row in rows],
        )
    conn.commit()
    conn.close()
    return path


@pytest.fixture(scope="module")
def postgres_dsn() -> Iterator[str]:
    with temporary_schema("run_test") as dsn:
        conn = postgres_store.connect(dsn)
        with conn.transaction():
            postgres_store.copy_rows(conn, GATEWAY_LOGS, gateway_rows())
            postgres_store.copy_rows(conn, LLM_LOG, llm_rows())
        conn.close()
        yield dsn


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> Iterator[QueryEngine]:
    chosen: QueryEngine
    if request.param == "sqlite":
        chosen = SqliteQueryEngine(request.getfixturevalue("sqlite_file"))
    else:
        chosen = PostgresQueryEngine(request.getfixturevalue("postgres_dsn"))
    yield chosen
    chosen.close()


def quoted(engine: QueryEngine, sql: str) -> str:
    """``sql`` with the log tables' and columns' names quoted for PostgreSQL."""
    if engine.dialect == "sqlite":
        return sql
    for name in (
        "ApiManagementGatewayLogs",
        "TimeGenerated",
        "CorrelationId",
        "Url",
    ):
        sql = sql.replace(name, f'"{name}"')
    return sql


# Engines ------------------------------------------------------------------


def test_fetch_returns_at_most_limit_rows(engine: QueryEngine) -> None:
    sql = quoted(engine, "SELECT CorrelationId FROM ApiManagementGatewayLogs")

    rows = engine.fetch(sql, [], limit=7, timeout=5)

    assert len(rows) == 7


def test_fetch_binds_parameters(engine: QueryEngine) -> None:
    mark = "?" if engine.dialect == "sqlite" else "%s"
    sql = quoted(
        engine,
        f"SELECT count(*) FROM ApiManagementGatewayLogs WHERE CorrelationId = {mark}",
    )

    assert [
        tuple(row) for row in engine.fetch(sql, ["req-00001"], limit=2, timeout=5)
    ] == [(1,)]
    assert [
        tuple(row) for row in engine.fetch(sql, ["' OR 1=1 --"], limit=2, timeout=5)
    ] == [(0,)]


@pytest.mark.parametrize("sql", WRITES, ids=lambda s: s.split()[0])
def test_an_engine_cannot_write(engine: QueryEngine, sql: str) -> None:
    with pytest.raises(StoreError):
        engine.fetch(quoted(engine, sql), [], limit=1, timeout=5)

    count = engine.fetch(
        quoted(engine, "SELECT count(*), max(Url) FROM ApiManagementGatewayLogs"),
        [],
        limit=1,
        timeout=5,
    )
    assert tuple(count[0]) == (ROWS, None)


@pytest.mark.parametrize(
    "sql",
    [
        "COMMIT; DELETE FROM ApiManagementGatewayLogs",
        "SELECT 1; DELETE FROM ApiManagementGatewayLogs",
    ],
)
def test_an_engine_runs_one_statement_only(engine: QueryEngine, sql: str) -> None:
    with pytest.raises(StoreError):
        engine.fetch(quoted(engine, sql), [], limit=1, timeout=5)

    count = engine.fetch(
        quoted(engine, "SELECT count(*) FROM ApiManagementGatewayLogs"),
        [],
        limit=1,
        timeout=5,
    )
    assert tuple(count[0]) == (ROWS,)


def test_a_slow_query_stops_at_the_time_limit(engine: QueryEngine) -> None:
    started = time.monotonic()

    with pytest.raises(QueryLimitExceeded) as caught:
        engine.fetch(ENDLESS_SQL, [], limit=1, timeout=0.3)

    assert time.monotonic() - started < 2
    assert caught.value.message == "Query exceeded the time limit of 0.3 s."
    # The engine is still usable afterwards.
    assert tuple(engine.fetch("SELECT 1", [], limit=1, timeout=5)[0]) == (1,)


def test_a_failing_statement_is_a_store_error(engine: QueryEngine) -> None:
    with pytest.raises(StoreError, match="the query failed"):
        engine.fetch("SELECT * FROM no_such_table", [], limit=1, timeout=5)


def test_sqlite_engine_needs_an_existing_file(tmp_path: Path) -> None:
    engine = SqliteQueryEngine(tmp_path / "missing.db")

    with pytest.raises(StoreError, match="no log database"):
        engine.fetch("SELECT 1", [], limit=1, timeout=5)

    assert not (tmp_path / "missing.db").exists()


def test_sqlite_engine_reads_while_the_gateway_writes(tmp_path: Path) -> None:
    path = tmp_path / "tollhouse.db"
    writer = sqlite_store.connect(path)  # WAL mode, as the gateway has it
    writer.execute(
        "INSERT INTO ApiManagementGatewayLogs (TimeGenerated, CorrelationId)"
        " VALUES ('2026-12-03T00:00:00.000000Z', 'a')"
    )
    writer.commit()
    writer.execute("BEGIN IMMEDIATE")  # a write in progress
    writer.execute(
        "INSERT INTO ApiManagementGatewayLogs (TimeGenerated, CorrelationId)"
        " VALUES ('2026-12-03T00:00:01.000000Z', 'b')"
    )

    engine = SqliteQueryEngine(path)
    try:
        during = engine.fetch(
            "SELECT count(*) FROM ApiManagementGatewayLogs", [], limit=1, timeout=5
        )
        writer.commit()
        after = engine.fetch(
            "SELECT count(*) FROM ApiManagementGatewayLogs", [], limit=1, timeout=5
        )
    finally:
        writer.close()

    assert (during[0][0], after[0][0]) == (1, 2)


def test_sqlite_engine_reads_a_closed_wal_database(tmp_path: Path) -> None:
    path = tmp_path / "tollhouse.db"
    sqlite_store.connect(path).close()  # WAL mode; closing removes the -wal file
    assert not Path(f"{path}-wal").exists()

    rows = SqliteQueryEngine(path).fetch(
        "SELECT count(*) FROM ApiManagementGatewayLlmLogs", [], limit=1, timeout=5
    )

    assert rows[0][0] == 0


def test_sqlite_engine_connections_are_query_only(sqlite_file: Path) -> None:
    rows = SqliteQueryEngine(sqlite_file).fetch(
        "SELECT * FROM pragma_query_only", [], limit=1, timeout=5
    )

    assert rows[0][0] == 1


def test_postgres_sessions_are_read_only_and_in_utc(postgres_dsn: str) -> None:
    engine = PostgresQueryEngine(postgres_dsn)
    try:
        rows = engine.fetch(
            "SELECT current_setting('transaction_read_only'),"
            " current_setting('TimeZone'), current_setting('statement_timeout')",
            [],
            limit=1,
            timeout=2.5,
        )
    finally:
        engine.close()

    assert tuple(rows[0]) == ("on", "UTC", "2500ms")


def test_postgres_engine_reuses_its_connections(postgres_dsn: str) -> None:
    engine = PostgresQueryEngine(postgres_dsn, keep=1)
    try:
        first = engine.fetch("SELECT pg_backend_pid()", [], limit=1, timeout=5)
        second = engine.fetch("SELECT pg_backend_pid()", [], limit=1, timeout=5)
    finally:
        engine.close()

    assert first == second


def test_an_unreachable_postgres_is_a_store_error() -> None:
    engine = PostgresQueryEngine("host=127.0.0.1 port=1 connect_timeout=2")

    with pytest.raises(StoreError, match="cannot connect to PostgreSQL"):
        engine.fetch("SELECT 1", [], limit=1, timeout=5)


# run_query ----------------------------------------------------------------


def test_run_query_returns_typed_columns_and_rows(engine: QueryEngine) -> None:
    result = run_query(
        engine,
        "ApiManagementGatewayLogs | where ResponseCode == 429"
        " | summarize Requests = count() by ApimSubscriptionId"
        " | order by ApimSubscriptionId asc",
        QueryLimits(),
        now=NOW,
    )

    assert [(c.name, c.type) for c in result.columns] == [
        ("ApimSubscriptionId", "string"),
        ("Requests", "long"),
    ]
    assert result.rows == [["sub-0", 100], ["sub-1", 100], ["sub-2", 100]]
    assert result.truncated is False
    assert result.render is None
    assert result.elapsed > 0


def test_run_query_counts_from_now(engine: QueryEngine) -> None:
    result = run_query(
        engine,
        "ApiManagementGatewayLlmLog | where TimeGenerated > ago(10s) | count",
        QueryLimits(),
        now=NOW,
    )

    assert result.rows == [[10]]


@pytest.mark.parametrize(
    ("query", "max_rows", "expected_rows", "truncated"),
    [
        ("ApiManagementGatewayLogs", 10, 10, True),
        ("ApiManagementGatewayLogs | take 3000", 3000, 3000, False),
        ("ApiManagementGatewayLogs | take 2999", 3000, 2999, False),
        ("ApiManagementGatewayLogs | take 5", 10, 5, False),
        ("ApiManagementGatewayLogs | take 50", 10, 10, True),
        ("ApiManagementGatewayLogs | summarize count() by ResponseCode", 1, 1, True),
    ],
)
def test_run_query_cuts_at_the_row_cap(
    engine: QueryEngine, query: str, max_rows: int, expected_rows: int, truncated: bool
) -> None:
    result = run_query(engine, query, QueryLimits(max_rows=max_rows), now=NOW)

    assert len(result.rows) == expected_rows
    assert result.truncated is truncated


def test_run_query_stops_at_the_time_limit(engine: QueryEngine) -> None:
    slow = (
        "ApiManagementGatewayLogs"
        " | join kind=inner (ApiManagementGatewayLogs) on Method | count"
    )

    with pytest.raises(QueryLimitExceeded, match="time limit of 0.05 s"):
        run_query(engine, slow, QueryLimits(timeout=0.05), now=NOW)


def test_run_query_reports_errors_before_running(engine: QueryEngine) -> None:
    class Refusing:
        dialect = engine.dialect

        def fetch(self, *args: object, **kwargs: object) -> list[Any]:
            raise AssertionError("a query that does not compile must not run")

        def close(self) -> None:
            pass

    with pytest.raises(QueryError):
        run_query(Refusing(), "NoSuchTable | take 1", QueryLimits(), now=NOW)


def test_sqlite_engine_has_the_compilers_functions(sqlite_file: Path) -> None:
    result = run_query(
        SqliteQueryEngine(sqlite_file),
        'ApiManagementGatewayLogs | where CorrelationId matches regex "^req-0000[0-2]$"'
        " | count",
        QueryLimits(),
        now=NOW,
    )

    assert result.rows == [[3]]


# Regular expressions within the time limit --------------------------------

#: The row the catastrophic regex was found on.
REPORTED_URL = "/openai/" + "a" * 28 + "!"
REPORTED_QUERY = 'ApiManagementGatewayLogs | where Url matches regex "(a+)+$" | count'


def regex_rows() -> list[dict[str, Any]]:
    urls = {
        "reported": REPORTED_URL,
        "chat": "/openai/deployments/gpt-4o/chat/completions",
    }
    return [
        {
            "TimeGenerated": utc_timestamp(NOW),
            "CorrelationId": correlation_id,
            "Url": url,
        }
        for correlation_id, url in urls.items()
    ]


@pytest.fixture(scope="module")
def regex_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("regex") / "tollhouse.db"
    conn = sqlite_store.connect(path)
    columns = GATEWAY_LOGS.columns
    conn.executemany(
        f"INSERT INTO {GATEWAY_LOGS.name} ({', '.join(columns)})"
        f" VALUES ({', '.join('?' for _ in columns)})",
        [tuple(map(row.get, columns)) for row in regex_rows()],
    )
    conn.commit()
    conn.close()
    return path


@pytest.fixture(scope="module")
def regex_postgres_dsn() -> Iterator[str]:
    with temporary_schema("run_regex") as dsn:
        conn = postgres_store.connect(dsn)
        with conn.transaction():
            postgres_store.copy_rows(conn, GATEWAY_LOGS, regex_rows())
        conn.close()
        yield dsn


@pytest.fixture(params=["sqlite", "postgres"])
def regex_engine(request: pytest.FixtureRequest) -> Iterator[QueryEngine]:
    chosen: QueryEngine
    if request.param == "sqlite":
        chosen = SqliteQueryEngine(request.getfixturevalue("regex_sqlite_file"))
    else:
        chosen = PostgresQueryEngine(request.getfixturevalue("regex_postgres_dsn"))
    yield chosen
    chosen.close()


def test_the_reported_regex_answers(regex_engine: QueryEngine) -> None:
    result = run_query(regex_engine, REPORTED_QUERY, QueryLimits(timeout=0.5), NOW)

    assert result.rows == [[0]]


@pytest.mark.parametrize(
    ("query", "found"),
    [
        (
            'ApiManagementGatewayLogs | where Url matches regex "^/openai/a+!$"'
            " | project CorrelationId",
            "reported",
        ),
        (
            'ApiManagementGatewayLogs | project d = extract("ts/([^/]+)/", 1, Url)'
            " | where isnotempty(d)",
            "gpt-4o",
        ),
        (
            "ApiManagementGatewayLogs | where Url has 'gpt' | project CorrelationId",
            "chat",
        ),
    ],
    ids=["matches", "extract", "has"],
)
def test_regex_queries_find_their_rows(
    regex_engine: QueryEngine, query: str, found: str
) -> None:
    result = run_query(regex_engine, query, QueryLimits(timeout=5), NOW)

    assert result.rows == [[found]]


@pytest.mark.parametrize(
    "query",
    [
        'ApiManagementGatewayLogs | where Url matches regex "(a|a)+$" | count',
        'ApiManagementGatewayLogs | project x = extract("((a|a)+)$", 1, Url)',
    ],
    ids=["matches", "extract"],
)
def test_a_backtracking_regex_stops_at_the_time_limit_on_sqlite(
    regex_sqlite_file: Path, query: str
) -> None:
    engine = SqliteQueryEngine(regex_sqlite_file)

    with pytest.raises(QueryLimitExceeded) as caught:
        run_query(engine, query, QueryLimits(timeout=0.5), NOW)

    assert caught.value.message == "Query exceeded the time limit of 0.5 s."


def test_postgresql_does_not_backtrack(regex_postgres_dsn: str) -> None:
    engine = PostgresQueryEngine(regex_postgres_dsn)
    query = 'ApiManagementGatewayLogs | where Url matches regex "(a|a)+$" | count'
    try:
        result = run_query(engine, query, QueryLimits(timeout=0.5), NOW)
    finally:
        engine.close()

    assert result.rows == [[0]]


# Statements too complex for the store -------------------------------------

TOO_COMPLEX = (
    "the query is too complex for the store ({}): nest fewer expressions, or"
    " use fewer operators, joins or unions"
)


@pytest.mark.parametrize(
    ("dialect", "sql", "reason"),
    [
        (
            "sqlite",
            "SELECT 1" + " AND 1" * 1100,
            "Expression tree is too large (maximum depth 1000)",
        ),
        (
            "sqlite",
            "SELECT 1" + " UNION ALL SELECT 1" * 600,
            "too many terms in compound SELECT",
        ),
        (
            "postgres",
            "SELECT " + ", ".join(["1"] * 1700),
            "target lists can have at most 1664 entries",
        ),
        (
            "postgres",
            "SELECT 'a' ~ '(a{255}){255}'",
            "invalid regular expression: regular expression is too complex",
        ),
    ],
)
def test_a_statement_too_complex_for_the_store_is_a_query_error(
    request: pytest.FixtureRequest, dialect: str, sql: str, reason: str
) -> None:
    engine: QueryEngine
    if dialect == "sqlite":
        engine = SqliteQueryEngine(request.getfixturevalue("sqlite_file"))
    else:
        engine = PostgresQueryEngine(request.getfixturevalue("postgres_dsn"))

    try:
        with pytest.raises(QueryError) as caught:
            engine.fetch(sql, [], limit=1, timeout=5)
    finally:
        engine.close()

    assert type(caught.value) is QueryError
    assert str(caught.value) == TOO_COMPLEX.format(reason)
