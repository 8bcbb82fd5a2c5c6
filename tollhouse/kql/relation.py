"""The rows a pipeline has built so far, as one SELECT still open to change.

Operators that only add to a SELECT (another ``where``, an ``extend``, a
``take``) change the open `Relation`; an operator that must see the result
of the previous ones (a ``where`` after a ``take``, anything after a
``summarize``) first `seal`s it into a subquery.  Column expressions are
kept inline, so ``extend x = a + 1 | where x > 2`` filters on ``a + 1``
in the same SELECT and indexes still apply.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from sqlglot import exp

from .errors import fail
from .limits import MAX_COLUMNS, MAX_SOURCES, WHOLE_QUERY
from .sql import Typed, column


@dataclass(frozen=True)
class Relation:
    """One SELECT: its FROM, columns (name to `Typed`), filters, order, limit."""

    source: exp.Expression
    columns: dict[str, Typed]
    joins: tuple[exp.Join, ...] = ()
    where: tuple[exp.Expression, ...] = ()
    group: tuple[exp.Expression, ...] | None = None
    order: tuple[exp.Ordered, ...] = ()
    limit: int | None = None
    distinct: bool = False
    removed: Mapping[str, str] = field(default_factory=dict)
    """Columns an earlier operator removed: name to that operator, so that
    an error can say "not in scope after the project at line 2"."""

    def change(self, **changes: object) -> Relation:
        return replace(self, **changes)  # type: ignore[arg-type]

    def keeping(self, columns: dict[str, Typed], operator: str, line: int) -> Relation:
        """This relation with only ``columns``; the others are remembered as
        removed by ``operator`` (its name) at ``line``."""
        gone = f"the {operator} at line {line}"
        removed = {
            **{n: w for n, w in self.removed.items() if n not in columns},
            **{n: gone for n in self.columns if n not in columns},
        }
        return self.change(columns=columns, removed=removed)

    @property
    def closed(self) -> bool:
        """True if a filter or new column must go around this SELECT."""
        return self.group is not None or self.distinct or self.limit is not None


@dataclass
class Aliases:
    """Fresh table aliases (``_t0``, ``_t1``...) for one query, one per table
    or subquery read, up to `limits.MAX_SOURCES`."""

    counter: itertools.count[int] = field(default_factory=itertools.count)

    def next(self) -> str:
        number = next(self.counter)
        if number >= MAX_SOURCES:
            message = (
                f"the query reads more than {MAX_SOURCES} tables and subqueries"
                " once its let statements are written out where they are used"
            )
            raise fail(message, WHOLE_QUERY)
        return f"_t{number}"


def build_select(relation: Relation, *, hidden_order: bool = False) -> exp.Select:
    """The SELECT of ``relation``.  With ``hidden_order`` the sort keys become
    extra columns ``__order_N`` so that an outer query can keep the order."""
    if not relation.columns:
        raise ValueError("no columns")
    if len(relation.columns) > MAX_COLUMNS:
        message = (
            f"a result may have at most {MAX_COLUMNS} columns, this one has"
            f" {len(relation.columns)}: project the columns you need"
        )
        raise fail(message, WHOLE_QUERY)
    items = [
        exp.alias_(typed.sql.copy(), name, quoted=True)
        for name, typed in relation.columns.items()
    ]
    order = list(relation.order)
    if hidden_order:
        for index, ordered in enumerate(order):
            items.append(
                exp.alias_(
                    ordered.this.copy(), _order_name(relation, index), quoted=True
                )
            )
    # A source already in another SELECT is copied; a fresh one (as `seal`
    # makes) is not, or each subquery would copy all those inside it again.
    source = relation.source
    source = source.copy() if source.parent is not None else source
    select = exp.Select(expressions=items).from_(source, copy=False)
    for join in relation.joins:
        select = select.join(join.copy(), copy=False)
    if relation.where:
        select = select.where(*[w.copy() for w in relation.where], copy=False)
    if relation.group:
        select = select.group_by(*[g.copy() for g in relation.group], copy=False)
    if relation.distinct:
        select = select.distinct(copy=False)
    if order:
        select = select.order_by(*[o.copy() for o in order], copy=False)
    if relation.limit is not None:
        select = select.limit(relation.limit, copy=False)
    return select


def seal(relation: Relation, aliases: Aliases, *, keep_order: bool = True) -> Relation:
    """Wrap ``relation`` in a subquery and open a new SELECT over it."""
    keep = keep_order and bool(relation.order)
    select = build_select(relation, hidden_order=keep)
    alias = aliases.next()
    source = exp.Subquery(
        this=select, alias=exp.TableAlias(this=exp.to_identifier(alias))
    )
    columns = {
        name: Typed(
            column(name, alias),
            typed.type,
            raw_json=typed.raw_json,
            never_null=typed.never_null,
        )
        for name, typed in relation.columns.items()
    }
    order: tuple[exp.Ordered, ...] = ()
    if keep:
        order = tuple(
            exp.Ordered(
                this=column(_order_name(relation, i), alias),
                desc=o.args.get("desc"),
                nulls_first=o.args.get("nulls_first"),
            )
            for i, o in enumerate(relation.order)
        )
    return Relation(source, columns, order=order, removed=relation.removed)


def _order_name(relation: Relation, index: int) -> str:
    name = f"__order_{index}"
    while name in relation.columns:
        name = "_" + name
    return name
