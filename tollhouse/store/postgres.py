"""The PostgreSQL store: SQLite's tables with typed columns, and a log sink.

The tables, their column names (quoted, so ``"TimeGenerated"`` keeps its
case and the same KQL runs on both stores) and the migrations' versions and
names are SQLite's; only the column types differ, each taken from the KQL
type in `tollhouse.kql.tables` (``datetime`` is ``timestamptz``, ``dynamic``
is ``jsonb``, ``bool`` is ``boolean``, ...).  The tables live in the
connection's current schema (``search_path``).

Log rows arrive as the SQLite sink takes them (`LogRecord` rows: timestamps
as `utc_timestamp` text, JSON as text, booleans as 0 or 1) and are converted
on the way in.  PostgreSQL cannot hold everything SQLite can, so a value is
adapted rather than refused: text in a ``dynamic`` column that is not JSON
is stored as a JSON string, NUL characters (which PostgreSQL text cannot
hold) become U+FFFD, and a number its column cannot hold is stored as NULL.
Errors of the driver become `StoreError`, except those that a record causes,
which become `ValueError` so that the writer isolates that record.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any

import orjson
import psycopg
from psycopg import sql

from ..errors import StoreError
from ..kql.tables import GATEWAY_LOGS, LLM_LOG, Table
from .schema import Migration, utc_timestamp
from .writer import LogRecord

logger = logging.getLogger(__name__)

Connection = psycopg.Connection[tuple[Any, ...]]

COLUMN_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "string": "text",
        "long": "bigint",
        "int": "integer",
        "real": "double precision",
        "bool": "boolean",
        "datetime": "timestamptz",
        "dynamic": "jsonb",
    }
)
"""The PostgreSQL type of each KQL type."""

# Any constant of our own: it only has to differ from other users' locks.
_MIGRATION_LOCK = 0x746F6C6C686F75

_REPLACEMENT = "\ufffd"
_INT_RANGES = {"long": range(-(2**63), 2**63), "int": range(-(2**31), 2**31)}


# Schema -------------------------------------------------------------------


def _create_table(
    table: Table, *, not_null: tuple[str, ...], unique: tuple[str, ...]
) -> str:
    columns = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(name),
            sql.SQL(COLUMN_TYPES[kql_type]),
            sql.SQL(" NOT NULL" if name in not_null else ""),
        )
        for name, kql_type in table.columns.items()
    ]
    columns.append(
        sql.SQL("UNIQUE ({})").format(sql.SQL(", ").join(map(sql.Identifier, unique)))
    )
    statement = sql.SQL("CREATE TABLE {} ({})").format(
        sql.Identifier(table.name), sql.SQL(", ").join(columns)
    )
    return statement.as_string(None)


def _create_index(
    name: str, table: Table, columns: Sequence[str], include: Sequence[str] = ()
) -> str:
    statement = sql.SQL("CREATE INDEX {} ON {} ({})").format(
        sql.Identifier(name),
        sql.Identifier(table.name),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
    )
    if include:
        statement += sql.SQL(" INCLUDE ({})").format(
            sql.SQL(", ").join(map(sql.Identifier, include))
        )
    return statement.as_string(None)


_CREATE_SUBSCRIPTIONS = """
CREATE TABLE subscriptions (
    id text PRIMARY KEY,
    display_name text NOT NULL,
    scope text NOT NULL,
    state text NOT NULL,
    primary_hash text NOT NULL UNIQUE,
    secondary_hash text NOT NULL UNIQUE,
    primary_nonce text NOT NULL,
    secondary_nonce text NOT NULL,
    created_at text NOT NULL,
    updated_at text NOT NULL
)
"""

_USAGE_COLUMNS = ("PromptTokens", "CompletionTokens", "TotalTokens")

PARSE_JSON_FUNCTION = """
CREATE FUNCTION tollhouse_parse_json(value text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $body$
BEGIN
    RETURN value::jsonb;
EXCEPTION WHEN data_exception THEN
    RETURN to_jsonb(value);
END
$body$
"""
"""KQL's parse_json: the JSON in ``value``, or the text as a JSON string when
it is not valid JSON (PostgreSQL 15 has no test of a text's validity, and a
failed cast would fail the whole query)."""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "log tables and settings tables",
        (
            _create_table(
                GATEWAY_LOGS,
                not_null=("TimeGenerated", "CorrelationId"),
                unique=("CorrelationId",),
            ),
            _create_index("ix_gateway_logs_time", GATEWAY_LOGS, ["TimeGenerated"]),
            _create_index(
                "ix_gateway_logs_subscription_time",
                GATEWAY_LOGS,
                ["ApimSubscriptionId", "TimeGenerated"],
            ),
            _create_table(
                LLM_LOG,
                not_null=("TimeGenerated", "CorrelationId", "SequenceNumber"),
                unique=("CorrelationId", "SequenceNumber"),
            ),
            _create_index("ix_llm_log_time", LLM_LOG, ["TimeGenerated"]),
            'CREATE VIEW "ApiManagementGatewayLlmLogs"'
            ' AS SELECT * FROM "ApiManagementGatewayLlmLog"',
            _CREATE_SUBSCRIPTIONS,
            "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL)",
        ),
    ),
    Migration(
        2,
        "token usage indexes on the LLM log",
        (
            # The time index, carrying what token summaries read: they are
            # answered from the index alone, without visiting the table.
            _create_index(
                "ix_llm_log_time_usage",
                LLM_LOG,
                ["TimeGenerated"],
                include=("SequenceNumber", *_USAGE_COLUMNS),
            ),
            'DROP INDEX "ix_llm_log_time"',
            # SQLite's hour index has no counterpart: PostgreSQL truncates
            # timestamps to the hour fast enough, and date_trunc on
            # timestamptz cannot be indexed (it depends on the time zone).
        ),
    ),
    Migration(3, "parse_json function", (PARSE_JSON_FUNCTION,)),
)
"""Every migration, in version order, with SQLite's versions and names."""


# Connections and migrations -----------------------------------------------


def connect(dsn: str) -> Connection:
    """Open the PostgreSQL store at ``dsn``, migrated to the current schema.

    The connection is in autocommit mode with its session time zone set to
    UTC.  Raises `StoreError`.
    """
    conn: Connection | None = None
    try:
        conn = psycopg.connect(dsn, autocommit=True)
        conn.execute("SET TIME ZONE 'UTC'")
        migrate(conn)
    except psycopg.Error as exc:
        if conn is not None:
            conn.close()
        raise StoreError(f"cannot open the store {_safe_dsn(dsn)}: {exc}") from exc
    return conn


def migrate(conn: Connection) -> list[int]:
    """Apply the migrations ``conn``'s schema lacks; return their versions.

    Each migration runs in its own transaction under an advisory lock, so
    gateways starting together on a new database apply each one once.
    Raises `StoreError`.
    """
    try:
        return [m.version for m in MIGRATIONS if _apply(conn, m)]
    except psycopg.Error as exc:
        raise StoreError(f"migrating the store failed: {exc}") from exc


def _apply(conn: Connection, migration: Migration) -> bool:
    """Apply one migration unless it is already there; True if applied."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version integer PRIMARY KEY, name text, applied_at text)"
        )
        found = conn.execute(
            "SELECT 1 FROM schema_migrations WHERE version = %s",
            (migration.version,),
        ).fetchone()
        if found is not None:
            return False
        for statement in migration.statements:
            conn.execute(statement.encode())
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at)"
            " VALUES (%s, %s, %s)",
            (migration.version, migration.name, utc_timestamp()),
        )
    logger.info("applied store migration %d: %s", migration.version, migration.name)
    return True


def _safe_dsn(dsn: str) -> str:
    """The DSN without its password, for messages."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(unparsable DSN)"
    params.pop("password", None)
    return psycopg.conninfo.make_conninfo("", **params)


# Rows ---------------------------------------------------------------------


def insert_rows(
    conn: Connection, table: Table, rows: Iterable[Mapping[str, Any]]
) -> None:
    """Insert log rows into ``table``, ignoring those already stored.

    ``rows`` are column-to-value mappings as the SQLite sink takes them;
    missing columns are NULL.  Runs in the caller's transaction, if any.
    """
    statement = _insert_statement(table)
    values = [convert_row(table, row) for row in rows]
    if values:
        with conn.cursor() as cursor:
            cursor.executemany(statement, values)


def copy_rows(conn: Connection, table: Table, rows: Iterable[Mapping[str, Any]]) -> int:
    """Load log rows into ``table`` with ``COPY``; return how many.

    Faster than `insert_rows` for bulk loads, but a row already stored is an
    error rather than ignored.
    """
    names = sql.SQL(", ").join(map(sql.Identifier, table.columns))
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), names
    )
    count = 0
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(convert_row(table, row))
            count += 1
    return count


def convert_row(table: Table, row: Mapping[str, Any]) -> tuple[object, ...]:
    """``row``'s values in ``table``'s column order, ready for PostgreSQL."""
    return tuple(
        None if (value := row.get(name)) is None else convert(value)
        for name, convert in _converters(table)
    )


def _insert_statement(table: Table) -> sql.Composed:
    return sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING").format(
        sql.Identifier(table.name),
        sql.SQL(", ").join(map(sql.Identifier, table.columns)),
        sql.SQL(", ").join(sql.Placeholder() * len(table.columns)),
    )


def _timestamp(value: object) -> object:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _text(value: object) -> object:
    text = value if isinstance(value, str) else str(value)
    return text.replace("\x00", _REPLACEMENT) if "\x00" in text else text


def _jsonb(value: object) -> object:
    text = value if isinstance(value, str) else str(value)
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return orjson.dumps(_text(text)).decode()
    if "\\u0000" in text:
        # jsonb refuses NUL even when escaped.
        return orjson.dumps(_without_nul(parsed)).decode()
    return text


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", _REPLACEMENT)
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value


def _boolean(value: object) -> object:
    if isinstance(value, str):
        return {"1": True, "0": False, "true": True, "false": False}.get(value.lower())
    return bool(value)


def _real(value: object) -> object:
    number = _number(value)
    if number is None or isinstance(number, float) and not math.isfinite(number):
        return None
    return float(number)


def _integer(valid: range) -> Callable[[object], object]:
    def convert(value: object) -> object:
        number = _number(value)
        if isinstance(number, float):
            number = int(number) if number.is_integer() else None
        if number is None or number not in valid:  # an int: no linear search
            return None
        return int(number)

    return convert


def _number(value: object) -> int | float | None:
    """``value`` as a number if it is one, or text that spells one."""
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        for kind in (int, float):
            with contextlib.suppress(ValueError):
                return kind(value)
    return None


_BY_TYPE: Mapping[str, Callable[[object], object]] = MappingProxyType(
    {
        "string": _text,
        "long": _integer(_INT_RANGES["long"]),
        "int": _integer(_INT_RANGES["int"]),
        "real": _real,
        "bool": _boolean,
        "datetime": _timestamp,
        "dynamic": _jsonb,
    }
)

_CONVERTERS = {
    table.name: tuple((name, _BY_TYPE[kql]) for name, kql in table.columns.items())
    for table in (GATEWAY_LOGS, LLM_LOG)
}


def _converters(table: Table) -> tuple[tuple[str, Callable[[object], object]], ...]:
    return _CONVERTERS[table.name]


# The sink -----------------------------------------------------------------


class PostgresSink:
    """Writes log records to a PostgreSQL store, one transaction per batch.

    The connection is opened on the first batch, in the writer thread, and
    opened again after it breaks.  Rows already stored are ignored, so
    writing a record twice is harmless.  Store failures raise `StoreError`;
    a record PostgreSQL cannot take raises `ValueError`.
    """

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: Connection | None = None

    def write_batch(self, records: Sequence[LogRecord]) -> None:
        """Insert the records' gateway and LLM rows in one transaction."""
        conn = self._connection()
        try:
            with conn.transaction():
                insert_rows(conn, GATEWAY_LOGS, [r.gateway for r in records])
                insert_rows(conn, LLM_LOG, [row for r in records for row in r.llm])
        except (psycopg.DataError, psycopg.IntegrityError) as exc:
            raise ValueError(f"PostgreSQL refused a log row: {exc}") from exc
        except psycopg.Error as exc:
            self._disconnect()
            raise StoreError(f"writing logs to PostgreSQL failed: {exc}") from exc

    def close(self) -> None:
        """Close the connection, if open."""
        self._disconnect()

    def _connection(self) -> Connection:
        if self._conn is not None and self._conn.broken:
            self._disconnect()
        if self._conn is None:
            self._conn = connect(self.dsn)
        return self._conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None
