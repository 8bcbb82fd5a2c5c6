"""KQL's scalar functions, each declared once, by name.

A handler takes the `Expressions` compiler, the call and the scope, and
returns a `Typed`.  What differs by store is asked of the dialect; the rest
(argument checks, KQL's types and null rules) is written here once.
Aggregate functions are in `aggregates`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from sqlglot import exp

from . import ast
from .aggregates import AGGREGATES
from .conversions import CONVERSIONS, text_of
from .errors import fail
from .expressions import NUMERIC, Expressions, Scope
from .sql import Typed, case, cast, concat, eq, fn, is_null, not_, number, paren
from .sql import text as lit

Handler = Callable[[Expressions, ast.Call, Scope], Typed]

SCALARS: dict[str, Handler] = dict(CONVERSIONS)

__all__ = ["AGGREGATES", "SCALARS", "Handler"]


def scalar(*names: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for name in names:
            SCALARS[name] = handler
        return handler

    return register


# Time.


@scalar("now")
def _now(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    ex.args(node, scope, 0, 0)
    return Typed(ex.d.param(ex.now, "datetime"), "datetime", True, ex.now)


@scalar("ago")
def _ago(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    (span,) = ex.args(node, scope, 1, 1)
    if span.constant and span.type == "timespan" and span.value is not None:
        assert isinstance(span.value, float)
        value = ex.now - timedelta(seconds=span.value)
        return Typed(ex.d.param(value, "datetime"), "datetime", True, value)
    span = ex.expect(node, span, 0, {"timespan"})
    now = ex.d.param(ex.now, "datetime")
    return Typed(ex.d.add_seconds(now, exp.Neg(this=paren(span.sql))), "datetime")


@scalar("bin", "floor")
def _bin(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    if node.name == "floor" and len(node.args) == 1:
        (value,) = ex.args(node, scope, 1, 1)
        value = ex.expect(node, value, 0, set(NUMERIC))
        return Typed(ex.d.floor(value.sql), value.type)
    value, size = ex.args(node, scope, 2, 2)
    if value.type == "datetime":
        seconds = ex.constant(node, size, 1, {"timespan"})
        assert isinstance(seconds, float)
        if seconds <= 0:
            raise fail("the bin size must be positive", node.args[1].pos)
        binned = ex.d.bin_datetime(value.sql, seconds)
        grouping = ex.d.bin_grouping(value.sql, seconds)
        return Typed(binned, "datetime", grouping=grouping)
    value = ex.expect(node, value, 0, set(NUMERIC) | {"timespan"})
    step = ex.constant(node, size, 1, set(NUMERIC) | {"timespan"})
    assert isinstance(step, int | float)
    if step <= 0:
        raise fail("the bin size must be positive", node.args[1].pos)
    if value.type in ("int", "long") and isinstance(step, int):
        floored = ex.d.floor_micros(value.sql, step)
        return Typed(floored, value.type)
    ratio = exp.Div(this=paren(value.sql), expression=number(float(step)), typed=True)
    floored = exp.Mul(this=ex.d.floor(ratio), expression=number(step))
    return Typed(floored, "real" if value.type != "timespan" else "timespan")


def _start_of(unit: str) -> Handler:
    def handler(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
        (value,) = ex.args(node, scope, 1, 1)
        value = ex.expect(node, value, 0, {"datetime"})
        return Typed(ex.d.start_of(unit, value.sql), "datetime")

    return handler


for _unit in ("day", "week", "month", "year"):
    SCALARS[f"startof{_unit}"] = _start_of(_unit)


_PARTS = {
    "hourofday": "hour",
    "dayofmonth": "day",
    "dayofyear": "dayofyear",
    "getmonth": "month",
    "monthofyear": "month",
    "getyear": "year",
}
"""Functions that give one field of a datetime, as an int."""


def _part_of(part: str) -> Handler:
    def handler(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
        (value,) = ex.args(node, scope, 1, 1)
        value = ex.expect(node, value, 0, {"datetime"})
        return Typed(ex.d.field(value.sql, part), "int")

    return handler


for _name, _part in _PARTS.items():
    SCALARS[_name] = _part_of(_part)


@scalar("dayofweek")
def _dayofweek(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    # A timespan in KQL: the days since the Sunday before.
    (value,) = ex.args(node, scope, 1, 1)
    value = ex.expect(node, value, 0, {"datetime"})
    days = exp.Mul(this=ex.d.field(value.sql, "weekday"), expression=number(86400))
    return Typed(cast(days, ex.d.sql_type("real")), "timespan")


@scalar("endofday")
def _endofday(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    # The last microsecond of the day, as datetimes here have microseconds.
    (value,) = ex.args(node, scope, 1, 1)
    value = ex.expect(node, value, 0, {"datetime"})
    start = ex.d.start_of("day", value.sql)
    return Typed(ex.d.add_seconds(start, number(86400 - 1e-6)), "datetime")


_ADD_SECONDS = {
    "week": 604800.0,
    "day": 86400.0,
    "hour": 3600.0,
    "minute": 60.0,
    "second": 1.0,
    "millisecond": 1e-3,
    "microsecond": 1e-6,
}
_ADD_MONTHS = {"year": 12, "quarter": 3, "month": 1}


@scalar("datetime_add")
def _datetime_add(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    part_arg, amount, value = ex.args(node, scope, 3, 3)
    part = str(ex.constant(node, part_arg, 0, {"string"})).lower()
    amount = ex.expect(node, amount, 1, {"int", "long"})
    value = ex.expect(node, value, 2, {"datetime"})
    if part in _ADD_MONTHS:
        months = exp.Mul(this=paren(amount.sql), expression=number(_ADD_MONTHS[part]))
        return Typed(ex.d.add_months(value.sql, months), "datetime")
    if part not in _ADD_SECONDS:
        parts = [*_ADD_MONTHS, *_ADD_SECONDS]
        raise fail(f"unknown datetime part '{part}'", node.args[0].pos, parts)
    seconds = exp.Mul(this=paren(amount.sql), expression=number(_ADD_SECONDS[part]))
    return Typed(ex.d.add_seconds(value.sql, seconds), "datetime")


FORMAT_SPECIFIERS = frozenset(
    {"d", "dd", "h", "hh", "H", "HH", "m", "mm", "M", "MM", "s", "ss", "tt"}
    | {"y", "yy", "yyyy"}
    | {"f" * n for n in range(1, 8)}
    | {"F" * n for n in range(1, 8)}
)
"""The format specifiers KQL documents for format_datetime."""

FORMAT_SEPARATORS = frozenset(" /-:,._[]")
"""The characters KQL allows between the specifiers."""


@scalar("format_datetime")
def _format_datetime(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    value, fmt = ex.args(node, scope, 2, 2)
    value = ex.expect(node, value, 0, {"datetime"})
    pattern = ex.constant(node, fmt, 1, {"string"})
    assert isinstance(pattern, str)
    pieces: list[exp.Expression] = []
    for token in _format_tokens(pattern, node.args[1].pos):
        if token[0] in FORMAT_SEPARATORS:
            pieces.append(ex.d.param(token, "string"))
        else:
            pieces.append(_format_piece(ex, value.sql, token))
    if not pieces:
        return Typed(ex.d.param("", "string"), "string")
    formatted = concat(*pieces)
    return Typed(case([(is_null(value.sql), exp.Null())], formatted), "string")


def _format_piece(ex: Expressions, node: exp.Expression, token: str) -> exp.Expression:
    if token[0] == "F":  # As f, without its trailing zeros.
        digits = ex.d.format_piece(node, "f" * len(token))
        return fn("rtrim", digits, lit("0"))
    if token == "y":  # The year of the century, without a leading zero.
        year = ex.d.mod(ex.d.field(node, "year"), number(100))
        return ex.d.to_text(Typed(year, "long"))
    return ex.d.format_piece(node, token)


def _format_tokens(pattern: str, pos: ast.Pos) -> list[str]:
    """The specifiers (runs of one letter) and separators of ``pattern``;
    anything else is refused, as KQL refuses it."""
    tokens = [match.group() for match in re.finditer(r"([A-Za-z])\1*|.", pattern)]
    for token in tokens:
        known = FORMAT_SPECIFIERS if token[0].isalpha() else FORMAT_SEPARATORS
        if token not in known:
            raise fail(
                f"format_datetime() does not support {token!r}: use d, dd, M, MM,"
                " y, yy, yyyy, h, hh, H, HH, m, mm, s, ss, f to fffffff,"
                " F to FFFFFFF, tt and the separators / - : , . _ [ ] and space",
                pos,
            )
    return tokens


_DIFF_MICROS = {
    "hour": 3_600_000_000,
    "minute": 60_000_000,
    "second": 1_000_000,
    "millisecond": 1000,
    "microsecond": 1,
}


@scalar("datetime_diff")
def _datetime_diff(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    part_arg, a, b = ex.args(node, scope, 3, 3)
    part = str(ex.constant(node, part_arg, 0, {"string"})).lower()
    a = ex.expect(node, a, 1, {"datetime"})
    b = ex.expect(node, b, 2, {"datetime"})
    try:
        left, right = _diff_index(ex, part, a.sql), _diff_index(ex, part, b.sql)
    except KeyError:
        raise fail(f"unknown datetime part '{part}'", node.args[0].pos) from None
    return Typed(cast(exp.Sub(this=left, expression=right), "BIGINT"), "long")


def _diff_index(ex: Expressions, part: str, node: exp.Expression) -> exp.Expression:
    """A count of ``part`` boundaries since a fixed origin, so that the
    difference of two counts is KQL's datetime_diff."""
    d = ex.d
    if part == "year":
        return d.field(node, "year")
    if part in ("quarter", "month"):
        months = exp.Add(
            this=exp.Mul(this=d.field(node, "year"), expression=number(12)),
            expression=exp.Sub(this=d.field(node, "month"), expression=number(1)),
        )
        if part == "month":
            return paren(months)
        return exp.Div(this=paren(months), expression=number(3), typed=True)
    if part == "week":
        # 1970-01-01 was a Thursday: shift so that weeks start on Sunday.
        shifted = exp.Add(this=d.field(node, "epochday"), expression=number(4))
        floored = d.floor_micros(shifted, 7)
        return exp.Div(this=paren(floored), expression=number(7), typed=True)
    if part == "day":
        return d.field(node, "epochday")
    size = _DIFF_MICROS[part]
    floored = d.floor_micros(d.micros(node), size)
    return exp.Div(this=paren(floored), expression=number(size), typed=True)


# Nulls and conditions.


@scalar("coalesce")
def _coalesce(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    values = ex.args(node, scope, 1, 64)
    kql_type = _common_type(node, values)
    if kql_type != "string":
        return Typed(fn("COALESCE", *[v.sql for v in values]), kql_type)
    # The first string that is not empty; "" if there is none.
    texts = [
        v.sql if v.constant and v.value else fn("NULLIF", v.sql, lit(""))
        for v in values
    ]
    return Typed(fn("COALESCE", *texts, lit("")), "string")


@scalar("iff", "iif")
def _iff(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    if len(node.args) != 3:
        ex.args(node, scope, 3, 3)
    condition = ex.boolean(node.args[0], scope, f"the condition of {node.name}()")
    then = ex.compile(node.args[1], scope)
    otherwise = ex.compile(node.args[2], scope)
    kql_type = _common_type(node, [then, otherwise])
    return Typed(case([(condition.sql, then.sql)], otherwise.sql), kql_type)


@scalar("case")
def _case(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    if len(node.args) < 3 or len(node.args) % 2 == 0:
        raise fail(
            "case() takes pairs of condition and value, then a default", node.pos
        )
    pairs, values = [], []
    for condition_node, value_node in zip(
        node.args[:-1:2], node.args[1::2], strict=True
    ):
        condition = ex.boolean(condition_node, scope, "a condition of case()")
        value = ex.compile(value_node, scope)
        pairs.append((condition.sql, value.sql))
        values.append(value)
    default = ex.compile(node.args[-1], scope)
    kql_type = _common_type(node, [*values, default])
    return Typed(case(pairs, default.sql), kql_type)


def _common_type(node: ast.Call, values: list[Typed]) -> str:
    types = {v.type for v in values if not (v.constant and v.value is None)}
    if not types:
        return values[0].type
    if types <= NUMERIC:
        return "real" if "real" in types else "long" if "long" in types else "int"
    if len(types) > 1:
        listed = ", ".join(sorted(types))
        raise fail(f"{node.name}() mixes values of types {listed}", node.pos)
    return types.pop()


def _null_test(negated: bool, blank: bool) -> Handler:
    def handler(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
        (value,) = ex.args(node, scope, 1, 1)
        if value.type == "dynamic":
            json = ex.d.json(value)
            sql = ex.d.is_json_null(json)
            if blank:  # The JSON string "" is empty too.
                empty = eq(ex.d.json_text(json), lit(""))
                sql = exp.Or(this=sql, expression=empty)
        else:
            sql = is_null(value.sql)
        if blank and value.type == "string":
            sql = exp.Or(this=sql, expression=eq(value.sql, lit("")))
        return Typed(not_(sql) if negated else sql, "bool")

    return handler


SCALARS["isnull"] = _null_test(False, False)
SCALARS["isnotnull"] = _null_test(True, False)
SCALARS["isempty"] = _null_test(False, True)
SCALARS["isnotempty"] = _null_test(True, True)


@scalar("not")
def _not(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    if len(node.args) != 1:
        ex.args(node, scope, 1, 1)
    value = ex.boolean(node.args[0], scope, "the argument of not()")
    return Typed(not_(value.sql), "bool")


_DYNAMIC_TYPES = {"object": "dictionary", "array": "array", "integer": "long"}
_DYNAMIC_TYPES |= {"number": "real", "real": "real", "text": "string"}
_DYNAMIC_TYPES |= {"string": "string", "boolean": "bool", "true": "bool"}
_DYNAMIC_TYPES |= {"false": "bool"}
"""KQL's name of each JSON type SQLite's json_type or PostgreSQL's
jsonb_typeof gives."""


@scalar("gettype")
def _gettype(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    (value,) = ex.args(node, scope, 1, 1)
    if value.type != "dynamic":
        return Typed(ex.d.param(value.type, "string"), "string", True, value.type)
    # A dynamic value's type is that of what it holds, known row by row.
    json = ex.d.json(value)
    kind = ex.d.json_kind(json)
    # PostgreSQL has one JSON number type: a whole one is a long, as in SQLite.
    whole = ex.d.regex(ex.d.json_text(json), "^-?[0-9]+$")
    number_kind = exp.And(this=eq(kind, lit("number")), expression=whole)
    pairs: list[tuple[exp.Expression, exp.Expression]] = [(number_kind, lit("long"))]
    pairs += [(eq(kind, lit(k)), lit(v)) for k, v in _DYNAMIC_TYPES.items()]
    return Typed(case(pairs, lit("null")), "string")


# Strings.


def _string_args(
    ex: Expressions, node: ast.Call, scope: Scope, low: int, high: int
) -> list[Typed]:
    values = ex.args(node, scope, low, high)
    return [ex.expect(node, value, i, {"string"}) for i, value in enumerate(values)]


@scalar("strlen")
def _strlen(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    (value,) = _string_args(ex, node, scope, 1, 1)
    return Typed(ex.d.strlen(fn("COALESCE", value.sql, lit(""))), "long")


@scalar("tolower", "toupper")
def _case_change(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    (value,) = _string_args(ex, node, scope, 1, 1)
    if node.name == "tolower":
        return Typed(ex.d.lower(value.sql), "string")
    return Typed(ex.d.upper(value.sql), "string")


@scalar("substring")
def _substring(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    values = ex.args(node, scope, 2, 3)
    text = ex.expect(node, values[0], 0, {"string"})
    start = ex.expect(node, values[1], 1, {"int", "long"})
    first = exp.Add(
        this=paren(
            fn("MAX" if ex.d.name == "sqlite" else "GREATEST", start.sql, number(0))
        ),
        expression=number(1),
    )
    if len(values) == 2:
        return Typed(fn("substr", text.sql, first), "string")
    length = ex.expect(node, values[2], 2, {"int", "long"})
    greatest = "MAX" if ex.d.name == "sqlite" else "GREATEST"
    return Typed(
        fn("substr", text.sql, first, fn(greatest, length.sql, number(0))), "string"
    )


@scalar("strcat")
def _strcat(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    values = ex.args(node, scope, 1, 64)
    return Typed(concat(*[text_of(ex, v) for v in values]), "string")


@scalar("replace_string")
def _replace_string(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    text, lookup, rewrite = _string_args(ex, node, scope, 3, 3)
    return Typed(fn("replace", text.sql, lookup.sql, rewrite.sql), "string")


@scalar("split")
def _split(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    text, delimiter = _string_args(ex, node, scope, 2, 2)
    return Typed(ex.d.split(text.sql, delimiter.sql), "dynamic")


@scalar("extract")
def _extract(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    from .regex import check_regex

    pattern_arg, group_arg, text = ex.args(node, scope, 3, 3)
    pattern = ex.constant(node, pattern_arg, 0, {"string"})
    group = ex.constant(node, group_arg, 1, {"long"})
    assert isinstance(pattern, str) and isinstance(group, int)
    check_regex(pattern, node.args[0].pos)
    from .regex import python_regex

    if not 0 <= group <= python_regex(pattern).groups:
        raise fail(f"the pattern has no group {group}", node.args[1].pos)
    text = ex.expect(node, text, 2, {"string"})
    return Typed(ex.d.extract(pattern, group, text.sql), "string")


# Dynamic values.


@scalar("array_length")
def _array_length(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    (value,) = ex.args(node, scope, 1, 1)
    if value.type != "dynamic":
        raise fail(f"array_length() takes a dynamic array, not {value.type}", node.pos)
    return Typed(ex.d.json_array_length(ex.d.json(value)), "long")


# Numbers.


@scalar("round")
def _round(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    values = ex.args(node, scope, 1, 2)
    value = ex.expect(node, values[0], 0, set(NUMERIC))
    digits = 0
    if len(values) == 2:
        found = ex.constant(node, values[1], 1, {"long"})
        assert isinstance(found, int)
        digits = found
    if value.type != "real" and digits >= 0:
        return value
    return Typed(ex.d.round(value.sql, digits), "real")


@scalar("abs")
def _abs(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    (value,) = ex.args(node, scope, 1, 1)
    value = ex.expect(node, value, 0, set(NUMERIC) | {"timespan"})
    return Typed(fn("ABS", value.sql), value.type)
