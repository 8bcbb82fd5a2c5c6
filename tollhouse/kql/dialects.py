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
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlglot import exp

from ..store.schema import utc_timestamp
from .sql import (
    Grouping,
    Params,
    Typed,
    case,
    cast,
    concat,
    eq,
    fn,
    is_null,
    number,
    paren,
)
from .sql import text as lit

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

_MICRO = 1_000_000
_TEXT_PREFIX = {86400.0: 10, 3600.0: 13, 60.0: 16, 1.0: 19}
"""How much of a SQLite timestamp's text is a bin of so many seconds."""
_TRUNC_UNITS = {86400.0: "day", 3600.0: "hour", 60.0: "minute", 1.0: "second"}


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
        size = round(seconds * _MICRO)
        return self.from_micros(self.floor_micros(self.micros(node), size))

    def bin_grouping(self, node: exp.Expression, seconds: float) -> Grouping | None:
        """A cheaper key for summarize to group ``bin(node, seconds)`` by."""
        return None

    def add_seconds(
        self, node: exp.Expression, seconds: exp.Expression
    ) -> exp.Expression:
        scaled = exp.Mul(this=paren(seconds), expression=number(_MICRO))
        delta = cast(
            fn("floor", exp.Add(this=scaled, expression=number(0.5))), "BIGINT"
        )
        return self.from_micros(exp.Add(this=self.micros(node), expression=delta))

    def seconds_between(self, a: exp.Expression, b: exp.Expression) -> exp.Expression:
        diff = exp.Sub(this=self.micros(a), expression=self.micros(b))
        return exp.Div(
            this=cast(paren(diff), self.sql_type("real")),
            expression=number(float(_MICRO)),
            typed=True,
            safe=False,
        )

    def start_of(self, unit: str, node: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def field(self, node: exp.Expression, name: str) -> exp.Expression:
        """One field of a datetime as an integer: year, month, day, hour,
        minute, second, microsecond, weekday (0 is Sunday) or epochday."""
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

    def to_json(self, typed: Typed) -> exp.Expression:
        """A scalar as a JSON value (for make_list and friends)."""
        raise NotImplementedError

    def parse_json(self, node: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def json_agg(self, value: exp.Expression, *, distinct: bool) -> exp.Expression:
        raise NotImplementedError

    def is_json_null(self, node: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def expand(
        self, node: exp.Expression, alias: str
    ) -> tuple[exp.Join, exp.Expression]:
        """A join that gives one row per element of ``node``, and the element."""
        raise NotImplementedError

    # Aggregates.

    def percentile(self, node: exp.Expression, fraction: float) -> exp.Expression:
        raise NotImplementedError


class SqliteDialect(Dialect):
    """SQLite 3.40 with the functions of `sqlite_functions` registered."""

    name = "sqlite"

    def param(self, value: object, kql_type: str) -> exp.Expression:
        if value is None:
            return exp.Null()
        if isinstance(value, datetime):
            value = utc_timestamp(value)
        elif kql_type == "dynamic":
            value = _json_dumps(value)
        elif isinstance(value, bool):
            value = int(value)
        return self.params.add(value)

    def lower(
        self, node: exp.Expression, *, ascii_only: bool = False
    ) -> exp.Expression:
        return fn("lower" if ascii_only else "kql_lower", node)

    def upper(self, node: exp.Expression) -> exp.Expression:
        return fn("kql_upper", node)

    def position(
        self, haystack: exp.Expression, needle: exp.Expression
    ) -> exp.Expression:
        return fn("instr", haystack, needle)

    def strlen(self, node: exp.Expression) -> exp.Expression:
        return fn("length", node)

    def pad(self, node: exp.Expression, width: int) -> exp.Expression:
        return fn("printf", lit(f"%0{width}d"), node)

    def starts_with(self, node: exp.Expression, prefix: str) -> exp.Expression:
        head = fn("substr", node, number(1), number(len(prefix)))
        return eq(head, self.param(prefix, "string"))

    def ends_with(self, node: exp.Expression, suffix: str) -> exp.Expression:
        if not suffix:
            return exp.Boolean(this=True)
        tail = fn("substr", node, number(-len(suffix)))
        return eq(tail, self.param(suffix, "string"))

    def mod(self, left: exp.Expression, right: exp.Expression) -> exp.Expression:
        return exp.Mod(this=paren(left), expression=paren(right))

    def has(self, node: exp.Expression, term: str, *, cs: bool) -> exp.Expression:
        call = fn("kql_has_cs" if cs else "kql_has", node, self.param(term, "string"))
        if not term.isascii():
            return call
        # instr() is much cheaper than the Python function: rule rows out first.
        hay, needle = (
            (node, term) if cs else (self.lower(node, ascii_only=True), term.lower())
        )
        found = exp.GT(
            this=self.position(hay, self.param(needle, "string")), expression=number(0)
        )
        return exp.And(this=found, expression=call)

    def regex(self, node: exp.Expression, pattern: str) -> exp.Expression:
        return fn("kql_regex", node, self.param(pattern, "string"))

    def extract(self, pattern: str, group: int, node: exp.Expression) -> exp.Expression:
        return fn("kql_extract", self.param(pattern, "string"), number(group), node)

    def split(self, node: exp.Expression, delimiter: exp.Expression) -> exp.Expression:
        return fn("kql_split", node, delimiter)

    def round(self, node: exp.Expression, digits: int) -> exp.Expression:
        return fn("kql_round", node, number(digits))

    def text_to(self, node: exp.Expression, kql_type: str) -> exp.Expression:
        return fn(f"kql_to{kql_type}", node)

    def to_text(self, typed: Typed) -> exp.Expression:
        if typed.type == "bool":
            return case([(typed.sql, lit("true"))], lit("false"))
        if typed.type == "dynamic":
            return self.json_text(self.json(typed))
        if typed.type in ("string", "datetime"):
            return typed.sql
        return cast(typed.sql, "TEXT")

    def micros(self, node: exp.Expression) -> exp.Expression:
        seconds = cast(
            fn("strftime", lit("%s"), fn("substr", node, number(1), number(19))),
            "INTEGER",
        )
        fraction = cast(fn("substr", node, number(21), number(6)), "INTEGER")
        return exp.Add(
            this=exp.Mul(this=seconds, expression=number(_MICRO)), expression=fraction
        )

    def from_micros(self, node: exp.Expression) -> exp.Expression:
        fraction = self.mod(
            paren(
                exp.Add(this=self.mod(node, number(_MICRO)), expression=number(_MICRO))
            ),
            number(_MICRO),
        )
        seconds = exp.Div(
            this=paren(exp.Sub(this=paren(node), expression=paren(fraction))),
            expression=number(_MICRO),
            typed=True,
            safe=False,
        )
        clock = fn("strftime", lit("%Y-%m-%dT%H:%M:%S"), seconds, lit("unixepoch"))
        return concat(clock, lit("."), fn("printf", lit("%06d"), fraction), lit("Z"))

    def bin_datetime(self, node: exp.Expression, seconds: float) -> exp.Expression:
        grouping = self.bin_grouping(node, seconds)
        if grouping is None:
            return super().bin_datetime(node, seconds)
        return grouping.rebuild(grouping.key)

    def bin_grouping(self, node: exp.Expression, seconds: float) -> Grouping | None:
        # The text's prefix is the bin for whole days, hours, minutes and
        # seconds: group by it, and add the rest once per group.
        keep = _TEXT_PREFIX.get(seconds)
        if keep is None:
            return None
        zeros = lit("T00:00:00.000000Z"[keep - 10 :])
        return Grouping(
            fn("substr", node, number(1), number(keep)),
            lambda key: concat(key, zeros.copy()),
        )

    def start_of(self, unit: str, node: exp.Expression) -> exp.Expression:
        day = fn("substr", node, number(1), number(10))
        if unit == "day":
            return concat(day, lit("T00:00:00.000000Z"))
        if unit == "month":
            return concat(
                fn("substr", node, number(1), number(7)), lit("-01T00:00:00.000000Z")
            )
        if unit == "year":
            return concat(
                fn("substr", node, number(1), number(4)), lit("-01-01T00:00:00.000000Z")
            )
        weekday = cast(fn("strftime", lit("%w"), day), "INTEGER")
        sunday = fn("date", exp.Sub(this=fn("julianday", day), expression=weekday))
        return concat(sunday, lit("T00:00:00.000000Z"))

    def field(self, node: exp.Expression, name: str) -> exp.Expression:
        spans = {"year": (1, 4), "month": (6, 2), "day": (9, 2), "hour": (12, 2)}
        spans |= {"minute": (15, 2), "second": (18, 2), "microsecond": (21, 6)}
        day = fn("substr", node, number(1), number(10))
        if name == "weekday":
            return cast(fn("strftime", lit("%w"), day), "INTEGER")
        if name == "epochday":
            return cast(
                exp.Sub(this=fn("julianday", day), expression=number(2440587.5)),
                "INTEGER",
            )
        start, length = spans[name]
        return cast(fn("substr", node, number(start), number(length)), "INTEGER")

    def format_piece(self, node: exp.Expression, token: str) -> exp.Expression:
        spans = {"yyyy": (1, 4), "yy": (3, 2), "MM": (6, 2), "dd": (9, 2)}
        spans |= {"HH": (12, 2), "mm": (15, 2), "ss": (18, 2)}
        fields = {"M": "month", "d": "day", "H": "hour", "m": "minute", "s": "second"}
        if token in spans:
            return fn("substr", node, number(spans[token][0]), number(spans[token][1]))
        if token in fields:
            return cast(self.field(node, fields[token]), "TEXT")
        if token[0] == "f":
            digits = fn("substr", node, number(21), number(min(len(token), 6)))
            return concat(digits, lit("0")) if len(token) == 7 else digits
        hour12 = _hour12(self, node)
        if token == "hh":
            return fn("printf", lit("%02d"), hour12)
        if token == "h":
            return cast(hour12, "TEXT")
        return case(
            [(exp.LT(this=self.field(node, "hour"), expression=number(12)), lit("AM"))],
            lit("PM"),
        )

    def json(self, typed: Typed) -> exp.Expression:
        if not typed.raw_json:
            return typed.sql
        node = typed.sql
        return case(
            [(is_null(node), exp.Null()), (fn("json_valid", node), node)],
            fn("json_quote", node),
        )

    def json_get(self, node: exp.Expression, key: str) -> exp.Expression:
        if '"' in key or "\\" in key:
            raise ValueError("a property name with a quote or backslash")
        return exp.JSONExtract(
            this=paren(node), expression=self.param(f'$."{key}"', "string")
        )

    def json_index(self, node: exp.Expression, index: int) -> exp.Expression:
        path = f"$[{index}]" if index >= 0 else f"$[#{index}]"
        return exp.JSONExtract(this=paren(node), expression=lit(path))

    def json_text(self, node: exp.Expression) -> exp.Expression:
        kind = fn("json_type", node)
        return case(
            [
                (eq(kind, lit("true")), lit("true")),
                (eq(kind, lit("false")), lit("false")),
            ],
            cast(exp.JSONExtractScalar(this=paren(node), expression=lit("$")), "TEXT"),
        )

    def json_number(self, node: exp.Expression) -> exp.Expression:
        kind = fn("json_type", node)
        numeric = exp.In(this=kind, expressions=[lit("integer"), lit("real")])
        return case(
            [(numeric, exp.JSONExtractScalar(this=paren(node), expression=lit("$")))]
        )

    def json_array_length(self, node: exp.Expression) -> exp.Expression:
        return case(
            [(eq(fn("json_type", node), lit("array")), fn("json_array_length", node))]
        )

    def to_json(self, typed: Typed) -> exp.Expression:
        node = typed.sql
        if typed.type == "dynamic":
            return fn("json", self.json(typed))
        if typed.type == "bool":
            return case(
                [(is_null(node), exp.Null()), (node, fn("json", lit("true")))],
                fn("json", lit("false")),
            )
        return node

    def parse_json(self, node: exp.Expression) -> exp.Expression:
        return case(
            [(is_null(node), exp.Null()), (fn("json_valid", node), fn("json", node))],
            fn("json_quote", node),
        )

    def json_agg(self, value: exp.Expression, *, distinct: bool) -> exp.Expression:
        arg = exp.Distinct(expressions=[value]) if distinct else value
        return fn("json_group_array", arg)

    def is_json_null(self, node: exp.Expression) -> exp.Expression:
        return exp.Or(
            this=is_null(node), expression=eq(fn("json_type", node), lit("null"))
        )

    def expand(
        self, node: exp.Expression, alias: str
    ) -> tuple[exp.Join, exp.Expression]:
        array = case(
            [
                (is_null(node), lit("[]")),
                (eq(fn("json_type", node), lit("array")), node),
            ],
            fn("json_array", fn("json", node)),
        )
        table = exp.Table(
            this=fn("json_each", array),
            alias=exp.TableAlias(this=exp.to_identifier(alias)),
        )
        join = exp.Join(this=table, on=exp.Boolean(this=True))
        path = exp.Column(
            this=exp.to_identifier("fullkey"), table=exp.to_identifier(alias)
        )
        return join, exp.JSONExtract(this=paren(array), expression=path)

    def percentile(self, node: exp.Expression, fraction: float) -> exp.Expression:
        return fn("kql_percentile", node, number(fraction))


class PostgresDialect(Dialect):
    """PostgreSQL 12 or later, queried through psycopg."""

    name = "postgres"

    def param(self, value: object, kql_type: str) -> exp.Expression:
        if value is None:
            return self.null(kql_type)
        if kql_type == "dynamic":
            value = _json_dumps(value)
        return cast(self.params.add(value), self.sql_type(kql_type))

    def position(
        self, haystack: exp.Expression, needle: exp.Expression
    ) -> exp.Expression:
        return fn("strpos", haystack, needle)

    def strlen(self, node: exp.Expression) -> exp.Expression:
        return fn("char_length", node)

    def pad(self, node: exp.Expression, width: int) -> exp.Expression:
        return fn("lpad", cast(node, "TEXT"), number(width), lit("0"))

    def starts_with(self, node: exp.Expression, prefix: str) -> exp.Expression:
        return fn("starts_with", node, self.param(prefix, "string"))

    def ends_with(self, node: exp.Expression, suffix: str) -> exp.Expression:
        tail = fn("right", node, number(len(suffix)))
        return eq(tail, self.param(suffix, "string"))

    def ordered_text(self, node: exp.Expression) -> exp.Expression:
        return exp.Collate(
            this=paren(node), expression=exp.Identifier(this="C", quoted=True)
        )

    def has(self, node: exp.Expression, term: str, *, cs: bool) -> exp.Expression:
        hay = node if cs else self.lower(node)
        needle = term if cs else term.lower()
        escaped = re.sub(r"([^0-9A-Za-z\x80-\U0010ffff])", r"\\\1", needle)
        pattern = f"(^|[^[:alnum:]]){escaped}($|[^[:alnum:]])"
        return exp.RegexpLike(this=paren(hay), expression=self.param(pattern, "string"))

    def regex(self, node: exp.Expression, pattern: str) -> exp.Expression:
        return exp.RegexpLike(
            this=paren(node), expression=self.param(pattern, "string")
        )

    def extract(self, pattern: str, group: int, node: exp.Expression) -> exp.Expression:
        match = fn("regexp_match", node, self.param(f"({pattern})", "string"))
        return exp.Bracket(this=exp.Paren(this=match), expressions=[number(group)])

    def split(self, node: exp.Expression, delimiter: exp.Expression) -> exp.Expression:
        parts = fn("to_jsonb", fn("string_to_array", node, delimiter))
        empty = eq(node, lit(""))
        return case([(empty, cast(lit('[""]'), "JSONB"))], parts)

    def round(self, node: exp.Expression, digits: int) -> exp.Expression:
        rounded = fn("round", cast(node, "NUMERIC"), number(digits))
        return cast(rounded, "DOUBLE PRECISION")

    def text_to(self, node: exp.Expression, kql_type: str) -> exp.Expression:
        pattern = {"long": LONG_TEXT, "int": INT_TEXT, "real": REAL_TEXT}.get(kql_type)
        if kql_type == "datetime":
            matches = exp.RegexpLike(this=paren(node), expression=lit(DATETIME_TEXT))
            naive = cast(fn("rtrim", node, lit("Z")), "TIMESTAMP")
            return case([(matches, exp.AtTimeZone(this=naive, zone=lit("UTC")))])
        if kql_type == "bool":
            lowered = self.lower(node)
            return case(
                [
                    (eq(lowered, lit("true")), exp.Boolean(this=True)),
                    (eq(lowered, lit("false")), exp.Boolean(this=False)),
                ]
            )
        assert pattern is not None
        matches = exp.RegexpLike(this=paren(node), expression=lit(pattern))
        converted = cast(node, self.sql_type(kql_type))
        if kql_type in INTEGER_RANGES:
            # Only a number in range is cast: a larger one would fail the query.
            low, high = INTEGER_RANGES[kql_type]
            exact = cast(node, "NUMERIC")
            fits = exp.Between(this=exact, low=number(low), high=number(high))
            converted = case([(fits, converted)])
        return case([(matches, converted)])

    def to_text(self, typed: Typed) -> exp.Expression:
        if typed.type == "bool":
            return case(
                [(typed.sql, lit("true"))],
                case([(exp.Not(this=paren(typed.sql)), lit("false"))]),
            )
        if typed.type == "dynamic":
            return self.json_text(typed.sql)
        if typed.type == "datetime":
            utc = exp.AtTimeZone(this=paren(typed.sql), zone=lit("UTC"))
            return fn("to_char", utc, lit('YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
        if typed.type == "string":
            return typed.sql
        return cast(typed.sql, "TEXT")

    def micros(self, node: exp.Expression) -> exp.Expression:
        epoch = exp.Extract(this=exp.Var(this="EPOCH"), expression=node)
        return cast(exp.Mul(this=epoch, expression=number(_MICRO)), "BIGINT")

    def from_micros(self, node: exp.Expression) -> exp.Expression:
        epoch = cast(lit("1970-01-01T00:00:00Z"), "TIMESTAMPTZ")
        step = cast(lit("1 microsecond"), "INTERVAL")
        return exp.Add(
            this=epoch, expression=exp.Mul(this=paren(node), expression=step)
        )

    def bin_datetime(self, node: exp.Expression, seconds: float) -> exp.Expression:
        unit = _TRUNC_UNITS.get(seconds)
        if unit is None:
            return super().bin_datetime(node, seconds)
        # The session's time zone is UTC (see `run.PostgresQueryEngine`), so
        # days start at UTC midnight; date_trunc is far cheaper than the
        # arithmetic of other bin sizes.
        return fn("date_trunc", lit(unit), node)

    def start_of(self, unit: str, node: exp.Expression) -> exp.Expression:
        if unit != "week":
            return fn("date_trunc", lit(unit), node, lit("UTC"))
        day = fn("date_trunc", lit("day"), node, lit("UTC"))
        back = exp.Mul(
            this=self.field(node, "weekday"),
            expression=cast(lit("24 hours"), "INTERVAL"),
        )
        return exp.Sub(this=day, expression=back)

    def field(self, node: exp.Expression, name: str) -> exp.Expression:
        utc = exp.AtTimeZone(this=paren(node), zone=lit("UTC"))
        if name == "epochday":
            days = exp.Sub(
                this=cast(utc, "DATE"), expression=cast(lit("1970-01-01"), "DATE")
            )
            return paren(days)
        if name == "microsecond":
            return self.mod(self.micros(node), number(_MICRO))
        part = {"weekday": "DOW"}.get(name, name.upper())
        return cast(exp.Extract(this=exp.Var(this=part), expression=utc), "INTEGER")

    def format_piece(self, node: exp.Expression, token: str) -> exp.Expression:
        patterns = {"yyyy": "YYYY", "yy": "YY", "MM": "MM", "M": "FMMM", "dd": "DD"}
        patterns |= {"d": "FMDD", "HH": "HH24", "H": "FMHH24", "hh": "HH12"}
        patterns |= {"h": "FMHH12", "mm": "MI", "m": "FMMI", "ss": "SS", "s": "FMSS"}
        patterns |= {"tt": "AM"}
        utc = exp.AtTimeZone(this=paren(node), zone=lit("UTC"))
        if token[0] == "f":
            digits = fn(
                "substr",
                fn("to_char", utc, lit("US")),
                number(1),
                number(min(len(token), 6)),
            )
            return concat(digits, lit("0")) if len(token) == 7 else digits
        return fn("to_char", utc, lit(patterns[token]))

    def json_get(self, node: exp.Expression, key: str) -> exp.Expression:
        return fn("jsonb_extract_path", node, self.param(key, "string"))

    def json_index(self, node: exp.Expression, index: int) -> exp.Expression:
        return fn("jsonb_extract_path", node, lit(str(index)))

    def json_text(self, node: exp.Expression) -> exp.Expression:
        return fn("jsonb_extract_path_text", fn("jsonb_build_array", node), lit("0"))

    def json_number(self, node: exp.Expression) -> exp.Expression:
        numeric = eq(fn("jsonb_typeof", node), lit("number"))
        return case([(numeric, cast(self.json_text(node), "DOUBLE PRECISION"))])

    def json_array_length(self, node: exp.Expression) -> exp.Expression:
        is_array = eq(fn("jsonb_typeof", node), lit("array"))
        return case([(is_array, fn("jsonb_array_length", node))])

    def to_json(self, typed: Typed) -> exp.Expression:
        if typed.type == "dynamic":
            return typed.sql
        if typed.type == "datetime":
            return fn("to_jsonb", self.to_text(typed))
        return fn("to_jsonb", typed.sql)

    def parse_json(self, node: exp.Expression) -> exp.Expression:
        # PostgreSQL 15 cannot test whether a text is JSON without trying
        # it: texts that look like JSON go through the store's function
        # (`tollhouse.store.postgres.PARSE_JSON_FUNCTION`), which catches
        # the error; others become JSON strings directly, as KQL reads text
        # that is not JSON.
        looks_like = exp.RegexpLike(
            this=paren(node),
            expression=lit(
                r'^\s*([[{"]|-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?\s*$|(true|false|null)\s*$)'
            ),
        )
        parsed = fn("tollhouse_parse_json", node)
        return case([(looks_like, parsed)], fn("to_jsonb", node))

    def json_agg(self, value: exp.Expression, *, distinct: bool) -> exp.Expression:
        arg = exp.Distinct(expressions=[value]) if distinct else value
        return fn("jsonb_agg", arg)

    def is_json_null(self, node: exp.Expression) -> exp.Expression:
        return exp.Or(
            this=is_null(node), expression=eq(fn("jsonb_typeof", node), lit("null"))
        )

    def expand(
        self, node: exp.Expression, alias: str
    ) -> tuple[exp.Join, exp.Expression]:
        array = case(
            [
                (is_null(node), cast(lit("[]"), "JSONB")),
                (eq(fn("jsonb_typeof", node), lit("array")), node),
            ],
            fn("jsonb_build_array", node),
        )
        lateral = exp.Lateral(
            this=fn("jsonb_array_elements", array),
            alias=exp.TableAlias(
                this=exp.to_identifier(alias), columns=[exp.to_identifier("value")]
            ),
        )
        join = exp.Join(this=lateral, kind="CROSS")
        return join, exp.Column(
            this=exp.to_identifier("value"), table=exp.to_identifier(alias)
        )

    def percentile(self, node: exp.Expression, fraction: float) -> exp.Expression:
        order = exp.Order(expressions=[exp.Ordered(this=node)])
        return exp.WithinGroup(
            this=fn("percentile_disc", number(fraction)), expression=order
        )


def _hour12(dialect: Dialect, node: exp.Expression) -> exp.Expression:
    hour = dialect.field(node, "hour")
    shifted = exp.Add(
        this=dialect.mod(paren(exp.Add(this=hour, expression=number(11))), number(12)),
        expression=number(1),
    )
    return shifted


def _json_dumps(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def dialect_for(name: str, params: Params) -> Dialect:
    """The `Dialect` of store ``name`` ("sqlite" or "postgres")."""
    if name == "sqlite":
        return SqliteDialect(params)
    if name == "postgres":
        return PostgresDialect(params)
    raise ValueError(f"unknown SQL dialect {name!r}")
