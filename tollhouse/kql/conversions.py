"""KQL's conversion functions: ``tolong``, ``tostring``, ``parse_json``...

A conversion never fails a query: text that is not a number, or a number
out of the target's range, gives null in both stores.  ``tostring`` gives
"" for a null (KQL strings are never null) and writes a timespan as KQL
does, ``[-][d.]hh:mm:ss[.fffffff]``.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from . import ast
from .dialects import INTEGER_RANGES
from .errors import fail
from .expressions import NUMERIC, Expressions, Scope
from .sql import Typed, case, cast, concat, fn, is_null, not_, number, paren
from .sql import text as lit

Handler = Callable[[Expressions, ast.Call, Scope], Typed]

CONVERSIONS: dict[str, Handler] = {}

_TICKS = 10_000_000


def conversion(*names: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for name in names:
            CONVERSIONS[name] = handler
        return handler

    return register


def _to_number(kql_type: str) -> Handler:
    def handler(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
        (value,) = ex.args(node, scope, 1, 1)
        return Typed(_convert_number(ex, node, value, kql_type), kql_type)

    return handler


def _convert_number(
    ex: Expressions, node: ast.Call, value: Typed, kql_type: str
) -> exp.Expression:
    if value.type == kql_type or (value.type == "int" and kql_type == "long"):
        return value.sql
    if value.type == "string":
        return ex.d.text_to(value.sql, kql_type)
    if value.type == "dynamic":
        return ex.d.text_to(ex.d.json_text(ex.d.json(value)), kql_type)
    if value.type == "bool":
        return case([(value.sql, number(1))], case([(not_(value.sql), number(0))]))
    if value.type not in NUMERIC | {"timespan"}:
        raise fail(f"{node.name}() cannot convert a {value.type}", node.pos)
    sql_type = ex.d.sql_type(kql_type)
    if kql_type == "real":
        return cast(value.sql, sql_type)
    low, high = INTEGER_RANGES[kql_type]
    if value.type in ("int", "long"):
        fits: exp.Expression = exp.Between(
            this=paren(value.sql), low=number(low), high=number(high)
        )
        return case([(fits, cast(value.sql, sql_type))])
    # A real is cut toward zero; it fits if the cut value does.  The bounds
    # are doubles (2**63 is one, 2**63 - 1 is not), compared as doubles.
    real = ex.d.sql_type("real")
    below = cast(number(float(high + 1)), real)
    if kql_type == "long":
        above: exp.Expression = exp.GTE(
            this=paren(value.sql), expression=cast(number(float(low)), real)
        )
    else:
        above = exp.GT(this=paren(value.sql), expression=cast(number(low - 1.0), real))
    fits = exp.And(
        this=above, expression=exp.LT(this=paren(value.sql), expression=below)
    )
    truncated = fn("trunc", value.sql) if ex.d.name == "postgres" else value.sql
    return case([(fits, cast(truncated, sql_type))])


CONVERSIONS["tolong"] = _to_number("long")
CONVERSIONS["toint"] = _to_number("int")
CONVERSIONS["todouble"] = _to_number("real")
CONVERSIONS["toreal"] = _to_number("real")


@conversion("tostring")
def _tostring(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    (value,) = ex.args(node, scope, 1, 1)
    return Typed(text_of(ex, value), "string")


def text_of(ex: Expressions, value: Typed) -> exp.Expression:
    """``value`` as ``tostring`` writes it ("" for null); ``strcat`` too."""
    if value.type == "timespan":
        return case([(is_null(value.sql), lit(""))], timespan_text(ex, value.sql))
    return fn("COALESCE", ex.d.to_text(value), lit(""))


def timespan_text(ex: Expressions, seconds: exp.Expression) -> exp.Expression:
    """KQL's text of a timespan, as `values.timespan_text` writes it."""
    d = ex.d
    scaled = exp.Mul(this=fn("ABS", seconds), expression=number(_TICKS))
    ticks = cast(d.floor(exp.Add(this=scaled, expression=number(0.5))), "BIGINT")

    def whole(size: int) -> exp.Expression:
        return exp.Div(
            this=paren(ticks), expression=number(size), typed=True, safe=False
        )

    negative = exp.And(
        this=exp.LT(this=paren(seconds), expression=number(0)),
        expression=exp.GT(this=paren(ticks), expression=number(0)),
    )
    days = whole(_TICKS * 86400)
    day_text = concat(d.to_text(Typed(days, "long")), lit("."))
    fraction = d.mod(ticks, number(_TICKS))
    fraction_text = concat(lit("."), d.pad(fraction, 7))
    return concat(
        case([(negative, lit("-"))], lit("")),
        case([(exp.GT(this=days, expression=number(0)), day_text)], lit("")),
        d.pad(d.mod(whole(_TICKS * 3600), number(24)), 2),
        lit(":"),
        d.pad(d.mod(whole(_TICKS * 60), number(60)), 2),
        lit(":"),
        d.pad(d.mod(whole(_TICKS), number(60)), 2),
        case([(exp.GT(this=fraction, expression=number(0)), fraction_text)], lit("")),
    )


@conversion("tobool", "toboolean")
def _tobool(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    (value,) = ex.args(node, scope, 1, 1)
    if value.type == "bool":
        return value
    if value.type in NUMERIC:
        sql = exp.NEQ(this=paren(value.sql), expression=number(0))
        return Typed(case([(is_null(value.sql), exp.Null())], sql), "bool")
    if value.type == "dynamic":
        return ex.as_type(value, "bool")
    value = ex.expect(node, value, 0, {"string"})
    return Typed(ex.d.text_to(value.sql, "bool"), "bool")


@conversion("todatetime")
def _todatetime(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    (value,) = ex.args(node, scope, 1, 1)
    if value.type == "datetime":
        return value
    if value.type == "dynamic":
        return ex.as_type(value, "datetime")
    value = ex.expect(node, value, 0, {"string"})
    if value.constant:  # Folded now; a text that is not a datetime is null.
        return ex.datetime_constant(value)
    return Typed(ex.d.text_to(value.sql, "datetime"), "datetime")


@conversion("parse_json", "todynamic")
def _parse_json(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    (value,) = ex.args(node, scope, 1, 1)
    if value.type == "dynamic":
        return value
    if value.type != "string":
        return Typed(ex.d.to_json(value), "dynamic")
    return Typed(ex.d.parse_json(value.sql), "dynamic")
