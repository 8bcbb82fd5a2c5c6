"""The SQL of SQLite: see `dialects` for what a dialect is."""

from __future__ import annotations

from datetime import datetime

from sqlglot import exp

from ..store.schema import utc_timestamp
from .dialects import (
    MICRO,
    TEXT_PREFIX,
    Dialect,
    hour12,
    json_dumps,
)
from .sql import (
    Grouping,
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


class SqliteDialect(Dialect):
    """SQLite 3.40 with the functions of `sqlite_functions` registered."""

    name = "sqlite"

    def param(self, value: object, kql_type: str) -> exp.Expression:
        if value is None:
            return exp.Null()
        if isinstance(value, datetime):
            value = utc_timestamp(value)
        elif kql_type == "dynamic":
            value = json_dumps(value)
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
        if typed.type == "real":
            return fn("kql_real_text", typed.sql)
        return cast(typed.sql, "TEXT")

    def micros(self, node: exp.Expression) -> exp.Expression:
        seconds = cast(
            fn("strftime", lit("%s"), fn("substr", node, number(1), number(19))),
            "INTEGER",
        )
        fraction = cast(fn("substr", node, number(21), number(6)), "INTEGER")
        return exp.Add(
            this=exp.Mul(this=seconds, expression=number(MICRO)), expression=fraction
        )

    def from_micros(self, node: exp.Expression) -> exp.Expression:
        fraction = self.mod(
            paren(
                exp.Add(this=self.mod(node, number(MICRO)), expression=number(MICRO))
            ),
            number(MICRO),
        )
        seconds = exp.Div(
            this=paren(exp.Sub(this=paren(node), expression=paren(fraction))),
            expression=number(MICRO),
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
        keep = TEXT_PREFIX.get(seconds)
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

    def add_months(
        self, node: exp.Expression, months: exp.Expression
    ) -> exp.Expression:
        return fn("kql_add_months", node, months)

    def field(self, node: exp.Expression, name: str) -> exp.Expression:
        spans = {"year": (1, 4), "month": (6, 2), "day": (9, 2), "hour": (12, 2)}
        spans |= {"minute": (15, 2), "second": (18, 2), "microsecond": (21, 6)}
        day = fn("substr", node, number(1), number(10))
        if name == "weekday":
            return cast(fn("strftime", lit("%w"), day), "INTEGER")
        if name == "dayofyear":
            return cast(fn("strftime", lit("%j"), day), "INTEGER")
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
        hours = hour12(self, node)
        if token == "hh":
            return fn("printf", lit("%02d"), hours)
        if token == "h":
            return cast(hours, "TEXT")
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
        nested = exp.In(this=kind.copy(), expressions=[lit("object"), lit("array")])
        return case(
            [
                (eq(kind, lit("true")), lit("true")),
                (eq(kind, lit("false")), lit("false")),
                (
                    eq(kind, lit("real")),
                    fn("kql_real_text", fn("json_extract", node, lit("$"))),
                ),
                (nested, fn("kql_json_text", node)),
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

    def json_kind(self, node: exp.Expression) -> exp.Expression:
        return fn("json_type", node)

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

    def json_head(self, node: exp.Expression, count: int) -> exp.Expression:
        return fn("json", fn("kql_array_head", node, number(count)))

    def is_json_null(self, node: exp.Expression) -> exp.Expression:
        return exp.Or(
            this=is_null(node), expression=eq(fn("json_type", node), lit("null"))
        )

    def expand(
        self, node: exp.Expression, alias: str
    ) -> tuple[exp.Join, exp.Expression]:
        array = case(
            [
                (is_null(node), lit("[null]")),
                (eq(fn("json_type", node), lit("array")), node),
                (eq(fn("json_type", node), lit("object")), fn("kql_bag_entries", node)),
            ],
            fn("json_array", fn("json", node)),
        )
        table = exp.Table(
            this=fn("json_each", array),
            alias=exp.TableAlias(this=exp.to_identifier(alias)),
        )
        join = exp.Join(this=table, on=exp.Boolean(this=True))

        def part(name: str) -> exp.Column:
            return exp.Column(
                this=exp.to_identifier(name), table=exp.to_identifier(alias)
            )

        # The element as JSON text, from json_each's own columns rather than
        # from the array again.
        kind, value = part("type"), part("value")
        words = [(eq(kind, lit(w)), lit(w)) for w in ("true", "false", "null")]
        nested = exp.In(this=kind, expressions=[lit("object"), lit("array")])
        element = case([*words, (nested, value)], fn("json_quote", value))
        return join, element

    def percentile(self, node: exp.Expression, fraction: float) -> exp.Expression:
        return fn("kql_percentile", node, number(fraction))
