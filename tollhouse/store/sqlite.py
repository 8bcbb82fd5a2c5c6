"""The SQLite store: connections, migrations, and the log sink.

A connection opened by `connect` is in WAL mode with ``synchronous=NORMAL``
and a busy timeout, so one writer and any number of readers (the dashboard,
``tollhouse logs tail``, any SQLite tool) work on the file at once.  Errors of
the SQLite driver raised while opening or migrating become `StoreError`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from ..errors import StoreError
from .schema import (
    GATEWAY_LOG_COLUMNS,
    GATEWAY_LOG_TABLE,
    LLM_LOG_COLUMNS,
    LLM_LOG_TABLE,
    MIGRATIONS,
    Migration,
    utc_timestamp,
)
from .writer import LogRecord

logger = logging.getLogger(__name__)

DB_FILENAME = "tollhouse.db"
"""The database's file name in the data directory of the embedded default."""

BUSY_TIMEOUT_MS = 5000

STATISTICS_INTERVAL = 600.0
"""Seconds between the sink's refreshes of the query planner's statistics."""

# Rows ANALYZE samples per index: enough for the planner to tell a selective
# index from a poor one, and quick on a table of any size.
_ANALYSIS_LIMIT = 1000

_DATA_ERRORS = (
    sqlite3.ProgrammingError,
    sqlite3.InterfaceError,
    sqlite3.IntegrityError,
    sqlite3.DataError,
    OverflowError,
    UnicodeError,
    TypeError,
    ValueError,
)


def connect(
    path: str | os.PathLike[str], *, readonly: bool = False
) -> sqlite3.Connection:
    """Open the SQLite store at ``path``, migrated to the current schema.

    Creates the file and its directory if needed.  With ``readonly`` the file
    must exist; it is opened read-only and not migrated.  Rows come back as
    `sqlite3.Row`.  The connection may be handed to another thread, but
    must be used by one thread at a time.  Raises `StoreError`.
    """
    conn: sqlite3.Connection | None = None
    try:
        conn = _open(Path(path), readonly=readonly)
        conn.row_factory = sqlite3.Row
        _configure(conn, readonly=readonly)
        if not readonly:
            migrate(conn)
    except (sqlite3.Error, OSError) as exc:
        if conn is not None:
            conn.close()
        raise StoreError(f"cannot open the store {os.fspath(path)}: {exc}") from exc
    return conn


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply the migrations ``conn``'s database lacks; return their versions.

    Each migration runs in its own transaction, so two processes opening the
    same new file apply each one once.  Raises `StoreError`.
    """
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)"
        )
        applied = _applied_versions(conn)
        _warn_if_newer(applied)
        pending = [m for m in MIGRATIONS if m.version not in applied]
        return [m.version for m in pending if _apply(conn, m)]
    except sqlite3.Error as exc:
        raise StoreError(f"migrating the store failed: {exc}") from exc


class SqliteSink:
    """Writes log records to a SQLite store, one transaction per batch.

    The connection is opened on the first batch, in the writer thread.  Rows
    already stored (same ``CorrelationId``, or same ``CorrelationId`` and
    ``SequenceNumber``) are ignored, so writing a record twice is harmless.
    If the database file is removed or replaced, the sink opens (and so
    re-creates) it.  Store failures raise `StoreError`; a record SQLite
    cannot bind raises the driver's error unchanged.

    Every `STATISTICS_INTERVAL` seconds the sink refreshes the statistics
    the query planner chooses indexes by (a sampled ``ANALYZE``): without
    them a KQL join may scan the LLM log instead of looking rows up by
    correlation id.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._file_id: tuple[int, int] | None = None
        self._statistics_due = 0.0

    def write_batch(self, records: Sequence[LogRecord]) -> None:
        """Insert the records' gateway and LLM rows in one transaction."""
        gateway_rows = [_row_values(r.gateway, GATEWAY_LOG_COLUMNS) for r in records]
        llm_rows = [
            _row_values(row, LLM_LOG_COLUMNS)
            for record in records
            for row in record.llm
        ]
        conn = self._connection()
        try:
            _insert(conn, gateway_rows, llm_rows)
        except _DATA_ERRORS:
            raise
        except sqlite3.Error as exc:
            self._disconnect()
            raise StoreError(f"writing logs to {self.path} failed: {exc}") from exc

        if self._file_moved():
            # The commit may have gone to a file that is gone: write it again.
            self._disconnect()
            raise StoreError(f"the database {self.path} was removed during a write")
        self._refresh_statistics(conn)

    def close(self) -> None:
        """Close the connection, if open."""
        self._disconnect()

    def _refresh_statistics(self, conn: sqlite3.Connection) -> None:
        now = time.monotonic()
        if now < self._statistics_due:
            return
        self._statistics_due = now + STATISTICS_INTERVAL
        try:
            conn.execute(f"PRAGMA analysis_limit = {_ANALYSIS_LIMIT}")
            conn.execute("ANALYZE")
            conn.commit()
        except sqlite3.Error as exc:
            logger.warning(
                "refreshing the query statistics of %s failed: %s", self.path, exc
            )

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and self._file_moved():
            logger.warning(
                "the database %s was removed or replaced; reopening", self.path
            )
            self._disconnect()
        if self._conn is None:
            self._conn = connect(self.path)
            self._file_id = _file_id(self.path)
        return self._conn

    def _file_moved(self) -> bool:
        return _file_id(self.path) != self._file_id

    def _disconnect(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
            self._file_id = None


def _open(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if os.fspath(path) == ":memory:":
        return sqlite3.connect(":memory:", check_same_thread=False)
    if readonly:
        uri = path.resolve().as_uri() + "?mode=ro"
        return sqlite3.connect(uri, uri=True, check_same_thread=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    return sqlite3.connect(path, check_same_thread=False)


def _configure(conn: sqlite3.Connection, *, readonly: bool) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
        return
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode.lower() not in ("wal", "memory"):
        logger.warning("the store cannot use WAL mode (journal_mode=%s)", mode)
    conn.execute("PRAGMA synchronous = NORMAL")


def _applied_versions(conn: sqlite3.Connection) -> set[int]:
    rows = conn.execute("SELECT version FROM schema_migrations").fetchall()
    return {int(row[0]) for row in rows}


def _warn_if_newer(applied: set[int]) -> None:
    known = max(m.version for m in MIGRATIONS)
    if applied and max(applied) > known:
        logger.warning(
            "the store has migration %d, newer than this Tollhouse knows (%d)",
            max(applied),
            known,
        )


def _apply(conn: sqlite3.Connection, migration: Migration) -> bool:
    """Apply one migration unless another process just did; True if applied."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if migration.version in _applied_versions(conn):
            conn.rollback()
            return False
        for statement in migration.statements:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at)"
            " VALUES (?, ?, ?)",
            (migration.version, migration.name, utc_timestamp()),
        )
        conn.commit()
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.rollback()
        raise
    logger.info("applied store migration %d: %s", migration.version, migration.name)
    return True


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    names = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    return f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({marks})"


_INSERT_GATEWAY = _insert_sql(GATEWAY_LOG_TABLE, GATEWAY_LOG_COLUMNS)
_INSERT_LLM = _insert_sql(LLM_LOG_TABLE, LLM_LOG_COLUMNS)


def _row_values(row: dict[str, object], columns: Sequence[str]) -> tuple[object, ...]:
    return tuple(map(row.get, columns))


def _insert(
    conn: sqlite3.Connection,
    gateway_rows: list[tuple[object, ...]],
    llm_rows: list[tuple[object, ...]],
) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(_INSERT_GATEWAY, gateway_rows)
        if llm_rows:
            conn.executemany(_INSERT_LLM, llm_rows)
        conn.commit()
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.rollback()
        raise


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino)
