"""The fixture rows in both stores, once per test session.

SQLite gets a real file made by `tollhouse.store.sqlite.connect`, with the
rows inserted as the SQLite sink inserts them.  PostgreSQL (127.0.0.1:5432,
database ``test``) gets a schema of its own, named for this session and
dropped at the end; its DSN puts that schema first on the ``search_path``,
so the query engine reads the tables there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tollhouse.kql.tables import GATEWAY_LOGS, LLM_LOG
from tollhouse.store import sqlite as sqlite_store
from tollhouse.store.schema import GATEWAY_LOG_COLUMNS, LLM_LOG_COLUMNS

from .fixture import GATEWAY_ROWS, LLM_ROWS

POSTGRES_DSN = os.environ.get(
    "TOLLHOUSE_TEST_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=test"
)


def _insert_sqlite(path: Path) -> None:
    conn = sqlite_store.connect(path)
    try:
        for table, columns, rows in (
            (GATEWAY_LOGS.name, GATEWAY_LOG_COLUMNS, GATEWAY_ROWS),
            (LLM_LOG.name, LLM_LOG_COLUMNS, LLM_ROWS),
        ):
            names = ", ".join(columns)
            marks = ", ".join("?" for _ in columns)
            conn.executemany(
                f"INSERT INTO {table} ({names}) VALUES ({marks})",
                [tuple(map(row.get, columns)) for row in rows],
            )
        conn.commit()
    finally:
        conn.close()


@pytest.fixture(scope="session")
def sqlite_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store file holding the fixture rows."""
    path = tmp_path_factory.mktemp("kql") / "tollhouse.db"
    _insert_sqlite(path)
    return path


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """The DSN of a fresh schema holding the fixture rows; dropped afterwards."""
    from tollhouse.store import postgres as postgres_store

    schema = f"kql_cases_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    dsn = psycopg.conninfo.make_conninfo(
        POSTGRES_DSN, options=f"-c search_path={schema}"
    )
    try:
        conn = postgres_store.connect(dsn)
        try:
            with conn.transaction():
                postgres_store.insert_rows(conn, GATEWAY_LOGS, GATEWAY_ROWS)
                postgres_store.insert_rows(conn, LLM_LOG, LLM_ROWS)
        finally:
            conn.close()
        yield dsn
    finally:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema))
            )


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> str:
    """Which store the test runs on: "sqlite" or "postgres"."""
    return str(request.param)


@pytest.fixture
def engine(store: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A query engine over the fixture rows, in each store in turn."""
    from tollhouse.kql import run

    engine: Any
    if store == "sqlite":
        engine = run.SqliteQueryEngine(request.getfixturevalue("sqlite_path"))
    else:
        engine = run.PostgresQueryEngine(request.getfixturevalue("postgres_dsn"))
    yield engine
    engine.close()


@pytest.fixture
def table_counts(store: str, request: pytest.FixtureRequest) -> Callable[[], Any]:
    """Reads the store's log tables directly: their names and row counts."""
    tables = (GATEWAY_LOGS.name, LLM_LOG.name)

    def sqlite_counts() -> dict[str, int]:
        conn = sqlite_store.connect(request.getfixturevalue("sqlite_path"))
        try:
            return {
                t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in tables
            }
        finally:
            conn.close()

    def postgres_counts() -> dict[str, int]:
        dsn = request.getfixturevalue("postgres_dsn")
        with psycopg.connect(dsn) as conn:
            query = sql.SQL("SELECT count(*) FROM {}")
            return {
                t: conn.execute(query.format(sql.Identifier(t))).fetchone()[0]
                for t in tables
            }

    return sqlite_counts if store == "sqlite" else postgres_counts
