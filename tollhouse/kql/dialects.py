"""What differs between the stores, each piece written once per store.

The compiler asks a `Dialect` for every operation whose SQL is not the same
in SQLite and PostgreSQL: dates, JSON, case-insensitive text, regular
expressions, casts of text to numbers.  Each method returns a sqlglot tree
that gives the same result in both stores for the same data, which is what
the table-driven tests check.

How values are kept (see `tables`): in SQLite a datetime is TEXT in
`utc_timestamp`'s fixed format, so that text order is time order, and every
datetime the SQL computes is written back in that same format; SQLite's own
date functions round to milliseconds, so arithmetic goes through integer
microseconds instead.  A timespan is REAL seconds in both stores.  A dynamic
is JSON text in SQLite and ``jsonb`` in PostgreSQL.

This module holds the base class and what both stores share; each store's
SQL is in `sqlite_dialect` and `postgres_dialect`.
"""

from __future__ import annotations

from sqlglot import exp

from .sql import (
    Grouping,
    Params,
    Typed,
    cast,
    fn,
    number,
    paren,
)

SQL_TYPES = {
    "sqlite": {
        "string": "TEXT",
        "long": "INTEGER",
        "int": "INTEGER",
        "real": "REAL",
        "bool": "INTEGER",
        "datetime": "TEXT",
        "timespan": "REAL",
        "dynamic": "TEXT",
    },
    "postgres": {
        "string": "TEXT",
        "long": "BIGINT",
        "int": "INTEGER",
        "real": "DOUBLE PRECISION",
        "bool": "BOOLEAN",
        "datetime": "TIMESTAMPTZ",
        "timespan": "DOUBLE PRECISION",
        "dynamic": "JSONB",
    },
}

LONG_TEXT = r"^[+-]?[0-9]{1,19}$"
INT_TEXT = r"^[+-]?[0-9]{1,10}$"
INTEGER_RANGES = {
    "long": (-(2**63), 2**63 - 1),
    "int": (-(2**31), 2**31 - 1),
}
REAL_TEXT = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,2})?$"
DATETIME_TEXT = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?Z?$"
)
"""Texts that ``tolong``, ``toint``, ``todouble`` and ``todatetime`` read.

Both stores test a text against the same pattern before converting it, so
that a text that is not a number gives null in both (never an error)."""

MICRO = 1_000_000
TEXT_PREFIX = {86400.0: 10, 3600.0: 13, 60.0: 16, 1.0: 19}
"""How much of a SQLite timestamp's text is a bin of so many seconds."""
TRUNC_UNITS = {86400.0: "day", 3600.0: "hour", 60.0: "minute", 1.0: "second"}


def _is_ascii(value: object) -> bool:
    return isinstance(value, str) and value.isascii()


class Dialect:
    """The SQL of one store.  See the module docstring."""

    name = ""

    def __init__(self, params: Params) -> None:
        self.params = params

    # Values from the query.

    def param(self, value: object, kql_type: str) -> exp.Expression:
        """A placeholder bound to ``value`` (a Python value of ``kql_type``)."""
        raise NotImplementedError

    def null(self, kql_type: str) -> exp.Expression:
        return cast(exp.Null(), SQL_TYPES[self.name][kql_type])

    def sql_type(self, kql_type: str) -> str:
        return SQL_TYPES[self.name][kql_type]

    # Text.

    def lower(
        self, node: exp.Expression, *, ascii_only: bool = False
    ) -> exp.Expression:
        return fn("lower", node)

    def upper(self, node: exp.Expression) -> exp.Expression:
        return fn("upper", node)

    def position(
        self, haystack: exp.Expression, needle: exp.Expression
    ) -> exp.Expression:
        raise NotImplementedError

    def strlen(self, node: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def starts_with(self, node: exp.Expression, prefix: str) -> exp.Expression:
        raise NotImplementedError

    def ends_with(self, node: exp.Expression, suffix: str) -> exp.Expression:
        raise NotImplementedError

    def pad(self, node: exp.Expression, width: int) -> exp.Expression:
        """A whole number that is not negative as text of at least ``width``
        digits, zeros in front."""
        raise NotImplementedError

    def ordered_text(self, node: exp.Expression) -> exp.Expression:
        """``node`` sorted by code point, as SQLite's BINARY collation does."""
        return node

    def mod(self, left: exp.Expression, right: exp.Expression) -> exp.Expression:
        return fn("MOD", left, right)

    def has(self, node: exp.Expression, term: str, *, cs: bool) -> exp.Expression:
        raise NotImplementedError

    def regex(self, node: exp.Expression, pattern: str) -> exp.Expression:
        raise NotImplementedError

    def extract(self, pattern: str, group: int, node: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def split(self, node: exp.Expression, delimiter: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def round(self, node: exp.Expression, digits: int) -> exp.Expression:
        raise NotImplementedError

    def floor(self, node: exp.Expression) -> exp.Expression:
        return fn("floor", node)

    def text_to(self, node: exp.Expression, kql_type: str) -> exp.Expression:
        """Convert text to ``kql_type``; null where the text is not one."""
        raise NotImplementedError

    def to_text(self, typed: Typed) -> exp.Expression:
        raise NotImplementedError

    # Datetimes.

    def micros(self, node: exp.Expression) -> exp.Expression:
        """Microseconds since 1970 of a datetime, as an integer."""
        raise NotImplementedError

    def from_micros(self, node: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def floor_micros(self, node: exp.Expression, size: int) -> exp.Expression:
        floored_mod = self.mod(
            paren(exp.Add(this=self.mod(node, number(size)), expression=number(size))),
            number(size),
        )
        return exp.Sub(this=paren(node), expression=floored_mod)

    def bin_datetime(self, node: exp.Expression, seconds: float) -> exp.Expression:
        size = round(seconds * MICRO)
        return self.from_micros(self.floor_micros(self.micros(node), size))

    def bin_grouping(self, node: exp.Expression, seconds: float) -> Grouping | None:
        """A cheaper key for summarize to group ``bin(node, seconds)`` by."""
        return None

    def add_seconds(
        self, node: exp.Expression, seconds: exp.Expression
    ) -> exp.Expression:
        scaled = exp.Mul(this=paren(seconds), expression=number(MICRO))
        delta = cast(
            fn("floor", exp.Add(this=scaled, expression=number(0.5))), "BIGINT"
        )
        return self.from_micros(exp.Add(this=self.micros(node), expression=delta))

    def seconds_between(self, a: exp.Expression, b: exp.Expression) -> exp.Expression:
        diff = exp.Sub(this=self.micros(a), expression=self.micros(b))
        return exp.Div(
            this=cast(paren(diff), self.sql_type("real")),
            expression=number(float(MICRO)),
            typed=True,
            safe=False,
        )

    def start_of(self, unit: str, node: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def add_months(
        self, node: exp.Expression, months: exp.Expression
    ) -> exp.Expression:
        """``node`` plus ``months`` calendar months, the day clamped to the
        month's last (2026-01-31 plus a month is 2026-02-28)."""
        raise NotImplementedError

    def field(self, node: exp.Expression, name: str) -> exp.Expression:
        """One field of a datetime as an integer: year, month, day, hour,
        minute, second, microsecond, weekday (0 is Sunday), dayofyear (from 1)
        or epochday."""
        raise NotImplementedError

    def format_piece(self, node: exp.Expression, token: str) -> exp.Expression:
        """``node`` formatted by one .NET format token (``yyyy``, ``HH``...)."""
        raise NotImplementedError

    # Dynamic values.

    def json(self, typed: Typed) -> exp.Expression:
        """``typed`` as valid JSON: a SQLite text that is not JSON reads as a
        JSON string, as KQL reads such a dynamic."""
        return typed.sql

    def json_get(self, node: exp.Expression, key: str) -> exp.Expression:
        raise NotImplementedError

    def json_index(self, node: exp.Expression, index: int) -> exp.Expression:
        raise NotImplementedError

    def json_text(self, node: exp.Expression) -> exp.Expression:
        """A JSON value as KQL's tostring gives it: strings without quotes."""
        raise NotImplementedError

    def json_number(self, node: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def json_array_length(self, node: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def json_kind(self, node: exp.Expression) -> exp.Expression:
        """The JSON type of ``node`` as text; "object" and "array" in both."""
        raise NotImplementedError

    def to_json(self, typed: Typed) -> exp.Expression:
        """A scalar as a JSON value (for make_list and friends)."""
        raise NotImplementedError

    def parse_json(self, node: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def json_agg(self, value: exp.Expression, *, distinct: bool) -> exp.Expression:
        raise NotImplementedError

    def is_json_null(self, node: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def json_head(self, node: exp.Expression, count: int) -> exp.Expression:
        """The first ``count`` elements of the JSON array ``node``."""
        raise NotImplementedError

    def expand(
        self, node: exp.Expression, alias: str
    ) -> tuple[exp.Join, exp.Expression]:
        """A join that gives one row per element of ``node``, and the element.

        As KQL's mv-expand: an object gives one row per property, each a
        one-property object; a null one row with null; an empty array or
        object no row; any other value one row with itself.
        """
        raise NotImplementedError

    # Aggregates.

    def percentile(self, node: exp.Expression, fraction: float) -> exp.Expression:
        raise NotImplementedError


def hour12(dialect: Dialect, node: exp.Expression) -> exp.Expression:
    hour = dialect.field(node, "hour")
    shifted = exp.Add(
        this=dialect.mod(paren(exp.Add(this=hour, expression=number(11))), number(12)),
        expression=number(1),
    )
    return shifted


def json_dumps(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def dialect_for(name: str, params: Params) -> Dialect:
    """The `Dialect` of store ``name`` ("sqlite" or "postgres")."""
    if name == "sqlite":
        from .sqlite_dialect import SqliteDialect

        return SqliteDialect(params)
    if name == "postgres":
        from .postgres_dialect import PostgresDialect

        return PostgresDialect(params)
    raise ValueError(f"unknown SQL dialect {name!r}")
