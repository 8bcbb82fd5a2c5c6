"""The PostgreSQL store against the real server: schema, conversion, sink."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.postgres_schema import temporary_schema
from tests.support import RunningGateway, default_config
from tollhouse.config import QueryConfig, StoreConfig, load_config
from tollhouse.errors import ConfigError, StoreError
from tollhouse.kql.tables import GATEWAY_LOGS, LLM_LOG
from tollhouse.store import MIGRATIONS as SQLITE_MIGRATIONS
from tollhouse.store import LogRecord, LogWriter, postgres, utc_timestamp
from tollhouse.store.postgres import (
    COLUMN_TYPES,
    PostgresSink,
    connect,
    convert_row,
    copy_rows,
    insert_rows,
    migrate,
)

Connection = psycopg.Connection[tuple[Any, ...]]

# information_schema's names for the types in COLUMN_TYPES.
REPORTED_TYPES = {
    "text": "text",
    "bigint": "bigint",
    "integer": "integer",
    "double precision": "double precision",
    "boolean": "boolean",
    "timestamptz": "timestamp with time zone",
    "jsonb": "jsonb",
}


@pytest.fixture
def dsn() -> Iterator[str]:
    with temporary_schema("store_test") as schema_dsn:
        yield schema_dsn


@pytest.fixture
def conn(dsn: str) -> Iterator[Connection]:
    connection = connect(dsn)
    yield connection
    connection.close()


def columns(conn: Connection, table: str) -> list[tuple[str, str, str]]:
    rows = conn.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = %s"
        " ORDER BY ordinal_position",
        (table,),
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def indexes(conn: Connection, table: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes"
        " WHERE schemaname = current_schema() AND tablename = %s",
        (table,),
    )
    return {name: definition.split(" USING btree ")[1] for name, definition in rows}


def usage_record(number: int, **gateway: object) -> LogRecord:
    correlation_id = f"req-{number:05d}"
    row: dict[str, Any] = {
        "TimeGenerated": "2026-12-03T17:47:24.123456Z",
        "CorrelationId": correlation_id,
        "ResponseCode": 200,
        "RequestHeaders": '{"content-type": "application/json"}',
        "IsRequestSuccess": 1,
        "TotalTime": 12.5,
        **gateway,
    }
    llm = [
        {
            "TimeGenerated": row["TimeGenerated"],
            "CorrelationId": correlation_id,
            "SequenceNumber": 0,
            "PromptTokens": 3,
            "TotalTokens": 5,
        }
    ]
    return LogRecord(row, llm)


# Schema -------------------------------------------------------------------


def test_migrations_keep_in_step_with_sqlite() -> None:
    assert [(m.version, m.name) for m in postgres.MIGRATIONS] == [
        (m.version, m.name) for m in SQLITE_MIGRATIONS
    ]


def test_connect_applies_and_records_migrations(conn: Connection) -> None:
    rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY 1")

    assert [tuple(row) for row in rows] == [
        (m.version, m.name) for m in SQLITE_MIGRATIONS
    ]
    assert migrate(conn) == []


@pytest.mark.parametrize("table", [GATEWAY_LOGS, LLM_LOG], ids=lambda t: t.name)
def test_log_tables_have_the_kql_types(conn: Connection, table: Any) -> None:
    not_null = {"TimeGenerated", "CorrelationId", "SequenceNumber"}
    expected = [
        (
            name,
            REPORTED_TYPES[COLUMN_TYPES[kql_type]],
            "NO" if name in not_null else "YES",
        )
        for name, kql_type in table.columns.items()
    ]

    assert columns(conn, table.name) == expected


def test_column_types_are_pinned(conn: Connection) -> None:
    found = {name: kind for name, kind, _ in columns(conn, GATEWAY_LOGS.name)}

    assert found["TimeGenerated"] == "timestamp with time zone"
    assert found["ResponseCode"] == "integer"
    assert found["ResponseSize"] == "bigint"
    assert found["TotalTime"] == "double precision"
    assert found["IsRequestSuccess"] == "boolean"
    assert found["RequestHeaders"] == "jsonb"
    assert found["Url"] == "text"


def test_indexes_are_pinned(conn: Connection) -> None:
    assert indexes(conn, GATEWAY_LOGS.name) == {
        "ApiManagementGatewayLogs_CorrelationId_key": '("CorrelationId")',
        "ix_gateway_logs_time": '("TimeGenerated")',
        "ix_gateway_logs_subscription_time": (
            '("ApimSubscriptionId", "TimeGenerated")'
        ),
    }
    assert indexes(conn, LLM_LOG.name) == {
        "ApiManagementGatewayLlmLog_CorrelationId_SequenceNumber_key": (
            '("CorrelationId", "SequenceNumber")'
        ),
        "ix_llm_log_time_usage": '("TimeGenerated") INCLUDE ("SequenceNumber",'
        ' "PromptTokens", "CompletionTokens", "TotalTokens")',
    }


def test_every_table_is_accounted_for(conn: Connection) -> None:
    rows = conn.execute(
        "SELECT table_type, table_name FROM information_schema.tables"
        " WHERE table_schema = current_schema() ORDER BY table_name"
    )

    assert [tuple(row) for row in rows] == [
        ("BASE TABLE", "ApiManagementGatewayLlmLog"),
        ("VIEW", "ApiManagementGatewayLlmLogs"),
        ("BASE TABLE", "ApiManagementGatewayLogs"),
        ("BASE TABLE", "meta"),
        ("BASE TABLE", "schema_migrations"),
        ("BASE TABLE", "subscriptions"),
    ]


def test_settings_tables_are_sqlites(conn: Connection) -> None:
    assert [name for name, _, _ in columns(conn, "subscriptions")] == [
        "id",
        "display_name",
        "scope",
        "state",
        "primary_hash",
        "secondary_hash",
        "primary_nonce",
        "secondary_nonce",
        "created_at",
        "updated_at",
    ]
    assert columns(conn, "meta") == [("key", "text", "NO"), ("value", "text", "NO")]


def test_the_view_shows_the_llm_log(conn: Connection) -> None:
    insert_rows(conn, LLM_LOG, usage_record(1).llm)

    row = conn.execute(
        'SELECT "CorrelationId", "TotalTokens" FROM "ApiManagementGatewayLlmLogs"'
    ).fetchone()

    assert row == ("req-00001", 5)


def test_two_connections_migrate_once(dsn: str) -> None:
    opened: list[Connection] = []
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            opened.append(connect(dsn))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    versions = opened[0].execute("SELECT version FROM schema_migrations").fetchall()
    for connection in opened:
        connection.close()

    assert errors == []
    assert sorted(row[0] for row in versions) == [1, 2, 3]


def test_connect_failure_is_a_store_error_without_the_password() -> None:
    with pytest.raises(StoreError) as caught:
        connect("host=127.0.0.1 port=1 user=nobody password=hunter2 connect_timeout=2")

    assert "cannot open the store" in str(caught.value)
    assert "hunter2" not in str(caught.value)


# Rows ---------------------------------------------------------------------


def test_insert_rows_converts_what_the_sqlite_sink_takes(conn: Connection) -> None:
    record = usage_record(
        1,
        ResponseHeaders="not json {",
        Errors='[{"Source": "forward-request"}]',
        ClientDisconnected=0,
        ResponseSize="1234",
        BackendTime=3,
    )

    insert_rows(conn, GATEWAY_LOGS, [record.gateway])
    row = conn.execute(
        'SELECT "TimeGenerated", "RequestHeaders", "ResponseHeaders", "Errors",'
        ' "IsRequestSuccess", "ClientDisconnected", "ResponseSize", "BackendTime",'
        ' "Method" FROM "ApiManagementGatewayLogs"'
    ).fetchone()

    assert row == (
        datetime(2026, 12, 3, 17, 47, 24, 123456, tzinfo=UTC),
        {"content-type": "application/json"},
        "not json {",
        [{"Source": "forward-request"}],
        True,
        False,
        1234,
        3.0,
        None,
    )


def test_a_cut_json_piece_is_stored_as_a_json_string(conn: Connection) -> None:
    piece = '[{"role": "user", "content": "안녕하세'
    rows = [{**usage_record(1).llm[0], "SequenceNumber": 1, "RequestMessages": piece}]

    insert_rows(conn, LLM_LOG, rows)
    stored = conn.execute(
        'SELECT "RequestMessages", jsonb_typeof("RequestMessages")'
        ' FROM "ApiManagementGatewayLlmLog"'
    ).fetchone()

    assert stored == (piece, "string")


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("Url", "a\x00b", "a\ufffdb"),
        ("RequestHeaders", '{"x": "a\\u0000b"}', {"x": "a\ufffdb"}),
        ("RequestHeaders", "cut \x00", "cut \ufffd"),
        ("ResponseSize", 2**63, None),
        ("ResponseSize", "12abc", None),
        ("ResponseSize", 7.0, 7),
        ("ResponseSize", 7.5, None),
        ("ResponseCode", 2**31, None),
        ("TotalTime", float("nan"), None),
        ("TotalTime", "2.5", 2.5),
        ("IsRequestSuccess", "true", True),
        ("CallerIpAddress", 12, "12"),
    ],
)
def test_values_postgresql_cannot_hold_are_adapted(
    conn: Connection, column: str, value: object, expected: object
) -> None:
    insert_rows(conn, GATEWAY_LOGS, [{**usage_record(1).gateway, column: value}])

    row = conn.execute(
        f'SELECT "{column}" FROM "ApiManagementGatewayLogs"'  # type: ignore[arg-type]
    ).fetchone()

    assert row == (expected,)


def test_insert_rows_ignores_rows_already_stored(conn: Connection) -> None:
    record = usage_record(1)

    for _ in range(2):
        insert_rows(conn, GATEWAY_LOGS, [record.gateway])
        insert_rows(conn, LLM_LOG, record.llm)
    counts = conn.execute(
        'SELECT (SELECT count(*) FROM "ApiManagementGatewayLogs"),'
        ' (SELECT count(*) FROM "ApiManagementGatewayLlmLog")'
    ).fetchone()

    assert counts == (1, 1)


def test_copy_rows_loads_in_bulk(conn: Connection) -> None:
    records = [usage_record(n) for n in range(50)]

    with conn.transaction():
        loaded = copy_rows(conn, GATEWAY_LOGS, [r.gateway for r in records])
    total = conn.execute(
        'SELECT count(*), bool_and("IsRequestSuccess") FROM "ApiManagementGatewayLogs"'
    ).fetchone()

    assert loaded == 50
    assert total == (50, True)


def test_convert_row_orders_values_as_the_table() -> None:
    values = convert_row(LLM_LOG, {"TotalTokens": "5", "CorrelationId": "c"})

    assert len(values) == len(LLM_LOG.columns)
    assert values[1] == "c"
    assert values[list(LLM_LOG.columns).index("TotalTokens")] == 5
    assert values[0] is None


# The sink -----------------------------------------------------------------


def test_the_writer_logs_to_postgresql(dsn: str, tmp_path: Path) -> None:
    writer = LogWriter(PostgresSink(dsn), spool_path=tmp_path / "spool.jsonl")
    writer.start()
    for number in range(20):
        writer.submit(usage_record(number, TimeGenerated=utc_timestamp()))
    writer.close()

    with psycopg.connect(dsn) as reader:
        counts = reader.execute(
            'SELECT (SELECT count(*) FROM "ApiManagementGatewayLogs"),'
            ' (SELECT sum("TotalTokens") FROM "ApiManagementGatewayLlmLog")'
        ).fetchone()

    assert writer.stats.written == 20
    assert counts == (20, 100)


def test_a_record_postgresql_refuses_is_cleaned_by_the_writer(
    dsn: str, tmp_path: Path
) -> None:
    writer = LogWriter(PostgresSink(dsn), spool_path=tmp_path / "spool.jsonl")
    writer.start()
    writer.submit(usage_record(1, Url="half a pair \ud800"))
    writer.submit(usage_record(2))
    writer.close()

    with psycopg.connect(dsn) as reader:
        urls = reader.execute(
            'SELECT "Url" FROM "ApiManagementGatewayLogs" ORDER BY "CorrelationId"'
        ).fetchall()

    assert urls == [("half a pair ?",), (None,)]
    assert writer.stats.dropped == 0


def test_an_unreachable_database_is_a_store_error() -> None:
    sink = PostgresSink("host=127.0.0.1 port=1 user=postgres connect_timeout=2")

    with pytest.raises(StoreError, match="cannot open the store"):
        sink.write_batch([usage_record(1)])
    sink.close()


# Configuration ------------------------------------------------------------


def test_the_postgres_store_needs_a_dsn(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("store:\n  kind: postgres\n", encoding="utf-8")

    with pytest.raises(ConfigError, match="store: `kind: postgres` needs `dsn`"):
        load_config(path)


def test_store_and_query_settings_load(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(
        "store: {kind: postgres, dsn: host=db dbname=logs}\n"
        "query: {max_rows: 500, timeout_seconds: 2}\n",
        encoding="utf-8",
    )

    config = load_config(path)

    assert config.store == StoreConfig(kind="postgres", dsn="host=db dbname=logs")
    assert config.query == QueryConfig(max_rows=500, timeout_seconds=2.0)


@pytest.mark.parametrize("setting", ["max_rows: 0", "timeout_seconds: -1"])
def test_query_limits_must_be_positive(tmp_path: Path, setting: str) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(f"query: {{{setting}}}\n", encoding="utf-8")

    with pytest.raises(ConfigError, match="must be greater than 0"):
        load_config(path)


def test_a_gateway_with_a_postgres_store_logs_there(dsn: str, tmp_path: Path) -> None:
    config = default_config(tmp_path / "data")
    config = dataclasses.replace(config, store=StoreConfig(kind="postgres", dsn=dsn))
    body = {"messages": [{"role": "user", "content": "안녕"}]}

    with RunningGateway(config) as gateway:
        response = gateway.post(
            "/openai/deployments/gpt-4o-deployment/chat/completions"
            "?api-version=2024-10-21",
            body,
        )
    with psycopg.connect(dsn) as reader:
        logged = reader.execute(
            'SELECT g."ResponseCode", l."TotalTokens", m."RequestMessages"'
            ' FROM "ApiManagementGatewayLogs" g'
            ' JOIN "ApiManagementGatewayLlmLog" l ON l."CorrelationId" ='
            ' g."CorrelationId" AND l."SequenceNumber" = 0'
            ' JOIN "ApiManagementGatewayLlmLog" m ON m."CorrelationId" ='
            ' g."CorrelationId" AND m."SequenceNumber" = 1'
        ).fetchall()

    usage = response.json()["usage"]
    assert logged == [(200, usage["total_tokens"], body["messages"])]
