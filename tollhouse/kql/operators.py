"""One function per KQL tabular operator, named after its `ast` class.

Each takes the `Compiler`, the operator, the relation built so far and the
query's ``let`` values, and returns the next relation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from typing import TYPE_CHECKING

from sqlglot import exp

from . import ast
from .errors import did_you_mean, fail
from .expressions import Scope
from .relation import Relation
from .sql import Typed, blank_text, case, eq, not_, number, paren
from .sql import text as lit

if TYPE_CHECKING:
    from .compiler import Compiler, TabularLet

Lets = dict[str, "Typed | TabularLet"]

SORTABLE = frozenset({"string", "long", "int", "real", "bool", "datetime", "timespan"})


def where(
    c: Compiler, op: ast.Where, rel: Relation, scalars: dict[str, Typed], lets: Lets
) -> Relation:
    if rel.closed:
        rel = c.seal(rel)
    predicate = c.ex.condition(op.predicate, c.scope(rel, scalars))
    return rel.change(where=(*rel.where, paren(predicate.sql)))


def project(
    c: Compiler, op: ast.Project, rel: Relation, scalars: dict[str, Typed], lets: Lets
) -> Relation:
    if rel.distinct:
        rel = c.seal(rel)
    scope = c.scope(rel, scalars)
    columns: dict[str, Typed] = {}
    for item in op.items:
        typed = c.ex.compile(item.expr, scope)
        name = item.name or c.default_name(item.expr, set(columns))
        if name in columns:
            raise fail(f"column '{name}' is projected twice", item.pos)
        columns[name] = typed
    return rel.keeping(columns, "project", op.pos.line)


def extend(
    c: Compiler, op: ast.Extend, rel: Relation, scalars: dict[str, Typed], lets: Lets
) -> Relation:
    if rel.distinct:
        rel = c.seal(rel)
    columns = dict(rel.columns)
    for item in op.items:
        typed = c.ex.compile(item.expr, Scope(columns, scalars, removed=rel.removed))
        name = item.name or c.default_name(item.expr, set(columns))
        columns[name] = typed
    return rel.change(columns=columns)


def projectaway(
    c: Compiler,
    op: ast.ProjectAway,
    rel: Relation,
    scalars: dict[str, Typed],
    lets: Lets,
) -> Relation:
    if rel.distinct:
        rel = c.seal(rel)
    columns = dict(rel.columns)
    for name in op.names:
        _known(name, columns)
        del columns[name.name]
    if not columns:
        raise fail("project-away leaves no columns", op.pos)
    return rel.keeping(columns, "project-away", op.pos.line)


def projectrename(
    c: Compiler,
    op: ast.ProjectRename,
    rel: Relation,
    scalars: dict[str, Typed],
    lets: Lets,
) -> Relation:
    if rel.distinct:
        rel = c.seal(rel)
    renamed = {old.name: new.name for new, old in op.renames}
    for _new, old in op.renames:
        _known(old, rel.columns)
    columns = {renamed.get(name, name): typed for name, typed in rel.columns.items()}
    return rel.keeping(columns, "project-rename", op.pos.line)


def _known(name: ast.Name, columns: dict[str, Typed]) -> None:
    if name.name not in columns:
        hint = did_you_mean(name.name, columns)
        raise fail(f"unknown column '{name.name}'{hint}", name.pos, list(columns))


def summarize(
    c: Compiler, op: ast.Summarize, rel: Relation, scalars: dict[str, Typed], lets: Lets
) -> Relation:
    if rel.closed:
        rel = c.seal(rel, keep_order=False)
    arg_items = [
        a for a in op.aggregates if _call_name(a.expr) in ("arg_max", "arg_min")
    ]
    if arg_items:
        return _arg_extreme(c, op, rel, scalars, arg_items)
    plain = c.scope(rel, scalars)
    by: dict[str, Typed] = {}
    for item in op.by:
        typed = c.ex.compile(item.expr, plain)
        name = item.name or c.default_name(item.expr, set(by))
        by[name] = typed
    aggregating = replace(plain, aggregating=True)
    aggregates: dict[str, Typed] = {}
    taken = set(by)
    for item in op.aggregates:
        if _call_name(item.expr) == "percentiles" and item.name is None:
            aggregates |= c.multi_column(item, aggregating, taken)
            continue
        typed = c.ex.compile(item.expr, aggregating)
        name = item.name or c.default_name(item.expr, taken)
        if name in taken:
            raise fail(f"column '{name}' is defined twice", item.pos)
        taken.add(name)
        aggregates[name] = typed
    group = tuple(number(i) for i in range(1, len(by) + 1))
    keys = {name: _group_key(typed) for name, typed in by.items()}
    summary = rel.keeping({**keys, **aggregates}, "summarize", op.pos.line)
    summary = summary.change(group=group, order=())
    sealed = c.seal(summary, keep_order=False)
    columns = dict(sealed.columns)
    for name, typed in by.items():
        if typed.grouping is not None:
            rebuilt = typed.grouping.rebuild(columns[name].sql)
            columns[name] = Typed(rebuilt, typed.type)
    return sealed.change(columns=columns)


def _group_key(typed: Typed) -> Typed:
    """What summarize groups ``typed`` by: its cheaper key, if it has one;
    a string as "" where it is null, so that null and "" are one group."""
    if typed.grouping is None:
        return blank_text(typed)
    return Typed(typed.grouping.key, "string")


def _call_name(node: ast.Expr) -> str | None:
    return node.name if isinstance(node, ast.Call) else None


def _arg_extreme(
    c: Compiler,
    op: ast.Summarize,
    rel: Relation,
    scalars: dict[str, Typed],
    items: list[ast.Assign],
) -> Relation:
    """``summarize arg_max(x, cols) by keys``: the row of each group where x
    is largest, chosen with ROW_NUMBER; ties go to the smallest other
    values, so that both stores pick the same row."""
    if len(op.aggregates) != 1:
        raise fail(
            "arg_max and arg_min cannot be combined with other aggregates", items[0].pos
        )
    item = items[0]
    call = item.expr
    assert isinstance(call, ast.Call)
    if len(call.args) < 2:
        raise fail(f"{call.name}() takes a value and the columns to return", call.pos)
    scope = c.scope(rel, scalars)
    by = {
        (i.name or c.default_name(i.expr, set())): blank_text(
            c.ex.compile(i.expr, scope)
        )
        for i in op.by
    }
    measure = c.ex.compile(call.args[0], scope)
    measure_name = item.name or c.default_name(call.args[0], set(by))
    returned = _returned_columns(c, call, scope, by, measure_name)
    desc = call.name == "arg_max"
    sql = measure.sql if measure.type != "string" else c.d.ordered_text(measure.sql)
    keys = [exp.Ordered(this=sql, desc=desc, nulls_first=not desc and False)]
    keys += [
        exp.Ordered(this=_sort_sql(c, t), desc=False, nulls_first=True)
        for t in returned.values()
        if t.type in SORTABLE
    ]
    window = exp.Window(
        this=exp.RowNumber(),
        partition_by=[t.sql.copy() for t in by.values()],
        order=exp.Order(expressions=keys),
    )
    rank_name = "__rank"
    inner = rel.change(
        columns={
            **by,
            measure_name: measure,
            **returned,
            rank_name: Typed(window, "long"),
        }
    )
    sealed = c.seal(inner, keep_order=False)
    columns = {n: t for n, t in sealed.columns.items() if n != rank_name}
    rank = sealed.columns[rank_name].sql
    return sealed.change(columns=columns, where=(eq(rank, number(1)),))


def _returned_columns(
    c: Compiler, call: ast.Call, scope: Scope, by: dict[str, Typed], measure: str
) -> dict[str, Typed]:
    returned: dict[str, Typed] = {}
    for arg in call.args[1:]:
        if isinstance(arg, ast.Star):
            for name, typed in scope.columns.items():
                if name not in by and name != measure:
                    returned[name] = typed
            continue
        name = c.default_name(arg, {*by, measure, *returned})
        returned[name] = c.ex.compile(arg, scope)
    return returned


def _sort_sql(c: Compiler, typed: Typed) -> exp.Expression:
    return c.d.ordered_text(typed.sql) if typed.type == "string" else typed.sql


def count(
    c: Compiler, op: ast.Count, rel: Relation, scalars: dict[str, Typed], lets: Lets
) -> Relation:
    if rel.closed:
        rel = c.seal(rel, keep_order=False)
    counted = rel.keeping(
        {"Count": Typed(exp.Count(this=exp.Star()), "long")}, "count", op.pos.line
    ).change(group=(), order=())
    return c.seal(counted, keep_order=False)


def _row_count(
    c: Compiler, node: ast.Expr, scalars: dict[str, Typed], what: str
) -> int:
    typed = c.ex.compile(node, Scope({}, scalars))
    if not (typed.constant and typed.type == "long" and isinstance(typed.value, int)):
        raise fail(f"{what} needs a whole number", node.pos)
    if typed.value < 0:
        raise fail(f"{what} needs a number of rows, not {typed.value}", node.pos)
    return typed.value


def take(
    c: Compiler, op: ast.Take, rel: Relation, scalars: dict[str, Typed], lets: Lets
) -> Relation:
    rows = _row_count(c, op.count, scalars, "take")
    limit = rows if rel.limit is None else min(rows, rel.limit)
    return rel.change(limit=limit)


def _sort_keys(
    c: Compiler, keys: tuple[ast.SortKey, ...], rel: Relation, scalars: dict[str, Typed]
) -> tuple[exp.Ordered, ...]:
    scope = c.scope(rel, scalars)
    ordered = []
    for key in keys:
        typed = c.ex.compile(key.expr, scope)
        if typed.type not in SORTABLE:
            raise fail(f"cannot sort by a {typed.type} value", key.pos)
        ordered.append(
            exp.Ordered(
                this=_sort_sql(c, typed),
                desc=key.descending,
                nulls_first=key.nulls_first,
            )
        )
    return tuple(ordered)


def top(
    c: Compiler, op: ast.Top, rel: Relation, scalars: dict[str, Typed], lets: Lets
) -> Relation:
    if rel.limit is not None:
        rel = c.seal(rel)
    rows = _row_count(c, op.count, scalars, "top")
    return rel.change(order=_sort_keys(c, op.keys, rel, scalars), limit=rows)


def order(
    c: Compiler, op: ast.Order, rel: Relation, scalars: dict[str, Typed], lets: Lets
) -> Relation:
    if rel.limit is not None or rel.distinct:
        rel = c.seal(rel, keep_order=False)
    return rel.change(order=_sort_keys(c, op.keys, rel, scalars))


def distinct(
    c: Compiler, op: ast.Distinct, rel: Relation, scalars: dict[str, Typed], lets: Lets
) -> Relation:
    if rel.distinct or rel.limit is not None:
        rel = c.seal(rel, keep_order=False)
    # A null string is "" (KQL has no null strings): one value, not two.
    if op.names is None:
        columns = {name: blank_text(typed) for name, typed in rel.columns.items()}
        return rel.change(columns=columns, distinct=True, order=())
    columns = {}
    for name in op.names:
        _known(name, rel.columns)
        columns[name.name] = blank_text(rel.columns[name.name])
    kept = rel.keeping(columns, "distinct", op.pos.line)
    return kept.change(distinct=True, order=())


JOIN_KINDS = frozenset({"inner", "innerunique", "leftouter", "leftsemi", "leftanti"})
"""The join kinds Tollhouse compiles."""

JOIN_ALIASES = {"anti": "leftanti", "leftantisemi": "leftanti"}
"""Other names KQL accepts for a join kind."""


def join(
    c: Compiler, op: ast.Join, rel: Relation, scalars: dict[str, Typed], lets: Lets
) -> Relation:
    kind = JOIN_ALIASES.get(op.kind, op.kind)
    if kind not in JOIN_KINDS:
        message = f"join kind '{op.kind}' is not supported"
        raise fail(message, op.pos, sorted(JOIN_KINDS | set(JOIN_ALIASES)))
    left = c.seal(rel, keep_order=False)
    right = c.seal(c.pipeline(op.right, lets), keep_order=False)
    if kind in ("leftsemi", "leftanti"):
        return _semi_join(c, op, left, right, negated=kind == "leftanti")
    if kind == "innerunique":
        keys = [_join_condition(c, key, left, right)[0] for key in op.keys]
        left = _one_row_per_key(c, left, keys)
    pairs = [_join_condition(c, key, left, right) for key in op.keys]
    conditions = [eq(a.sql, b.sql) for a, b in pairs]
    columns = dict(left.columns)
    for name, typed in right.columns.items():
        new = name
        index = 1
        while new in columns:
            new, index = f"{name}{index}", index + 1
        if kind == "leftouter":  # a left row without a match has NULLs here
            typed = dataclasses.replace(typed, never_null=False)
        columns[new] = typed
    on = conditions[0]
    for condition in conditions[1:]:
        on = exp.And(this=on, expression=condition)
    if kind == "leftouter":
        joined = exp.Join(this=right.source, on=on, side="LEFT")
    else:
        joined = exp.Join(this=right.source, on=on, kind="INNER")
    return Relation(left.source, columns, joins=(joined,))


def _semi_join(
    c: Compiler, op: ast.Join, left: Relation, right: Relation, *, negated: bool
) -> Relation:
    """The left rows with a match on the right (``leftsemi``), or without one
    (``leftanti``): a correlated EXISTS, so no left row is repeated."""
    pairs = [_join_condition(c, key, left, right) for key in op.keys]
    on: exp.Expression = eq(pairs[0][0].sql, pairs[0][1].sql)
    for a, b in pairs[1:]:
        on = exp.And(this=on, expression=eq(a.sql, b.sql))
    found = exp.select(number(1)).from_(right.source).where(on)
    test: exp.Expression = exp.Exists(this=found)
    if negated:
        test = not_(test)
    return left.change(where=(*left.where, test))


def _join_condition(
    c: Compiler, key: ast.Expr, left: Relation, right: Relation
) -> tuple[Typed, Typed]:
    """The left and right values that ``key`` says must be equal."""
    if isinstance(key, ast.Name):
        for side, rel in (("left", left), ("right", right)):
            if key.name not in rel.columns:
                hint = did_you_mean(key.name, rel.columns)
                message = f"unknown column '{key.name}' on the {side}{hint}"
                raise fail(message, key.pos, list(rel.columns))
        a, b = left.columns[key.name], right.columns[key.name]
    elif isinstance(key, ast.Binary) and key.op == "==":
        if _side_of(key.left) is None and _side_of(key.right) is None:
            raise fail(
                "a join condition between two columns names their sides:"
                " $left.A == $right.B (or 'on A' when both sides call it A)",
                key.pos,
            )
        scope = Scope({}, {}, sides={"left": left.columns, "right": right.columns})
        a, b = c.ex.compile(key.left, scope), c.ex.compile(key.right, scope)
        if not (_side_of(key.left) == "left" and _side_of(key.right) == "right"):
            raise fail("a join condition is $left.Column == $right.Column", key.pos)
    else:
        raise fail(
            "a join condition is a column name or $left.A == $right.B", _pos(key)
        )
    numeric = {"int", "long", "real"}
    if a.type != b.type and not {a.type, b.type} <= numeric:
        raise fail(f"cannot join {a.type} with {b.type}", _pos(key))
    # A null string key is "": it joins an "" key, as KQL's strings would.
    return blank_text(a), blank_text(b)


def _one_row_per_key(c: Compiler, left: Relation, keys: list[Typed]) -> Relation:
    """The left side of a ``kind=innerunique`` join: one row per join key.

    KQL keeps an arbitrary row of each key; here it is the first in the
    order of the columns, so that both stores keep the same one.
    """
    order = [
        exp.Ordered(this=_sort_sql(c, typed), desc=False, nulls_first=True)
        for typed in left.columns.values()
        if typed.type in SORTABLE
    ]
    window = exp.Window(
        this=exp.RowNumber(),
        partition_by=[key.sql.copy() for key in keys],
        order=exp.Order(expressions=order),
    )
    rank_name = "__rank"
    ranked = c.seal(
        left.change(columns={**left.columns, rank_name: Typed(window, "long")}),
        keep_order=False,
    )
    columns = {n: t for n, t in ranked.columns.items() if n != rank_name}
    rank = ranked.columns[rank_name].sql
    first = ranked.change(columns=columns, where=(eq(rank, number(1)),))
    return c.seal(first, keep_order=False)


def _side_of(node: ast.Expr) -> str | None:
    if isinstance(node, ast.Member) and isinstance(node.target, ast.Side):
        return node.target.side
    return None


def _pos(node: ast.Expr) -> ast.Pos:
    return node.pos


def union(
    c: Compiler, op: ast.Union, rel: Relation, scalars: dict[str, Typed], lets: Lets
) -> Relation:
    tables = [rel, *(c.pipeline(p, lets) for p in op.tables)]
    return c.union_of(tables, op.pos)


def mvexpand(
    c: Compiler, op: ast.MvExpand, rel: Relation, scalars: dict[str, Typed], lets: Lets
) -> Relation:
    rel = c.seal(rel, keep_order=False)
    typed = c.ex.compile(op.expr, c.scope(rel, scalars))
    if typed.type != "dynamic":
        raise fail(f"mv-expand needs a dynamic value, not {typed.type}", op.pos)
    name = op.name or (op.expr.name if isinstance(op.expr, ast.Name) else None)
    if name is None:
        raise fail("mv-expand of an expression needs a name: mv-expand x = ...", op.pos)
    join_sql, element = c.d.expand(c.d.json(typed), c.aliases.next())
    value = Typed(element, "dynamic")
    if op.to_type is not None:
        value = _typed_element(c, value, op.to_type, op.pos)
    columns = dict(rel.columns)
    columns[name] = value
    return rel.change(columns=columns, joins=(*rel.joins, join_sql))


def _typed_element(c: Compiler, value: Typed, kql_type: str, pos: ast.Pos) -> Typed:
    aliases = {"double": "real", "boolean": "bool", "date": "datetime"}
    kql_type = aliases.get(kql_type, kql_type)
    if kql_type not in SORTABLE | {"dynamic"}:
        raise fail(f"unknown type '{kql_type}'", pos)
    if kql_type in ("long", "int", "real"):
        # As tolong() and friends read a dynamic: its text, if a number.
        return Typed(c.d.text_to(c.d.json_text(value.sql), kql_type), kql_type)
    if kql_type == "string":
        # A cast, not a conversion: an object or array is not a string.
        kind = c.d.json_kind(value.sql)
        container = exp.In(this=kind, expressions=[lit("object"), lit("array")])
        text = c.d.json_text(value.sql)
        return Typed(case([(container, exp.Null())], text), "string")
    converted = c.ex.as_type(value, kql_type)
    return Typed(converted.sql, kql_type)
