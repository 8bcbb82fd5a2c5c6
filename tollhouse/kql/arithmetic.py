"""KQL's arithmetic: what ``+ - * / %`` mean for each pair of types.

Numbers follow SQL (an integer divided by an integer is an integer), except
that a division or remainder by zero gives null in both stores instead of
PostgreSQL's error.  Datetimes and timespans follow KQL: a datetime minus a
datetime is a timespan, a datetime plus a timespan a datetime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from . import ast
from .errors import fail
from .sql import Typed, div, fn, number, paren

if TYPE_CHECKING:
    from .expressions import Expressions

NUMERIC = frozenset({"int", "long", "real"})


def number_type(left: str, right: str) -> str:
    if "real" in (left, right):
        return "real"
    return "long" if "long" in (left, right) else "int"


def arithmetic(ex: Expressions, node: ast.Binary, left: Typed, right: Typed) -> Typed:
    """Compile ``left op right`` by KQL's rules, or fail on a type mismatch."""
    if left.type == "dynamic":
        left = ex.as_type(left, "real")
    if right.type == "dynamic":
        right = ex.as_type(right, "real")
    types = (left.type, right.type)
    if set(types) <= NUMERIC:
        return _numbers(ex, node.op, left, right, number_type(*types))
    if "datetime" in types:
        result = _datetime(ex, node.op, left, right)
    else:
        result = _timespan(node.op, left, right)
    if result is None:
        raise fail(f"cannot apply '{node.op}' to {types[0]} and {types[1]}", node.pos)
    return result


def _numbers(
    ex: Expressions, op: str, left: Typed, right: Typed, kql_type: str
) -> Typed:
    a, b = paren(left.sql), paren(right.sql)
    if op == "/":
        return Typed(div(a, b), kql_type)
    if op == "%":
        return Typed(ex.d.mod(a, fn("NULLIF", b, number(0))), kql_type)
    kinds: dict[str, type[exp.Expression]] = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul}
    return Typed(kinds[op](this=a, expression=b), kql_type)


def _datetime(ex: Expressions, op: str, left: Typed, right: Typed) -> Typed | None:
    if op == "-" and left.type == right.type == "datetime":
        return Typed(ex.d.seconds_between(left.sql, right.sql), "timespan")
    if left.type == "datetime" and right.type == "timespan" and op in "+-":
        span = right.sql if op == "+" else exp.Neg(this=paren(right.sql))
        return Typed(ex.d.add_seconds(left.sql, span), "datetime")
    if op == "+" and left.type == "timespan" and right.type == "datetime":
        return Typed(ex.d.add_seconds(right.sql, left.sql), "datetime")
    return None


def _timespan(op: str, left: Typed, right: Typed) -> Typed | None:
    a, b = paren(left.sql), paren(right.sql)
    types = (left.type, right.type)
    if types == ("timespan", "timespan"):
        if op in "+-":
            kind = exp.Add if op == "+" else exp.Sub
            return Typed(kind(this=a, expression=b), "timespan")
        if op == "/":
            return Typed(div(a, b), "real")
        return None
    if op == "*" and "timespan" in types and set(types) - {"timespan"} <= NUMERIC:
        return Typed(exp.Mul(this=a, expression=b), "timespan")
    if op == "/" and left.type == "timespan" and right.type in NUMERIC:
        return Typed(div(a, b), "timespan")
    return None
