"""A few hand-made log rows in SQLite and PostgreSQL, for the compiler's tests.

The compiler's end-to-end checks run the compiled SQL directly (the runner
is tested elsewhere): `SqliteStore` is a store file made by
`tollhouse.store.sqlite.connect`, `PostgresStore` a schema of its own in the
``test`` database, with typed columns from `tollhouse.kql.tables`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from tollhouse.kql import CompiledQuery, compile_query, register_sqlite_functions
from tollhouse.kql.dialects import SQL_TYPES
from tollhouse.kql.tables import GATEWAY_LOGS, LLM_LOG, Table
from tollhouse.store import sqlite as sqlite_store
from tollhouse.store.postgres import PARSE_JSON_FUNCTION

POSTGRES_DSN = os.environ.get(
    "TOLLHOUSE_TEST_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=test"
)

NOW = datetime.fromisoformat("2026-12-03T18:00:00+00:00")


def _headers(**values: str) -> str:
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


GATEWAY_ROWS: list[dict[str, Any]] = [
    {
        "TimeGenerated": "2026-12-03T17:47:24.123456Z",
        "CorrelationId": "c1",
        "Method": "POST",
        "Url": "https://gw/openai/deployments/gpt-4o/chat/completions",
        "CallerIpAddress": "10.0.0.1",
        "ResponseCode": 200,
        "ResponseSize": 1200,
        "RequestHeaders": _headers(**{"content-type": "application/json"}),
        "OperationName": "ChatCompletions_Create",
        "ApimSubscriptionId": "team-a",
        "DeploymentName": "gpt-4o",
        "TotalTime": 812.5,
        "IsRequestSuccess": 1,
        "Errors": "[]",
    },
    {
        "TimeGenerated": "2026-12-03T17:10:00.000000Z",
        "CorrelationId": "c2",
        "Method": "GET",
        "Url": "https://gw/openai/models",
        "CallerIpAddress": "10.0.0.2",
        "ResponseCode": 403,
        "ResponseSize": 90,
        "RequestHeaders": _headers(**{"user-agent": "Ünïcode Agent/1.0"}),
        "OperationName": "Models_List",
        "ApimSubscriptionId": "team-b",
        "TotalTime": 3.25,
        "IsRequestSuccess": 0,
        "Errors": '[{"Reason":"IpAddressBlocked","Section":"inbound"}]',
    },
    {
        "TimeGenerated": "2026-12-02T09:00:00.999999Z",
        "CorrelationId": "c3",
        "Method": None,
        "Url": "https://gw/openai/deployments/gpt-4o-mini/embeddings",
        "CallerIpAddress": "10.0.0.1",
        "ResponseCode": 500,
        "ResponseSize": None,
        "RequestHeaders": "not json {",
        "OperationName": "Embeddings_Create",
        "ApimSubscriptionId": "team-a",
        "DeploymentName": "gpt-4o-mini",
        "TotalTime": None,
        "IsRequestSuccess": 0,
        "Errors": None,
    },
]

LLM_ROWS: list[dict[str, Any]] = [
    {
        "TimeGenerated": "2026-12-03T17:47:24.123456Z",
        "CorrelationId": "c1",
        "SequenceNumber": 0,
        "DeploymentName": "gpt-4o",
        "ModelName": "gpt-4o-2024-08-06",
        "PromptTokens": 100,
        "CompletionTokens": 20,
        "TotalTokens": 120,
        "RequestMessages": '[{"role":"user","content":"héllo"}]',
    },
    {
        "TimeGenerated": "2026-12-03T17:47:24.123456Z",
        "CorrelationId": "c1",
        "SequenceNumber": 1,
        "RequestMessages": '[{"role":"user","cont',
    },
    {
        "TimeGenerated": "2026-12-02T09:00:00.999999Z",
        "CorrelationId": "c3",
        "SequenceNumber": 0,
        "DeploymentName": "gpt-4o-mini",
        "ModelName": "text-embedding",
        "PromptTokens": 7,
        "CompletionTokens": 0,
        "TotalTokens": 7,
    },
]


class SqliteStore:
    """A store file with the rows above, and a runner of compiled queries."""

    dialect = "sqlite"

    def __init__(self, directory: Path) -> None:
        self.path = directory / "tollhouse.db"
        conn = sqlite_store.connect(self.path)
        for table, rows in ((GATEWAY_LOGS, GATEWAY_ROWS), (LLM_LOG, LLM_ROWS)):
            for row in rows:
                names = ", ".join(f'"{n}"' for n in row)
                marks = ", ".join("?" for _ in row)
                conn.execute(
                    f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})',
                    list(row.values()),
                )
        conn.commit()
        conn.close()
        self.conn = sqlite3.connect(self.path)
        register_sqlite_functions(self.conn)

    def run(self, compiled: CompiledQuery) -> list[list[object]]:
        rows = self.conn.execute(compiled.sql, list(compiled.params)).fetchall()
        return [compiled.convert(row) for row in rows]

    def close(self) -> None:
        self.conn.close()


class PostgresStore:
    """A schema of its own with the rows above; `close` drops it."""

    dialect = "postgres"

    def __init__(self) -> None:
        self.schema = f"kql_compiler_{uuid.uuid4().hex[:10]}"
        self.conn = psycopg.connect(POSTGRES_DSN, autocommit=True)
        self.conn.execute(
            sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema))
        )
        self.conn.execute(
            sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema))
        )
        for table, rows in ((GATEWAY_LOGS, GATEWAY_ROWS), (LLM_LOG, LLM_ROWS)):
            self._create(table, rows)
        self.conn.execute(PARSE_JSON_FUNCTION)

    def _create(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        types = SQL_TYPES["postgres"]
        columns = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(types[kind]))
            for name, kind in table.columns.items()
        )
        self.conn.execute(
            sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(table.name), columns)
        )
        for row in rows:
            values = [_pg_value(table.columns[n], v) for n, v in row.items()]
            self.conn.execute(
                sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                    sql.Identifier(table.name),
                    sql.SQL(", ").join(map(sql.Identifier, row)),
                    sql.SQL(", ").join(sql.Placeholder() * len(row)),
                ),
                values,
            )

    def run(self, compiled: CompiledQuery) -> list[list[object]]:
        with self.conn.transaction():
            self.conn.execute("SET TRANSACTION READ ONLY")
            rows = self.conn.execute(compiled.sql, list(compiled.params)).fetchall()
        return [compiled.convert(row) for row in rows]

    def close(self) -> None:
        self.conn.execute(
            sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(self.schema))
        )
        self.conn.close()


def _pg_value(kind: str, value: object) -> object:
    if value is None:
        return None
    if kind == "datetime":
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if kind == "bool":
        return bool(value)
    if kind == "dynamic":
        try:
            json.loads(str(value))
        except ValueError:
            value = json.dumps(value)
        return psycopg.types.json.Jsonb(json.loads(str(value)))
    return value


def run_both(
    stores: Sequence[SqliteStore | PostgresStore], text: str, max_rows: int = 1000
) -> list[list[list[object]]]:
    """The rows of ``text`` in each store, in order."""
    return [
        store.run(compile_query(text, store.dialect, now=NOW, max_rows=max_rows))  # type: ignore[arg-type]
        for store in stores
    ]
