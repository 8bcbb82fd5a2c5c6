"""Running KQL against the store, within a row cap and a time limit.

A query is compiled for the engine's dialect, then run read-only: the
SQLite engine opens the file with ``mode=ro`` and ``PRAGMA query_only``, the
PostgreSQL engine in read-only transactions.  So even SQL that tried to
write would be refused by the database itself::

    engine = SqliteQueryEngine(data_dir / "tollhouse.db")
    result = run_query(engine, "ApiManagementGatewayLogs | take 10", limits)

A query that runs longer than ``QueryLimits.timeout`` is stopped by the
database and raises `QueryLimitExceeded`; on SQLite that includes the time
its regular expressions take in Python (see `Deadline`).  One that would
return more than ``QueryLimits.max_rows`` rows returns the first
``max_rows`` with ``QueryResult.truncated`` set, for the caller to say so.
A statement the database finds too complex to run (SQLite's parser stack,
PostgreSQL's program limits) raises `QueryError`, as the query's fault;
other failures of the database become `StoreError`.
"""

from __future__ import annotations

import logging
import math
import os
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import psycopg

from ..errors import QueryError, QueryLimitExceeded, StoreError
from .deadline import Deadline
from .query import Column, Render, compile_query
from .sqlite_functions import register_sqlite_functions

logger = logging.getLogger(__name__)

Dialect = Literal["sqlite", "postgres"]
Row = Sequence[Any]

# SQLite calls the time check every this many virtual machine steps: often
# enough to stop within milliseconds, rarely enough to cost nothing visible.
_PROGRESS_STEPS = 20_000
_BUSY_TIMEOUT_MS = 5000

# SQLite's words for a statement past its compile-time limits (parser stack,
# expression depth, compound SELECT terms, joins, columns, arguments...).
_SQLITE_TOO_COMPLEX = re.compile(
    r"parser stack overflow|too large|too many|at most \d+ tables|too complex",
    re.IGNORECASE,
)
# PostgreSQL's class 54 (program limit exceeded: stack depth, too many
# columns or arguments) and a regular expression it finds too complex.
_POSTGRES_TOO_COMPLEX = ("54", "2201B")


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """How many rows one query may return and how many seconds it may run."""

    max_rows: int = 10_000
    timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class QueryResult:
    """A query's typed columns, its rows, and what the caller should show.

    ``rows`` hold Python values (see `CompiledQuery.convert`); ``render`` is
    the query's ``render`` operator, if any; ``truncated`` says that rows
    beyond the row cap were left out; ``elapsed`` is in seconds.
    """

    columns: tuple[Column, ...]
    rows: list[list[object]]
    render: Render | None
    truncated: bool
    elapsed: float


class QueryEngine(Protocol):
    """Runs compiled, read-only SQL on one store."""

    @property
    def dialect(self) -> Dialect:
        """The SQL dialect queries must be compiled for."""

    def fetch(
        self, sql: str, params: Sequence[object], *, limit: int, timeout: float
    ) -> list[Row]:
        """Run ``sql`` read-only; return at most ``limit`` rows.

        Raises `QueryLimitExceeded` after ``timeout`` seconds, `StoreError`
        when the database fails or refuses the statement.
        """

    def close(self) -> None:
        """Release the engine's connections."""


def run_query(
    engine: QueryEngine,
    text: str,
    limits: QueryLimits | None = None,
    now: datetime | None = None,
) -> QueryResult:
    """Compile KQL ``text`` for ``engine`` and run it within ``limits``.

    ``now`` is the instant ``now()`` and ``ago()`` count from (default: the
    current time).  Raises `QueryError` for a query that does not compile
    (before anything runs), `QueryLimitExceeded` when it runs too long, and
    `StoreError`.
    """
    limits = limits or QueryLimits()
    started = time.monotonic()
    compiled = compile_query(
        text,
        engine.dialect,
        now=now or datetime.now(UTC),
        max_rows=limits.max_rows,
    )
    raw = engine.fetch(
        compiled.sql,
        compiled.params,
        limit=limits.max_rows + 1,
        timeout=limits.timeout,
    )

    truncated = len(raw) > limits.max_rows
    rows = [compiled.convert(row) for row in raw[: limits.max_rows]]
    elapsed = time.monotonic() - started
    logger.debug(
        "query returned %d rows in %.3f s%s",
        len(rows),
        elapsed,
        " (truncated)" if truncated else "",
    )
    return QueryResult(compiled.columns, rows, compiled.render, truncated, elapsed)


def time_limit_exceeded(timeout: float) -> QueryLimitExceeded:
    """The error of a query stopped after ``timeout`` seconds."""
    seconds = f"{timeout:g}"
    return QueryLimitExceeded(f"Query exceeded the time limit of {seconds} s.")


def too_complex(reason: object) -> QueryError:
    """The error of a statement the store refused as beyond its limits."""
    return QueryError(
        f"the query is too complex for the store ({reason}): nest fewer"
        " expressions, or use fewer operators, joins or unions"
    )


class SqliteQueryEngine:
    """Runs queries on a SQLite store file, on a read-only connection each.

    A connection per query keeps the engine safe to share between threads
    and never holds a read transaction (which would keep the writer's WAL
    from being checkpointed) between queries.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @property
    def dialect(self) -> Dialect:
        return "sqlite"

    def fetch(
        self, sql: str, params: Sequence[object], *, limit: int, timeout: float
    ) -> list[Row]:
        deadline = Deadline(timeout)
        conn = self._open(deadline)
        conn.set_progress_handler(deadline, _PROGRESS_STEPS)
        try:
            return conn.execute(sql, tuple(params)).fetchmany(limit)
        except sqlite3.Error as exc:
            if deadline.passed:
                raise time_limit_exceeded(timeout) from exc
            if _SQLITE_TOO_COMPLEX.search(str(exc)):
                raise too_complex(exc) from exc
            raise StoreError(f"the query failed on {self.path}: {exc}") from exc
        finally:
            conn.close()

    def close(self) -> None:
        """Nothing to release: connections last one query."""

    def _open(self, deadline: Deadline) -> sqlite3.Connection:
        if not self.path.is_file():
            raise StoreError(f"no log database at {self.path}; has the gateway run?")
        uri = self.path.resolve().as_uri() + "?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True)
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA query_only = ON")
            register_sqlite_functions(conn, deadline)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc}") from exc
        return conn


class PostgresQueryEngine:
    """Runs queries on a PostgreSQL store in read-only transactions.

    Up to ``keep`` idle connections are kept for the next queries; the
    engine may be shared between threads.  The session's time zone is UTC,
    so dates are cut at UTC midnight as in SQLite.
    """

    def __init__(self, dsn: str, *, keep: int = 2) -> None:
        self.dsn = dsn
        self._keep = keep
        self._idle: list[psycopg.Connection[tuple[Any, ...]]] = []
        self._lock = threading.Lock()

    @property
    def dialect(self) -> Dialect:
        return "postgres"

    def fetch(
        self, sql: str, params: Sequence[object], *, limit: int, timeout: float
    ) -> list[Row]:
        conn = self._acquire()
        try:
            with conn.transaction():
                conn.execute("SET TRANSACTION READ ONLY")
                conn.execute(
                    "SELECT set_config('statement_timeout', %s, true)",
                    (f"{max(1, math.ceil(timeout * 1000))}ms",),
                )
                # The compiler's SQL: its literals are all in ``params``.
                cursor = conn.execute(sql, tuple(params))
                return list(cursor.fetchmany(limit))
        except psycopg.errors.QueryCanceled as exc:
            raise time_limit_exceeded(timeout) from exc
        except psycopg.Error as exc:
            if (exc.sqlstate or "").startswith(_POSTGRES_TOO_COMPLEX):
                raise too_complex(exc.diag.message_primary or exc) from exc
            raise StoreError(f"the query failed on PostgreSQL: {exc}") from exc
        finally:
            self._release(conn)

    def close(self) -> None:
        """Close the idle connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _acquire(self) -> psycopg.Connection[tuple[Any, ...]]:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        try:
            conn = psycopg.connect(self.dsn, autocommit=True)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {exc}") from exc
        try:
            conn.execute("SET default_transaction_read_only = on")
            conn.execute("SET TIME ZONE 'UTC'")
        except psycopg.Error as exc:
            conn.close()
            raise StoreError(f"cannot set up a PostgreSQL session: {exc}") from exc
        return conn

    def _release(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        with self._lock:
            if not conn.broken and len(self._idle) < self._keep:
                self._idle.append(conn)
                return
        conn.close()
