"""The SQL of PostgreSQL: see `dialects` for what a dialect is."""

from __future__ import annotations

import re

from sqlglot import exp

from .dialects import (
    DATETIME_TEXT,
    INT_TEXT,
    INTEGER_RANGES,
    LONG_TEXT,
    MICRO,
    REAL_TEXT,
    TRUNC_UNITS,
    Dialect,
    json_dumps,
)
from .sql import (
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


class PostgresDialect(Dialect):
    """PostgreSQL 12 or later, queried through psycopg."""

    name = "postgres"

    def param(self, value: object, kql_type: str) -> exp.Expression:
        if value is None:
            return self.null(kql_type)
        if kql_type == "dynamic":
            value = json_dumps(value)
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
        if typed.type == "real":  # A constant is numeric: write it as a double.
            return cast(cast(typed.sql, "DOUBLE PRECISION"), "TEXT")
        return cast(typed.sql, "TEXT")

    def micros(self, node: exp.Expression) -> exp.Expression:
        epoch = exp.Extract(this=exp.Var(this="EPOCH"), expression=node)
        return cast(exp.Mul(this=epoch, expression=number(MICRO)), "BIGINT")

    def from_micros(self, node: exp.Expression) -> exp.Expression:
        epoch = cast(lit("1970-01-01T00:00:00Z"), "TIMESTAMPTZ")
        step = cast(lit("1 microsecond"), "INTERVAL")
        return exp.Add(
            this=epoch, expression=exp.Mul(this=paren(node), expression=step)
        )

    def bin_datetime(self, node: exp.Expression, seconds: float) -> exp.Expression:
        unit = TRUNC_UNITS.get(seconds)
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

    def add_months(
        self, node: exp.Expression, months: exp.Expression
    ) -> exp.Expression:
        # The session's time zone is UTC, so months are UTC calendar months.
        step = cast(lit("1 month"), "INTERVAL")
        return exp.Add(
            this=node, expression=exp.Mul(this=paren(months), expression=step)
        )

    def field(self, node: exp.Expression, name: str) -> exp.Expression:
        utc = exp.AtTimeZone(this=paren(node), zone=lit("UTC"))
        if name == "epochday":
            days = exp.Sub(
                this=cast(utc, "DATE"), expression=cast(lit("1970-01-01"), "DATE")
            )
            return paren(days)
        if name == "microsecond":
            return self.mod(self.micros(node), number(MICRO))
        part = {"weekday": "DOW", "dayofyear": "DOY"}.get(name, name.upper())
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

    def json_kind(self, node: exp.Expression) -> exp.Expression:
        return fn("jsonb_typeof", node)

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

    def json_head(self, node: exp.Expression, count: int) -> exp.Expression:
        return fn("jsonb_path_query_array", node, lit(f"$[0 to {count - 1}]"))

    def is_json_null(self, node: exp.Expression) -> exp.Expression:
        return exp.Or(
            this=is_null(node), expression=eq(fn("jsonb_typeof", node), lit("null"))
        )

    def expand(
        self, node: exp.Expression, alias: str
    ) -> tuple[exp.Join, exp.Expression]:
        array = case(
            [
                (is_null(node), cast(lit("[null]"), "JSONB")),
                (eq(fn("jsonb_typeof", node), lit("array")), node),
                (eq(fn("jsonb_typeof", node), lit("object")), _bag_entries(node)),
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


def _bag_entries(node: exp.Expression) -> exp.Expression:
    """An object's properties as an array of one-property objects (null for
    an empty object, which jsonb_array_elements reads as no element)."""
    pair = exp.TableAlias(
        this=exp.to_identifier("_bag"),
        columns=[exp.to_identifier("k"), exp.to_identifier("v")],
    )
    entry = fn("jsonb_build_object", exp.column("k", "_bag"), exp.column("v", "_bag"))
    select = exp.Select(expressions=[fn("jsonb_agg", entry)]).from_(
        exp.Table(this=fn("jsonb_each", node.copy()), alias=pair)
    )
    return exp.Subquery(this=select)
