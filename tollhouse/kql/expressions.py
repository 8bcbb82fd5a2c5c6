"""Compiling KQL scalar expressions to typed sqlglot trees.

`Expressions.compile` walks an `ast` expression against a scope (the columns
of the rows it runs on) and returns a `Typed`: the SQL, its KQL type, and the
Python value when it is a constant.  KQL's type rules decide what an operator
means (``-`` of two datetimes is a timespan), and every string operator has
KQL's meaning: ``==`` is case-sensitive, ``=~`` is not, ``has`` matches whole
terms.  A string column that is null compares as the empty string, as KQL
has no null strings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from sqlglot import exp

from . import ast
from .dialects import Dialect
from .errors import did_you_mean, fail
from .hints import UNSUPPORTED_FUNCTIONS
from .limits import SqlSize
from .sql import Typed, case, eq, fn, is_null, not_, number, paren
from .sql import text as lit
from .syntax import parse_datetime

if TYPE_CHECKING:
    from .functions import Handler
    from .relation import Relation

NUMERIC = frozenset({"int", "long", "real"})

_COMPARE: dict[str, type[exp.Expression]] = {
    "==": exp.EQ,
    "!=": exp.NEQ,
    "<>": exp.NEQ,
    "<": exp.LT,
    "<=": exp.LTE,
    ">": exp.GT,
    ">=": exp.GTE,
}

_STRING_OPS = {"=~", "!~", "has", "has_cs", "contains", "contains_cs"}
_STRING_OPS |= {"startswith", "startswith_cs", "endswith", "endswith_cs"}


@dataclass
class Scope:
    """What names mean where an expression is compiled.

    ``columns`` are the row's columns; ``lets`` the query's scalar ``let``
    values.  In a summarize, ``aggregating`` allows aggregate functions and
    ``in_aggregate`` counts how deep inside one the compiler is, so that a
    bare column outside any aggregate is an error, as in KQL.
    """

    columns: Mapping[str, Typed]
    lets: Mapping[str, Typed] = field(default_factory=dict)
    aggregating: bool = False
    in_aggregate: int = 0
    sides: Mapping[str, Mapping[str, Typed]] = field(default_factory=dict)
    removed: Mapping[str, str] = field(default_factory=dict)


class Expressions:
    """Compiles scalar expressions for one query and one `Dialect`."""

    def __init__(self, dialect: Dialect, now: datetime) -> None:
        self.d = dialect
        self.now = now
        from .functions import AGGREGATES, SCALARS

        self.scalars: Mapping[str, Handler] = SCALARS
        self.aggregates: Mapping[str, Handler] = AGGREGATES
        # Set by the compiler: the sealed relation a tabular name stands for
        # (a tabular let or a table), for ``x in (T)``; None for other names.
        self.tabular: Callable[[str], Relation | None] = lambda name: None
        self.size = SqlSize()
        self._depth = 0  # How many compile() calls are under way.

    def compile(self, node: ast.Expr, scope: Scope) -> Typed:
        """Compile ``node``; fail if the SQL grows past `limits.MAX_SQL_NODES`."""
        method: Callable[[object, Scope], Typed] = getattr(
            self, "_" + type(node).__name__.lower()
        )
        self._depth += 1
        try:
            typed = method(node, scope)
        finally:
            self._depth -= 1
        self.size.add(typed.sql, _pos(node), whole=self._depth == 0)
        return typed

    def boolean(self, node: ast.Expr, scope: Scope, what: str = "a condition") -> Typed:
        """Compile ``node``, which must be a bool (a where, an iff)."""
        typed = self.compile(node, scope)
        if typed.type == "dynamic":
            typed = self.as_type(typed, "bool")
        if typed.type != "bool":
            raise fail(f"{what} must be a bool, not {typed.type}", _pos(node))
        return typed

    # Leaves.

    def _literal(self, node: ast.Literal, scope: Scope) -> Typed:
        value = node.value
        if node.type in ("long", "real", "timespan") and value is not None:
            assert isinstance(value, int | float)
            return Typed(number(value), node.type, True, value)
        if node.type == "bool":
            return Typed(exp.Boolean(this=bool(value)), "bool", True, value)
        if value is None:
            return Typed(exp.Null(), node.type, True, None)
        return Typed(self.d.param(value, node.type), node.type, True, value)

    def _name(self, node: ast.Name, scope: Scope) -> Typed:
        column = scope.columns.get(node.name)
        if column is not None:
            if scope.aggregating and not scope.in_aggregate:
                raise fail(
                    f"column '{node.name}' must be inside an aggregate function"
                    " or listed after 'by'",
                    node.pos,
                )
            return column
        if node.name in scope.lets:
            return scope.lets[node.name]
        known = [*scope.columns, *scope.lets]
        if node.name in scope.removed:
            message = f"column '{node.name}' is not in scope after"
            raise fail(f"{message} {scope.removed[node.name]}", node.pos, known)
        hint = did_you_mean(node.name, known)
        raise fail(f"unknown column '{node.name}'{hint}", node.pos, known)

    def _side(self, node: ast.Side, scope: Scope) -> Typed:
        raise fail(f"${node.side} may only be used in a join's 'on'", node.pos)

    def _star(self, node: ast.Star, scope: Scope) -> Typed:
        raise fail("'*' is only allowed in arg_max and arg_min", node.pos)

    def _member(self, node: ast.Member, scope: Scope) -> Typed:
        if isinstance(node.target, ast.Side):
            return self._side_column(node.target, node.name, node.pos, scope)
        target = self.dynamic(node.target, scope)
        try:
            sql = self.d.json_get(self.d.json(target), node.name)
        except ValueError as exc:
            raise fail(f"cannot read {exc} on this store", node.pos) from None
        return Typed(sql, "dynamic")

    def _index(self, node: ast.Index, scope: Scope) -> Typed:
        target = self.dynamic(node.target, scope)
        index = self.compile(node.index, scope)
        if not (index.constant and index.type == "long"):
            raise fail("an array index must be a whole number constant", node.pos)
        assert isinstance(index.value, int)
        return Typed(self.d.json_index(self.d.json(target), index.value), "dynamic")

    def _side_column(
        self, side: ast.Side, name: str, pos: ast.Pos, scope: Scope
    ) -> Typed:
        columns = scope.sides.get(side.side)
        if columns is None:
            raise fail(f"${side.side} may only be used in a join's 'on'", side.pos)
        if name not in columns:
            hint = did_you_mean(name, columns)
            message = f"unknown column '{name}' on the {side.side}{hint}"
            raise fail(message, pos, list(columns))
        return columns[name]

    def dynamic(self, node: ast.Expr, scope: Scope) -> Typed:
        typed = self.compile(node, scope)
        if typed.type != "dynamic":
            raise fail(
                f"only a dynamic value has properties or elements, not {typed.type}",
                _pos(node),
            )
        return typed

    # Calls.

    def _call(self, node: ast.Call, scope: Scope) -> Typed:
        if node.name in self.aggregates:
            if not scope.aggregating:
                raise fail(
                    f"{node.name}() is an aggregate function: use it in summarize",
                    node.pos,
                )
            if scope.in_aggregate:
                raise fail("aggregate functions cannot be nested", node.pos)
            inner = replace(scope, aggregating=True, in_aggregate=1)
            return self.aggregates[node.name](self, node, inner)
        handler = self.scalars.get(node.name)
        if handler is None and node.name in UNSUPPORTED_FUNCTIONS:
            raise fail(f"'{node.name}' is not supported", node.pos)
        if handler is None:
            names = [*self.scalars, *self.aggregates]
            hint = did_you_mean(node.name, names)
            raise fail(f"unknown function '{node.name}'{hint}", node.pos, sorted(names))
        return handler(self, node, scope)

    # Operators.

    def _negate(self, node: ast.Negate, scope: Scope) -> Typed:
        operand = self.compile(node.operand, scope)
        if operand.type not in NUMERIC | {"timespan"}:
            raise fail(f"cannot negate a {operand.type}", node.pos)
        return Typed(exp.Neg(this=paren(operand.sql)), operand.type)

    def _binary(
        self, node: ast.Binary, scope: Scope, *, filtering: bool = False
    ) -> Typed:
        if node.op in ("and", "or"):
            left = self.boolean(node.left, scope, f"each side of '{node.op}'")
            right = self.boolean(node.right, scope, f"each side of '{node.op}'")
            return _logical(node.op, left, right)
        left = self.compile(node.left, scope)
        right = self.compile(node.right, scope)
        if node.op in ("+", "-", "*", "/", "%"):
            return self.arithmetic(node, left, right)
        if node.op == "matches regex":
            return self.matches(node, left, right)
        negated = node.op.startswith("!") and node.op != "!="
        op = "=~" if node.op == "!~" else node.op[1:] if negated else node.op
        if op in _STRING_OPS:
            return self.string_op(node, op, negated, left, right, filtering)
        return self.comparison(node, left, right, filtering=filtering)

    def condition(self, node: ast.Expr, scope: Scope) -> Typed:
        """Compile a ``where`` predicate, which keeps the rows where it is true.

        A row whose predicate is null is dropped as one where it is false, so
        under ``and`` and ``or`` (never under ``not``) a comparison may stay
        plain SQL, which an index can serve, instead of KQL's two-valued
        form: ``x == 1`` is false for a null ``x``, SQL's null drops the row
        all the same.  Only ``!=`` and ``!in`` must keep the null rows.
        """
        if isinstance(node, ast.Binary) and node.op in ("and", "or"):
            left = self.condition(node.left, scope)
            right = self.condition(node.right, scope)
            return _logical(node.op, left, right)
        if isinstance(node, ast.Binary) and node.op not in _ARITHMETIC:
            return self._binary(node, scope, filtering=True)
        if isinstance(node, ast.InList):
            return self._inlist(node, scope, filtering=True)
        return self.boolean(node, scope, "the 'where' condition")

    def arithmetic(self, node: ast.Binary, left: Typed, right: Typed) -> Typed:
        from .arithmetic import arithmetic

        return arithmetic(self, node, left, right)

    def comparison(
        self, node: ast.Binary, left: Typed, right: Typed, *, filtering: bool = False
    ) -> Typed:
        """``left op right`` by KQL's null rules.

        A null compared with ``<``, ``>``... gives null, as in SQL; ``==`` of
        a null and a value is false, ``!=`` true, and of two nulls null.
        Strings are never null: a null string compares as "".
        """
        left, right = self.comparable(node, left, right)
        op = "!=" if node.op == "<>" else node.op
        if "string" in (left.type, right.type):
            return Typed(_string_comparison(self.d, op, left, right, filtering), "bool")
        plain = _COMPARE[op](this=paren(left.sql), expression=paren(right.sql))
        if op not in ("==", "!="):
            return Typed(plain, "bool")
        if _is_null(left) or _is_null(right):
            known = right if _is_null(left) else left
            result = exp.Boolean(this=op == "!=")
            return Typed(case([(is_null(known.sql), exp.Null())], result), "bool")
        value = _variable_side(left, right)
        if value is not None:
            if op == "==":
                return Typed(plain if filtering else _false_if_null(plain), "bool")
            if filtering:
                return Typed(exp.Or(this=plain, expression=is_null(value)), "bool")
            return Typed(_true_if_null(plain), "bool")
        both = exp.And(this=is_null(left.sql), expression=is_null(right.sql))
        if op == "==" and filtering:
            return Typed(plain, "bool")
        sure = _false_if_null(plain) if op == "==" else _true_if_null(plain)
        return Typed(case([(both, exp.Null())], sure), "bool")

    def comparable(
        self, node: ast.Binary | ast.InList | ast.Between, left: Typed, right: Typed
    ) -> tuple[Typed, Typed]:
        """Bring two operands to types that compare, or fail as KQL does."""
        if left.type == "dynamic" and right.type != "dynamic":
            left = self.as_type(left, right.type)
        elif right.type == "dynamic" and left.type != "dynamic":
            right = self.as_type(right, left.type)
        same = left.type == right.type or {left.type, right.type} <= NUMERIC
        if not same and not (_is_null(left) or _is_null(right)):
            hint = _comparison_hint(left, right)
            raise fail(f"cannot compare {left.type} with {right.type}{hint}", node.pos)
        return left, right

    def datetime_constant(self, typed: Typed) -> Typed:
        """A constant text read as ``datetime()`` reads it; null if it is not one."""
        value = parse_datetime(str(typed.value)) if typed.value is not None else None
        if value is None:
            return Typed(self.d.null("datetime"), "datetime", True, None)
        return Typed(self.d.param(value, "datetime"), "datetime", True, value)

    def as_type(self, typed: Typed, kql_type: str) -> Typed:
        """A dynamic value read as ``kql_type`` (null where it is not one)."""
        node = self.d.json(typed)
        if kql_type == "string":
            return Typed(self.d.json_text(node), "string")
        if kql_type in NUMERIC | {"timespan"}:
            return Typed(self.d.json_number(node), "real")
        if kql_type == "datetime":
            return Typed(self.d.text_to(self.d.json_text(node), "datetime"), "datetime")
        if kql_type == "bool":
            text = self.d.json_text(node)
            pairs: list[tuple[exp.Expression, exp.Expression]] = [
                (eq(text, lit("true")), exp.Boolean(this=True))
            ]
            pairs.append((eq(text, lit("false")), exp.Boolean(this=False)))
            return Typed(case(pairs), "bool")
        return typed

    def string_op(
        self,
        node: ast.Binary,
        op: str,
        negated: bool,
        left: Typed,
        right: Typed,
        filtering: bool = False,
    ) -> Typed:
        left = self.as_type(left, "string") if left.type == "dynamic" else left
        right = self.as_type(right, "string") if right.type == "dynamic" else right
        if left.type != "string" or right.type != "string":
            raise fail(
                f"'{node.op}' compares strings, not {left.type} and {right.type}",
                node.pos,
            )
        # A null string is "": only a filter's own test of a constant that
        # is not "" may leave it null (such a test fails on "" as on null).
        plain = filtering and not negated and right.constant and right.value != ""
        hay = left.sql if plain else _blank(left.sql)
        sql = self.string_test(node, op, hay, right)
        return Typed(not_(sql) if negated else sql, "bool")

    def string_test(
        self, node: ast.Binary, op: str, hay: exp.Expression, needle: Typed
    ) -> exp.Expression:
        cs = op.endswith("_cs")
        base = op.removesuffix("_cs")
        if base in ("=~", "contains") and not needle.constant:
            # A column on the right: "" where it is null, as on the left.
            hay_v, needle_v = hay, _blank(needle.sql)
            if not cs:
                hay_v, needle_v = self.d.lower(hay_v), self.d.lower(needle_v)
            if base == "=~":
                return eq(hay_v, needle_v)
            found = self.d.position(hay_v, needle_v)
            return exp.GT(this=found, expression=number(0))
        if not needle.constant or not isinstance(needle.value, str):
            raise fail(f"'{node.op}' needs a constant string on its right", node.pos)
        if base == "has":
            return self.d.has(hay, needle.value, cs=cs)
        value = needle.value if cs else needle.value.lower()
        hay = hay if cs else self.d.lower(hay, ascii_only=value.isascii())
        if base == "=~":
            return eq(hay, self.d.param(value, "string"))
        if base == "contains":
            found = self.d.position(hay, self.d.param(value, "string"))
            return exp.GT(this=found, expression=number(0))
        if base == "startswith":
            return self.d.starts_with(hay, value)
        return self.d.ends_with(hay, value)

    def matches(self, node: ast.Binary, left: Typed, right: Typed) -> Typed:
        from .regex import check_regex

        if left.type == "dynamic":
            left = self.as_type(left, "string")
        if left.type != "string":
            raise fail(f"'matches regex' tests strings, not {left.type}", node.pos)
        if not (right.constant and isinstance(right.value, str)):
            raise fail("'matches regex' needs a constant pattern", node.pos)
        check_regex(right.value, _pos(node.right))
        return Typed(self.d.regex(left.sql, right.value), "bool")

    def _inlist(
        self, node: ast.InList, scope: Scope, *, filtering: bool = False
    ) -> Typed:
        operand = self.compile(node.operand, scope)
        table = self._tabular_item(node, scope)
        if table is not None:
            return self._in_table(node, operand, table, filtering)
        items = [typed for item in node.items for typed in self.list_item(item, scope)]
        if node.op in ("has_any", "has_all"):
            return self.has_terms(node, operand, items, filtering)
        if not items:  # An empty dynamic array: nothing is in it.
            return Typed(exp.Boolean(this=node.op.startswith("!")), "bool")
        insensitive = node.op.endswith("~")
        converted = []
        for item in items:
            left, right = self.comparable(node, operand, item)
            converted.append(right)
        operand = left if items else operand
        if insensitive:
            return self._in_insensitive(node, operand, converted)
        negated = node.op.startswith("!")
        hay = operand.sql
        if operand.type == "string" and (
            negated or not filtering or any(i.value == "" for i in converted)
        ):
            hay = _blank(operand.sql)
        found = exp.In(this=paren(hay), expressions=[i.sql for i in converted])
        if operand.type == "string" or not all(
            i.constant and i.value is not None for i in converted
        ):
            return Typed(not_(found) if negated else found, "bool")
        # As ``==`` and ``!=``: a null is in no list, and so is not in each.
        if not negated:
            return Typed(found if filtering else _false_if_null(found), "bool")
        if filtering:
            return Typed(exp.Or(this=not_(found), expression=is_null(hay)), "bool")
        return Typed(_true_if_null(not_(found)), "bool")

    def _tabular_item(self, node: ast.InList, scope: Scope) -> Relation | None:
        """The relation of ``x in (T)`` when its one item names a table or a
        tabular let (and no column or scalar let hides it)."""
        if len(node.items) != 1 or not isinstance(node.items[0], ast.Name):
            return None
        name = node.items[0].name
        if name in scope.columns or name in scope.lets:
            return None
        return self.tabular(name)

    def _in_table(
        self, node: ast.InList, operand: Typed, table: Relation, filtering: bool
    ) -> Typed:
        """``x in (T)``: SQL's ``IN (SELECT ...)`` over T's one column."""
        if node.op not in ("in", "!in"):
            raise fail(f"a tabular argument to {node.op} is not supported", node.pos)
        if len(table.columns) != 1:
            count = len(table.columns)
            raise fail(
                f"a tabular argument to {node.op} must have one column, not {count}",
                node.items[0].pos,
            )
        (value,) = table.columns.values()
        operand, value = self.comparable(node, operand, value)
        hay, values = operand.sql, value.sql
        if operand.type == "string":  # A null string is "", on both sides.
            hay, values = _blank(operand.sql), _blank(value.sql)
        # Without its nulls, so that ``!in`` is not null for every row.
        select = exp.select(values).from_(table.source)
        select = select.where(not_(is_null(values.copy())))
        found = exp.In(this=paren(hay), query=exp.Subquery(this=select))
        if node.op == "in":
            return Typed(found if filtering else _false_if_null(found), "bool")
        return Typed(_true_if_null(not_(found)), "bool")

    def list_item(self, node: ast.Expr, scope: Scope) -> list[Typed]:
        """An item of ``in (...)``: a constant dynamic array stands for its
        elements, as in KQL (``x in (dynamic([200, 403]))``)."""
        typed = self.compile(node, scope)
        if not (typed.constant and typed.type == "dynamic"):
            return [typed]
        if not isinstance(typed.value, list):
            return [typed]
        return [
            self._literal(_element_literal(node.pos, v), scope) for v in typed.value
        ]

    def has_terms(
        self, node: ast.InList, operand: Typed, terms: list[Typed], filtering: bool
    ) -> Typed:
        """``has_any``/``has_all``: ``has`` of each term, joined by or/and."""
        if operand.type == "dynamic":
            operand = self.as_type(operand, "string")
        words = [t.value for t in terms if t.constant and isinstance(t.value, str)]
        if operand.type != "string" or len(words) != len(terms):
            raise fail(f"'{node.op}' needs a string and constant strings", node.pos)
        if not words:
            raise fail(f"'{node.op}' needs at least one term", node.pos)
        hay = operand.sql if filtering else _blank(operand.sql)
        tests = [self.d.has(hay, word, cs=False) for word in words]
        joined = exp.Or if node.op == "has_any" else exp.And
        sql = tests[0]
        for test in tests[1:]:
            sql = joined(this=paren(sql), expression=paren(test))
        return Typed(sql, "bool")

    def _in_insensitive(
        self, node: ast.InList, operand: Typed, items: list[Typed]
    ) -> Typed:
        if operand.type != "string" or not all(
            i.constant and isinstance(i.value, str) for i in items
        ):
            raise fail(f"'{node.op}' needs a string and constant strings", node.pos)
        values = [str(i.value).lower() for i in items]
        ascii_only = all(v.isascii() for v in values)
        hay = _blank(operand.sql)
        lowered = self.d.lower(hay, ascii_only=ascii_only)
        params = [self.d.param(v, "string") for v in values]
        sql = exp.In(this=paren(lowered), expressions=params)
        return Typed(not_(sql) if node.op.startswith("!") else sql, "bool")

    def _between(self, node: ast.Between, scope: Scope) -> Typed:
        operand = self.compile(node.operand, scope)
        low = self.compile(node.low, scope)
        high = self.compile(node.high, scope)
        if low.type == "datetime" and high.type == "timespan":
            # KQL's (start .. span): the range ends at start + span.
            end = ast.Binary(node.high.pos, "+", node.low, node.high)
            high = self.compile(end, scope)
        operand, low = self.comparable(node, operand, low)
        operand, high = self.comparable(node, operand, high)
        if operand.type in ("bool", "dynamic"):
            raise fail(f"'between' needs ordered values, not {operand.type}", node.pos)
        sql = exp.Between(this=paren(operand.sql), low=low.sql, high=high.sql)
        return Typed(not_(sql) if node.negated else sql, "bool")

    # Helpers for the function modules.

    def args(self, node: ast.Call, scope: Scope, low: int, high: int) -> list[Typed]:
        """Compile ``node``'s arguments, checking their number."""
        count = len(node.args)
        if not low <= count <= high:
            wanted = str(low) if low == high else f"{low} to {high}"
            raise fail(
                f"{node.name}() takes {wanted} argument{'s' * (high != 1)},"
                f" not {count}",
                node.pos,
            )
        return [self.compile(arg, scope) for arg in node.args]

    def constant(
        self, node: ast.Call, typed: Typed, index: int, types: set[str]
    ) -> object:
        """The value of argument ``index``, which must be a constant."""
        if not typed.constant or typed.value is None or typed.type not in types:
            kinds = " or ".join(sorted(types))
            raise fail(
                f"argument {index + 1} of {node.name}() must be a constant {kinds}",
                _pos(node.args[index]),
            )
        return typed.value

    def expect(
        self, node: ast.Call, typed: Typed, index: int, types: set[str]
    ) -> Typed:
        """Check argument ``index``'s type; dynamic values are converted."""
        if typed.type in types or _is_null(typed):
            return typed
        if typed.type == "dynamic":
            return self.as_type(typed, sorted(types)[0])
        kinds = " or ".join(sorted(types))
        raise fail(
            f"argument {index + 1} of {node.name}() must be {kinds}, not {typed.type}",
            _pos(node.args[index]),
        )


_ARITHMETIC = frozenset({"+", "-", "*", "/", "%"})


def _logical(op: str, left: Typed, right: Typed) -> Typed:
    kind = exp.And if op == "and" else exp.Or
    return Typed(kind(this=paren(left.sql), expression=paren(right.sql)), "bool")


def _false_if_null(test: exp.Expression) -> exp.Expression:
    return fn("COALESCE", paren(test), exp.Boolean(this=False))


def _true_if_null(test: exp.Expression) -> exp.Expression:
    return fn("COALESCE", paren(test), exp.Boolean(this=True))


def _variable_side(left: Typed, right: Typed) -> exp.Expression | None:
    """The side compared with a constant that is not null, if there is one."""
    if right.constant and right.value is not None:
        return left.sql
    if left.constant and left.value is not None:
        return right.sql
    return None


def _string_comparison(
    d: Dialect, op: str, left: Typed, right: Typed, filtering: bool
) -> exp.Expression:
    """A comparison of strings, where a null string is "" (never null).

    A filter's ``==`` with a constant that is not "" stays plain, so that an
    index on the column serves it (a null there drops the row, as "" would).
    """
    constant = _variable_side(left, right) is not None
    if filtering and op == "==" and constant and "" not in (left.value, right.value):
        return eq(left.sql, right.sql)
    lsql, rsql = _blank_unless_constant(left), _blank_unless_constant(right)
    if op in ("<", "<=", ">", ">="):
        lsql, rsql = d.ordered_text(lsql), d.ordered_text(rsql)
    if op == "!=":
        return not_(eq(lsql, rsql))
    return _COMPARE[op](this=paren(lsql), expression=paren(rsql))


def _blank_unless_constant(typed: Typed) -> exp.Expression:
    return (
        typed.sql if typed.constant and typed.value is not None else _blank(typed.sql)
    )


def _blank(node: exp.Expression) -> exp.Expression:
    """A string that is null reads as "": KQL strings are never null."""
    return fn("COALESCE", node, lit(""))


def _comparison_hint(left: Typed, right: Typed) -> str:
    """Advice for a comparison of two types that do not compare."""
    types = {left.type, right.type}
    text = left if left.type == "string" else right
    if types == {"datetime", "string"}:
        if text.constant and parse_datetime(str(text.value)) is not None:
            return f": write datetime({text.value})"
        return ": convert the string with todatetime()"
    if types == {"timespan", "string"}:
        return ": write a timespan such as 1h"
    return ""


def _element_literal(pos: ast.Pos, value: object) -> ast.Literal:
    """An element of a constant dynamic array as a literal of its own type."""
    if isinstance(value, bool):
        return ast.Literal(pos, "bool", value)
    if isinstance(value, int):
        return ast.Literal(pos, "long", value)
    if isinstance(value, float):
        return ast.Literal(pos, "real", value)
    if isinstance(value, str):
        return ast.Literal(pos, "string", value)
    return ast.Literal(pos, "dynamic", value)


def _is_null(typed: Typed) -> bool:
    return typed.constant and typed.value is None


def _pos(node: ast.Expr) -> ast.Pos:
    return node.pos


def is_blank_test(node: exp.Expression) -> exp.Expression:
    return exp.Or(this=is_null(node), expression=eq(node, lit("")))
