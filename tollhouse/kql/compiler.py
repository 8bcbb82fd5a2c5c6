"""Compiling a KQL query's tabular operators to one SQL SELECT.

`Compiler.query` runs the query's ``let`` statements and its pipeline, one
operator at a time, over a `Relation`.  Each operator method takes the
relation built so far and returns the next one; `summarize`, ``join`` and
``union`` close it into a subquery.  The result is the final relation, the
output columns and the ``render`` metadata, if any.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime

from sqlglot import exp

from . import ast
from .aggregates import DEFAULT_PREFIX, percentile_of
from .dialects import Dialect
from .errors import did_you_mean, fail
from .expressions import Expressions, Scope
from .relation import Aliases, Relation, seal
from .sql import Typed, column
from .tables import TABLES

RENDER_KINDS = (
    "table",
    "timechart",
    "barchart",
    "columnchart",
    "piechart",
    "areachart",
    "linechart",
    "scatterchart",
    "stackedareachart",
    "anomalychart",
    "card",
    "pivotchart",
    "ladderchart",
    "timepivot",
    "treemap",
)
"""The chart kinds KQL's render accepts."""


@dataclass(frozen=True)
class TabularLet:
    """A ``let`` naming a tabular expression, compiled anew where used."""

    pipeline: ast.Pipeline
    lets: dict[str, Typed | TabularLet]


@dataclass(frozen=True)
class Result:
    relation: Relation
    render: ast.Render | None


class Compiler:
    """Compiles one query for one dialect."""

    def __init__(self, dialect: Dialect, now: datetime) -> None:
        self.d = dialect
        self.ex = Expressions(dialect, now)
        self.aliases = Aliases()
        self.render: ast.Render | None = None
        # The lets in scope of the operator being compiled, for ``x in (T)``.
        self.lets: dict[str, Typed | TabularLet] = {}
        self.ex.tabular = self.tabular

    def query(self, query: ast.Query) -> Result:
        lets: dict[str, Typed | TabularLet] = {}
        for let in query.lets:
            lets[let.name] = self.let_value(let, lets)
        relation = self.pipeline(query.body, lets, top=True)
        return Result(relation, self.render)

    def let_value(
        self, let: ast.Let, lets: dict[str, Typed | TabularLet]
    ) -> Typed | TabularLet:
        value = let.value
        if value.operators or isinstance(value.source, ast.Union):
            return TabularLet(value, dict(lets))
        source = value.source
        if isinstance(source, ast.Name) and (
            source.name in TABLES or isinstance(lets.get(source.name), TabularLet)
        ):
            return TabularLet(value, dict(lets))
        return self.ex.compile(source, Scope({}, _scalars(lets)))

    # Pipelines and sources.

    def pipeline(
        self,
        pipeline: ast.Pipeline,
        lets: dict[str, Typed | TabularLet],
        *,
        top: bool = False,
    ) -> Relation:
        relation = self.source(pipeline.source, lets)
        outer, self.lets = self.lets, lets
        try:
            return self.operators(pipeline, relation, lets, top=top)
        finally:
            self.lets = outer

    def operators(
        self,
        pipeline: ast.Pipeline,
        relation: Relation,
        lets: dict[str, Typed | TabularLet],
        *,
        top: bool,
    ) -> Relation:
        scalars = _scalars(lets)
        for index, operator in enumerate(pipeline.operators):
            if isinstance(operator, ast.Render):
                last = top and index == len(pipeline.operators) - 1
                if not last:
                    raise fail("render must be the last operator", operator.pos)
                if operator.kind not in RENDER_KINDS:
                    hint = did_you_mean(operator.kind, RENDER_KINDS)
                    message = f"unknown chart kind '{operator.kind}'{hint}"
                    raise fail(message, operator.pos, list(RENDER_KINDS))
                self.render = operator
                continue
            relation = self.operator(operator, relation, scalars, lets)
        return relation

    def tabular(self, name: str) -> Relation | None:
        """The rows a tabular let or a table of that name gives, sealed."""
        value = self.lets.get(name)
        if isinstance(value, TabularLet):
            relation = self.pipeline(value.pipeline, value.lets)
        elif value is None and name in TABLES:
            relation = self.source(ast.Name(ast.Pos(1, 1), name), self.lets)
        else:
            return None
        return self.seal(relation, keep_order=False)

    def source(
        self, source: ast.Expr | ast.Union, lets: dict[str, Typed | TabularLet]
    ) -> Relation:
        if isinstance(source, ast.Union):
            tables = [self.pipeline(p, lets) for p in source.tables]
            return self.union_of(tables, source.pos)
        if not isinstance(source, ast.Name):
            raise fail("a query starts with a table name", source.pos)
        value = lets.get(source.name)
        if isinstance(value, TabularLet):
            return self.pipeline(value.pipeline, value.lets)
        table = TABLES.get(source.name)
        if table is None:
            names = [
                *TABLES,
                *(n for n, v in lets.items() if isinstance(v, TabularLet)),
            ]
            hint = did_you_mean(source.name, names)
            raise fail(f"unknown table '{source.name}'{hint}", source.pos, names)
        alias = self.aliases.next()
        identifier = exp.Identifier(this=table.name, quoted=True)
        table_sql = exp.Table(
            this=identifier, alias=exp.TableAlias(this=exp.to_identifier(alias))
        )
        columns = {
            name: Typed(
                column(name, alias),
                kql_type,
                raw_json=kql_type == "dynamic" and self.d.name == "sqlite",
                never_null=name in table.never_null,
            )
            for name, kql_type in table.columns.items()
        }
        return Relation(table_sql, columns)

    def operator(
        self,
        operator: ast.Operator,
        relation: Relation,
        scalars: dict[str, Typed],
        lets: dict[str, Typed | TabularLet],
    ) -> Relation:
        from . import operators

        handler = getattr(operators, type(operator).__name__.lower())
        result: Relation = handler(self, operator, relation, scalars, lets)
        return result

    def seal(self, relation: Relation, *, keep_order: bool = True) -> Relation:
        return seal(relation, self.aliases, keep_order=keep_order)

    def scope(self, relation: Relation, scalars: dict[str, Typed]) -> Scope:
        return Scope(relation.columns, scalars, removed=relation.removed)

    # Unions (also the union source).

    def union_of(self, tables: list[Relation], pos: ast.Pos) -> Relation:
        from .relation import build_select

        types: dict[str, str] = {}
        for table in tables:
            for name, typed in table.columns.items():
                known = types.setdefault(name, typed.type)
                if known != typed.type:
                    raise fail(
                        f"column '{name}' is {known} in one table and"
                        f" {typed.type} in another",
                        pos,
                    )
        selects = []
        for table in tables:
            columns = {
                name: table.columns.get(name) or Typed(self.d.null(kind), kind)
                for name, kind in types.items()
            }
            selects.append(build_select(table.change(columns=columns, order=())))
        union: exp.Expression = selects[0]
        for select in selects[1:]:
            union = exp.Union(this=union, expression=select, distinct=False)
        alias = self.aliases.next()
        source = exp.Subquery(
            this=union, alias=exp.TableAlias(this=exp.to_identifier(alias))
        )
        raw = {n for t in tables for n, c in t.columns.items() if c.raw_json}
        columns = {
            name: Typed(column(name, alias), kind, raw_json=name in raw)
            for name, kind in types.items()
        }
        return Relation(source, columns)

    # Summaries.

    def default_name(self, node: ast.Expr, taken: set[str]) -> str:
        """KQL's name for an unnamed column: the column it is made from."""
        if isinstance(node, ast.Call) and node.name in self.ex.aggregates:
            first = _first_column(node.args[0]) if node.args else None
            prefix = DEFAULT_PREFIX.get(node.name, f"{node.name}_")
            base = (
                prefix if node.name in ("count", "countif") else prefix + (first or "")
            )
            if node.name == "percentile" and len(node.args) == 2:
                base += "_" + _number_text(node.args[1])
            return _fresh(base, taken)
        if isinstance(node, ast.Name):
            return node.name
        if isinstance(node, ast.Member):
            return _fresh(_member_name(node), taken)
        inferred = _converted_name(node)
        if inferred is not None:
            return _fresh(inferred, taken)
        found = _first_column(node)
        if isinstance(node, ast.Call) and node.name in ("bin", "floor") and found:
            return found
        return _fresh("Column1", taken, numbered=True)

    def multi_column(
        self, item: ast.Assign, scope: Scope, taken: set[str]
    ) -> dict[str, Typed]:
        """The columns of ``percentiles(x, p1, p2, ...)``."""
        node = item.expr
        assert isinstance(node, ast.Call)
        if len(node.args) < 2:
            raise fail("percentiles() takes a value and one or more percents", node.pos)
        inner = replace(scope, aggregating=True, in_aggregate=1)
        value = self.ex.compile(node.args[0], inner)
        first = _first_column(node.args[0]) or ""
        columns: dict[str, Typed] = {}
        for index, arg in enumerate(node.args[1:], start=1):
            percent = self.ex.compile(arg, inner)
            name = _fresh(f"percentile_{first}_{_number_text(arg)}", taken)
            taken.add(name)
            columns[name] = percentile_of(self.ex, node, value, percent, index)
        return columns


def _scalars(lets: dict[str, Typed | TabularLet]) -> dict[str, Typed]:
    return {name: value for name, value in lets.items() if isinstance(value, Typed)}


def _first_column(node: ast.Expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.name
    children: tuple[ast.Expr, ...] = ()
    if isinstance(node, ast.Call):
        children = node.args
    elif isinstance(node, ast.Binary):
        children = (node.left, node.right)
    elif isinstance(node, ast.Negate):
        children = (node.operand,)
    elif isinstance(node, ast.Member | ast.Index):
        children = (node.target,)
    for child in children:
        found = _first_column(child)
        if found:
            return found
    return None


CONVERSIONS_KEEPING_NAMES = frozenset(
    {"tostring", "tolong", "toint", "todouble", "toreal", "tobool", "toboolean"}
    | {"todatetime"}
)
"""Conversions through which KQL names a column after what they convert."""


def _converted_name(node: ast.Expr) -> str | None:
    """``X`` for ``tostring(X)``, ``X_a`` for ``tolong(X.a)``: a conversion of
    a column or a property is named as the column or property would be."""
    if not isinstance(node, ast.Call) or len(node.args) != 1:
        return None
    if node.name not in CONVERSIONS_KEEPING_NAMES:
        return None
    (arg,) = node.args
    if isinstance(arg, ast.Name):
        return arg.name
    if isinstance(arg, ast.Member):
        return _member_name(arg)
    return _converted_name(arg)


def _member_name(node: ast.Member) -> str:
    """``X_a_b`` for ``X.a.b``; a property that is not a plain name has its
    other characters made ``_`` (``X["User-Agent"]`` is ``X_User_Agent``),
    so that later operators can name the column without brackets."""
    target = node.target
    name = re.sub(r"[^A-Za-z0-9_]", "_", node.name)
    if isinstance(target, ast.Name):
        return f"{target.name}_{name}"
    if isinstance(target, ast.Member):
        return f"{_member_name(target)}_{name}"
    return name


def _number_text(node: ast.Expr) -> str:
    if isinstance(node, ast.Literal) and isinstance(node.value, int | float):
        value = node.value
        text = str(int(value)) if float(value).is_integer() else str(value)
        return text.replace(".", "_")
    return ""


def _fresh(base: str, taken: set[str], *, numbered: bool = False) -> str:
    if numbered:
        stem, index = base.rstrip("0123456789"), 1
        while f"{stem}{index}" in taken:
            index += 1
        return f"{stem}{index}"
    name, index = base, 1
    while name in taken:
        name = f"{base}{index}"
        index += 1
    return name
