"""KQL's aggregate functions, each declared once, by name.

Nulls are ignored as KQL ignores them, ``count()`` counts rows, and averages
and sums come out with the same type and value in both stores (PostgreSQL's
``numeric`` results are cast back).  ``percentile`` is the nearest-rank
percentile, exact: the smallest value with at least p % of the values at or
below it (PostgreSQL's ``percentile_disc``; a Python aggregate in SQLite).
``arg_max``, ``arg_min`` and ``percentiles`` make several columns and are
compiled by the summarize operator itself (see `compiler`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlglot import exp

from . import ast
from .errors import fail
from .sql import Typed, blank_text, case, cast, div, fn, is_null, not_, number

if TYPE_CHECKING:
    from .expressions import Expressions, Scope

Handler = Callable[["Expressions", ast.Call, "Scope"], Typed]

NUMERIC = frozenset({"int", "long", "real"})
ORDERED = NUMERIC | {"string", "datetime", "timespan"}

AGGREGATES: dict[str, Handler] = {}

MULTI_COLUMN = frozenset({"arg_max", "arg_min", "percentiles"})
"""Aggregates that give several columns; the summarize operator handles them."""


def aggregate(*names: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for name in names:
            AGGREGATES[name] = handler
        return handler

    return register


@aggregate("count")
def _count(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    values = ex.args(node, scope, 0, 1)
    if not values:
        return Typed(exp.Count(this=exp.Star()), "long")
    return Typed(exp.Count(this=values[0].sql), "long")


@aggregate("countif")
def _countif(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    if len(node.args) != 1:
        ex.args(node, scope, 1, 1)
    condition = ex.boolean(node.args[0], scope, "the condition of countif()")
    return Typed(exp.Count(this=case([(condition.sql, number(1))])), "long")


def _sum_of(ex: Expressions, value: Typed) -> Typed:
    total = exp.Sum(this=value.sql)
    if value.type in ("int", "long"):
        return Typed(cast(total, ex.d.sql_type("long")), "long")
    return Typed(total, value.type)


@aggregate("sum")
def _sum(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    (value,) = ex.args(node, scope, 1, 1)
    value = ex.expect(node, value, 0, set(NUMERIC) | {"timespan"})
    return _sum_of(ex, value)


@aggregate("sumif")
def _sumif(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    if len(node.args) != 2:
        ex.args(node, scope, 2, 2)
    value = ex.expect(node, ex.compile(node.args[0], scope), 0, set(NUMERIC))
    condition = ex.boolean(node.args[1], scope, "the condition of sumif()")
    kept = Typed(case([(condition.sql, value.sql)]), value.type)
    return _sum_of(ex, kept)


@aggregate("avg")
def _avg(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    (value,) = ex.args(node, scope, 1, 1)
    value = ex.expect(node, value, 0, set(NUMERIC) | {"timespan"})
    # Sum and count, not AVG(): PostgreSQL's numeric average would differ
    # from SQLite's in the last digits.
    total = cast(exp.Sum(this=value.sql), ex.d.sql_type("real"))
    result = div(total, exp.Count(this=value.sql))
    return Typed(result, "timespan" if value.type == "timespan" else "real")


@aggregate("min", "max")
def _min_max(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    (value,) = ex.args(node, scope, 1, 1)
    value = ex.expect(node, value, 0, set(ORDERED))
    sql = ex.d.ordered_text(value.sql) if value.type == "string" else value.sql
    kind = exp.Min if node.name == "min" else exp.Max
    return Typed(kind(this=sql), value.type)


@aggregate("take_any", "any")
def _take_any(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    # KQL picks an arbitrary value; both stores must pick the same one, so
    # this is the smallest value that is not null (nor "", for a string).
    (value,) = ex.args(node, scope, 1, 1)
    if value.type == "dynamic":  # No order the two stores share.
        message = f"argument 1 of {node.name}() must not be dynamic: convert it"
        raise fail(message, node.args[0].pos)
    value = ex.expect(node, value, 0, set(ORDERED) | {"bool"})
    if value.type == "string":
        present = fn("NULLIF", value.sql, exp.Literal.string(""))
        smallest = exp.Min(this=ex.d.ordered_text(present))
        return Typed(fn("COALESCE", smallest, exp.Literal.string("")), "string")
    if value.type == "bool":
        as_number = case([(value.sql, number(1)), (not_(value.sql), number(0))])
        return Typed(exp.EQ(this=exp.Min(this=as_number), expression=number(1)), "bool")
    return Typed(exp.Min(this=value.sql), value.type)


@aggregate("dcount")
def _dcount(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    values = ex.args(node, scope, 1, 2)
    # A null string is "", one value with "" (KQL strings are never null).
    distinct = exp.Distinct(expressions=[blank_text(values[0]).sql])
    return Typed(exp.Count(this=distinct), "long")


@aggregate("percentile")
def _percentile(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    value, percent = ex.args(node, scope, 2, 2)
    return percentile_of(ex, node, value, percent, 1)


def percentile_of(
    ex: Expressions, node: ast.Call, value: Typed, percent: Typed, index: int
) -> Typed:
    """The nearest-rank percentile of ``value`` at the constant ``percent``."""
    value = ex.expect(node, value, 0, set(ORDERED))
    p = ex.constant(node, percent, index, set(NUMERIC))
    assert isinstance(p, int | float)
    if not 0 <= p <= 100:
        raise fail("a percentile is between 0 and 100", node.args[index].pos)
    return Typed(ex.d.percentile(value.sql, p / 100), value.type)


def _make_array(distinct: bool) -> Handler:
    def handler(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
        values = ex.args(node, scope, 1, 2)
        # A null string is "", a value like any other: it is listed.
        value = blank_text(values[0])
        if value.type == "dynamic":
            present = not_(ex.d.is_json_null(ex.d.json(value)))
        else:
            present = not_(is_null(value.sql))
        agg = ex.d.json_agg(ex.d.to_json(value), distinct=distinct)
        filtered = exp.Filter(this=agg, expression=exp.Where(this=present))
        empty = ex.d.param([], "dynamic")
        array = fn("COALESCE", filtered, empty)
        if len(values) == 2:
            array = ex.d.json_head(array, _max_size(ex, node, values[1]))
        return Typed(array, "dynamic")

    return handler


def _max_size(ex: Expressions, node: ast.Call, typed: Typed) -> int:
    """The second argument of make_list/make_set: how many values to keep."""
    size = ex.constant(node, typed, 1, {"long"})
    assert isinstance(size, int)
    if size < 1:
        raise fail(f"{node.name}() keeps at least one value, not {size}", node.pos)
    return size


AGGREGATES["make_list"] = _make_array(False)
AGGREGATES["make_set"] = _make_array(True)


def _multi_column(ex: Expressions, node: ast.Call, scope: Scope) -> Typed:
    raise fail(
        f"{node.name}() must stand alone in summarize, not in an expression", node.pos
    )


for _name in MULTI_COLUMN:
    AGGREGATES[_name] = _multi_column


DEFAULT_PREFIX = {
    "count": "count_",
    "countif": "countif_",
    "make_list": "list_",
    "make_set": "set_",
    "take_any": "any_",
}
"""How KQL names an unnamed aggregate: ``sum(X)`` is ``sum_X``, ``count()``
is ``count_``, ``make_list(X)`` is ``list_X``."""
