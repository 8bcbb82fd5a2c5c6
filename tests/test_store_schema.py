"""The store's schema, pinned: a change here needs a new migration."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

import tollhouse.store
from tollhouse.errors import StoreError
from tollhouse.store import (
    GATEWAY_LOG_COLUMNS,
    LLM_LOG_COLUMNS,
    MIGRATIONS,
    connect,
    migrate,
    utc_timestamp,
)

GATEWAY_SCHEMA = [
    ("TimeGenerated", "TEXT", 1),
    ("CorrelationId", "TEXT", 1),
    ("Method", "TEXT", 0),
    ("Url", "TEXT", 0),
    ("CallerIpAddress", "TEXT", 0),
    ("ResponseCode", "INTEGER", 0),
    ("ResponseSize", "INTEGER", 0),
    ("RequestSize", "INTEGER", 0),
    ("RequestHeaders", "TEXT", 0),
    ("ResponseHeaders", "TEXT", 0),
    ("OperationName", "TEXT", 0),
    ("ApiId", "TEXT", 0),
    ("OperationId", "TEXT", 0),
    ("ProductId", "TEXT", 0),
    ("ApimSubscriptionId", "TEXT", 0),
    ("UserId", "TEXT", 0),
    ("BackendId", "TEXT", 0),
    ("BackendUrl", "TEXT", 0),
    ("BackendMethod", "TEXT", 0),
    ("BackendResponseCode", "INTEGER", 0),
    ("BackendTime", "REAL", 0),
    ("ClientTime", "REAL", 0),
    ("TotalTime", "REAL", 0),
    ("Cache", "TEXT", 0),
    ("ClientProtocol", "TEXT", 0),
    ("IsRequestSuccess", "INTEGER", 0),
    ("LastErrorSource", "TEXT", 0),
    ("LastErrorReason", "TEXT", 0),
    ("LastErrorMessage", "TEXT", 0),
    ("LastErrorSection", "TEXT", 0),
    ("LastErrorScope", "TEXT", 0),
    ("Errors", "TEXT", 0),
    ("Region", "TEXT", 0),
    ("RequestBody", "TEXT", 0),
    ("ResponseBody", "TEXT", 0),
    ("BackendRequestBody", "TEXT", 0),
    ("BackendResponseBody", "TEXT", 0),
    ("ApiVersion", "TEXT", 0),
    ("DeploymentName", "TEXT", 0),
    ("BackendRequestId", "TEXT", 0),
    ("BackendRegion", "TEXT", 0),
    ("SubscriptionKeySource", "TEXT", 0),
    ("ErrorKind", "TEXT", 0),
    ("ClientDisconnected", "INTEGER", 0),
    ("TimeToFirstByte", "REAL", 0),
]

LLM_SCHEMA = [
    ("TimeGenerated", "TEXT", 1),
    ("CorrelationId", "TEXT", 1),
    ("SequenceNumber", "INTEGER", 1),
    ("DeploymentName", "TEXT", 0),
    ("ModelName", "TEXT", 0),
    ("ApiVersion", "TEXT", 0),
    ("OperationName", "TEXT", 0),
    ("RequestId", "TEXT", 0),
    ("IsStreamCompletion", "INTEGER", 0),
    ("PromptTokens", "INTEGER", 0),
    ("CompletionTokens", "INTEGER", 0),
    ("TotalTokens", "INTEGER", 0),
    ("RequestMessages", "TEXT", 0),
    ("ResponseMessages", "TEXT", 0),
    ("Region", "TEXT", 0),
    ("ApiId", "TEXT", 0),
    ("OperationId", "TEXT", 0),
    ("ApimSubscriptionId", "TEXT", 0),
    ("BackendId", "TEXT", 0),
    ("TokenCountSource", "TEXT", 0),
    ("ReasoningTokens", "INTEGER", 0),
    ("CachedTokens", "INTEGER", 0),
    ("FinishReason", "TEXT", 0),
    ("PromptFilterResults", "TEXT", 0),
    ("ContentFilterResults", "TEXT", 0),
    ("ErrorKind", "TEXT", 0),
    ("ClientDisconnected", "INTEGER", 0),
    ("RequestMessagesTruncated", "INTEGER", 0),
    ("ResponseMessagesTruncated", "INTEGER", 0),
    ("EmbeddingInputCount", "INTEGER", 0),
    ("EmbeddingDimensions", "INTEGER", 0),
    ("EncodingFormat", "TEXT", 0),
]

SUBSCRIPTIONS_SCHEMA = [
    ("id", "TEXT", 0, 1),
    ("display_name", "TEXT", 1, 0),
    ("scope", "TEXT", 1, 0),
    ("state", "TEXT", 1, 0),
    ("primary_hash", "TEXT", 1, 0),
    ("secondary_hash", "TEXT", 1, 0),
    ("primary_nonce", "TEXT", 1, 0),
    ("secondary_nonce", "TEXT", 1, 0),
    ("created_at", "TEXT", 1, 0),
    ("updated_at", "TEXT", 1, 0),
]

META_SCHEMA = [("key", "TEXT", 0, 1), ("value", "TEXT", 1, 0)]

MIGRATIONS_SCHEMA = [
    ("version", "INTEGER", 0, 1),
    ("name", "TEXT", 0, 0),
    ("applied_at", "TEXT", 0, 0),
]


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = connect(tmp_path / "data" / "tollhouse.db")
    yield connection
    connection.close()


def columns(conn: sqlite3.Connection, table: str) -> list[tuple[str, str, int]]:
    rows = conn.execute(f"PRAGMA table_info({table})").fetchall()
    return [(row["name"], row["type"], row["notnull"]) for row in rows]


def columns_with_pk(
    conn: sqlite3.Connection, table: str
) -> list[tuple[str, str, int, int]]:
    rows = conn.execute(f"PRAGMA table_info({table})").fetchall()
    return [(row["name"], row["type"], row["notnull"], row["pk"]) for row in rows]


def indexes(conn: sqlite3.Connection, table: str) -> dict[str, tuple[bool, list[str]]]:
    """Index name -> (unique, columns)."""
    found = {}
    for index in conn.execute(f"PRAGMA index_list({table})").fetchall():
        info = conn.execute(f"PRAGMA index_info({index['name']})").fetchall()
        found[index["name"]] = (bool(index["unique"]), [row["name"] for row in info])
    return found


def test_migration_versions_are_pinned() -> None:
    assert [(m.version, m.name) for m in MIGRATIONS] == [
        (1, "log tables and settings tables"),
        (2, "token usage indexes on the LLM log"),
        (3, "parse_json function"),
    ]


def test_connect_applies_and_records_migrations(conn: sqlite3.Connection) -> None:
    rows = conn.execute("SELECT version, name, applied_at FROM schema_migrations")
    applied = [tuple(row) for row in rows]

    assert [(v, n) for v, n, _ in applied] == [
        (1, "log tables and settings tables"),
        (2, "token usage indexes on the LLM log"),
        (3, "parse_json function"),
    ]
    for _, _, applied_at in applied:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", applied_at)
    assert migrate(conn) == []


def test_migrate_returns_the_versions_it_applied(tmp_path: Path) -> None:
    raw = sqlite3.connect(tmp_path / "raw.db")
    try:
        assert migrate(raw) == [1, 2, 3]
        assert migrate(raw) == []
    finally:
        raw.close()


def test_gateway_log_table_is_pinned(conn: sqlite3.Connection) -> None:
    assert columns(conn, "ApiManagementGatewayLogs") == GATEWAY_SCHEMA
    assert tuple(name for name, _, _ in GATEWAY_SCHEMA) == GATEWAY_LOG_COLUMNS
    assert indexes(conn, "ApiManagementGatewayLogs") == {
        "ix_gateway_logs_subscription_time": (
            False,
            ["ApimSubscriptionId", "TimeGenerated"],
        ),
        "ix_gateway_logs_time": (False, ["TimeGenerated"]),
        "sqlite_autoindex_ApiManagementGatewayLogs_1": (True, ["CorrelationId"]),
    }


def test_llm_log_table_is_pinned(conn: sqlite3.Connection) -> None:
    assert columns(conn, "ApiManagementGatewayLlmLog") == LLM_SCHEMA
    assert tuple(name for name, _, _ in LLM_SCHEMA) == LLM_LOG_COLUMNS
    assert indexes(conn, "ApiManagementGatewayLlmLog") == {
        "ix_llm_log_time_usage": (
            False,
            [
                "TimeGenerated",
                "SequenceNumber",
                "PromptTokens",
                "CompletionTokens",
                "TotalTokens",
            ],
        ),
        # Led by substr(TimeGenerated, 1, 13), an expression: no name.
        "ix_llm_log_hour_usage": (
            False,
            [
                None,
                "TimeGenerated",
                "SequenceNumber",
                "PromptTokens",
                "CompletionTokens",
                "TotalTokens",
            ],
        ),
        "sqlite_autoindex_ApiManagementGatewayLlmLog_1": (
            True,
            ["CorrelationId", "SequenceNumber"],
        ),
    }


def test_llm_logs_view_shows_the_llm_log(conn: sqlite3.Connection) -> None:
    conn.execute(
        "INSERT INTO ApiManagementGatewayLlmLog"
        " (TimeGenerated, CorrelationId, SequenceNumber, PromptTokens)"
        " VALUES ('2026-12-03T17:47:24.123456Z', 'c1', 0, 12)"
    )

    view = conn.execute("SELECT * FROM ApiManagementGatewayLlmLogs").fetchall()

    assert view[0].keys() == list(LLM_LOG_COLUMNS)
    assert (view[0]["CorrelationId"], view[0]["PromptTokens"]) == ("c1", 12)


def test_settings_tables_are_pinned(conn: sqlite3.Connection) -> None:
    assert columns_with_pk(conn, "subscriptions") == SUBSCRIPTIONS_SCHEMA
    assert sorted(indexes(conn, "subscriptions").values()) == [
        (True, ["id"]),
        (True, ["primary_hash"]),
        (True, ["secondary_hash"]),
    ]
    assert columns_with_pk(conn, "meta") == META_SCHEMA
    assert columns_with_pk(conn, "schema_migrations") == MIGRATIONS_SCHEMA


def test_every_table_is_accounted_for(conn: sqlite3.Connection) -> None:
    rows = conn.execute(
        "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        " AND type IN ('table', 'view') ORDER BY name"
    )

    assert [tuple(row) for row in rows] == [
        ("table", "ApiManagementGatewayLlmLog"),
        ("view", "ApiManagementGatewayLlmLogs"),
        ("table", "ApiManagementGatewayLogs"),
        ("table", "meta"),
        ("table", "schema_migrations"),
        ("table", "subscriptions"),
    ]


@pytest.mark.parametrize(
    ("pragma", "value"),
    [("journal_mode", "wal"), ("synchronous", 1), ("busy_timeout", 5000)],
)
def test_connection_pragmas(
    conn: sqlite3.Connection, pragma: str, value: object
) -> None:
    assert conn.execute(f"PRAGMA {pragma}").fetchone()[0] == value


def test_connect_creates_the_directory_and_returns_rows(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "tollhouse.db"

    conn = connect(path)
    try:
        row = conn.execute("SELECT 1 AS one").fetchone()
    finally:
        conn.close()

    assert path.is_file()
    assert row["one"] == 1


def test_readonly_connection_cannot_write_and_is_not_migrated(tmp_path: Path) -> None:
    path = tmp_path / "tollhouse.db"
    sqlite3.connect(path).close()  # an empty database, never migrated

    conn = connect(path, readonly=True)
    try:
        tables = conn.execute("SELECT name FROM sqlite_master").fetchall()
        with pytest.raises(sqlite3.OperationalError):
            conn.execute("CREATE TABLE t (x)")
    finally:
        conn.close()

    assert tables == []


def test_readonly_connect_to_a_missing_file_raises_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open the store"):
        connect(tmp_path / "missing.db", readonly=True)

    assert not (tmp_path / "missing.db").exists()


def test_two_connections_migrate_once(tmp_path: Path) -> None:
    path = tmp_path / "tollhouse.db"
    first, second = connect(path), connect(path)
    try:
        versions = first.execute("SELECT version FROM schema_migrations").fetchall()
    finally:
        first.close()
        second.close()

    assert [row[0] for row in versions] == [1, 2, 3]


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (
            datetime(2026, 12, 3, 17, 47, 24, 123456, tzinfo=UTC),
            "2026-12-03T17:47:24.123456Z",
        ),
        (datetime(2026, 12, 3, 17, 47, 24), "2026-12-03T17:47:24.000000Z"),
        (
            datetime(2026, 12, 4, 2, 47, 24, 5, tzinfo=timezone(timedelta(hours=9))),
            "2026-12-03T17:47:24.000005Z",
        ),
    ],
)
def test_utc_timestamp(when: datetime, expected: str) -> None:
    assert utc_timestamp(when) == expected


def test_utc_timestamp_now_sorts_as_text() -> None:
    first, second = utc_timestamp(), utc_timestamp()

    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", first)
    assert first <= second


def test_public_names() -> None:
    assert tollhouse.store.__all__ == [
        "DATA_ERRORS",
        "DB_FILENAME",
        "GATEWAY_LOG_COLUMNS",
        "GATEWAY_LOG_TABLE",
        "LLM_LOG_COLUMNS",
        "LLM_LOG_TABLE",
        "MIGRATIONS",
        "SPOOL_FILENAME",
        "LogRecord",
        "LogSink",
        "LogWriter",
        "Migration",
        "SqliteSink",
        "WriterStats",
        "connect",
        "migrate",
        "utc_timestamp",
    ]
