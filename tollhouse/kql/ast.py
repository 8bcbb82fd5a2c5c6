"""The syntax tree of a KQL query, as `syntax.parse` builds it.

Every node carries the `Pos` of its first character, so that the compiler can
point its errors at the spot in the query that caused them.  Nodes are frozen:
the compiler reads them and never changes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Pos:
    """A place in the query text: 1-based line and column."""

    line: int
    column: int


# Scalar expressions.


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant.  ``type`` is the KQL type; ``value`` its Python value.

    Strings are `str`, numbers `int`/`float`, booleans `bool`, timespans
    `float` seconds, datetimes aware `datetime`, dynamics parsed JSON.
    ``None`` is a null of that type.
    """

    pos: Pos
    type: str
    value: object


@dataclass(frozen=True, slots=True)
class Name:
    """A bare name: a column, a ``let`` value or a table."""

    pos: Pos
    name: str


@dataclass(frozen=True, slots=True)
class Side:
    """``$left`` or ``$right`` in a join condition."""

    pos: Pos
    side: str


@dataclass(frozen=True, slots=True)
class Star:
    """``*`` as a function argument, as in ``arg_max(TimeGenerated, *)``."""

    pos: Pos


@dataclass(frozen=True, slots=True)
class Call:
    pos: Pos
    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Binary:
    """Arithmetic, comparison, string and logical operators alike."""

    pos: Pos
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Negate:
    pos: Pos
    operand: Expr


@dataclass(frozen=True, slots=True)
class InList:
    pos: Pos
    op: str  # "in", "!in", "in~" or "!in~"
    operand: Expr
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Between:
    pos: Pos
    negated: bool
    operand: Expr
    low: Expr
    high: Expr


@dataclass(frozen=True, slots=True)
class Member:
    """``target.name`` or ``target["name"]`` on a dynamic value."""

    pos: Pos
    target: Expr
    name: str


@dataclass(frozen=True, slots=True)
class Index:
    """``target[i]`` on a dynamic array (negative counts from the end)."""

    pos: Pos
    target: Expr
    index: Expr


Expr = (Literal | Name | Side | Star | Call | Binary | Negate | InList | Between) | (
    Member | Index
)


# Tabular operators.


@dataclass(frozen=True, slots=True)
class Assign:
    """One item of project, extend or summarize: ``name = expr`` or ``expr``."""

    pos: Pos
    name: str | None
    expr: Expr


@dataclass(frozen=True, slots=True)
class SortKey:
    pos: Pos
    expr: Expr
    descending: bool
    nulls_first: bool


@dataclass(frozen=True, slots=True)
class Where:
    pos: Pos
    predicate: Expr


@dataclass(frozen=True, slots=True)
class Project:
    pos: Pos
    items: tuple[Assign, ...]


@dataclass(frozen=True, slots=True)
class ProjectAway:
    pos: Pos
    names: tuple[Name, ...]


@dataclass(frozen=True, slots=True)
class ProjectRename:
    pos: Pos
    renames: tuple[tuple[Name, Name], ...]  # (new, old)


@dataclass(frozen=True, slots=True)
class Extend:
    pos: Pos
    items: tuple[Assign, ...]


@dataclass(frozen=True, slots=True)
class Summarize:
    pos: Pos
    aggregates: tuple[Assign, ...]
    by: tuple[Assign, ...]


@dataclass(frozen=True, slots=True)
class Count:
    pos: Pos


@dataclass(frozen=True, slots=True)
class Take:
    pos: Pos
    count: Expr


@dataclass(frozen=True, slots=True)
class Top:
    pos: Pos
    count: Expr
    keys: tuple[SortKey, ...]


@dataclass(frozen=True, slots=True)
class Order:
    pos: Pos
    keys: tuple[SortKey, ...]


@dataclass(frozen=True, slots=True)
class Distinct:
    pos: Pos
    names: tuple[Name, ...] | None  # None for ``distinct *``


@dataclass(frozen=True, slots=True)
class Join:
    pos: Pos
    kind: str
    right: Pipeline
    keys: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Union:
    pos: Pos
    tables: tuple[Pipeline, ...]


@dataclass(frozen=True, slots=True)
class MvExpand:
    pos: Pos
    name: str | None
    expr: Expr
    to_type: str | None


@dataclass(frozen=True, slots=True)
class Render:
    pos: Pos
    kind: str
    properties: Mapping[str, object]


Operator = (
    Where | Project | ProjectAway | ProjectRename | Extend | Summarize | Count
) | (Take | Top | Order | Distinct | Join | Union | MvExpand | Render)


@dataclass(frozen=True, slots=True)
class Pipeline:
    """A source (a table, a ``let`` name, a union or a scalar) and operators.

    A ``let`` whose value is a scalar is a pipeline with no operators and an
    expression as source; the compiler tells the two apart.
    """

    pos: Pos
    source: Expr | Union
    operators: tuple[Operator, ...]


@dataclass(frozen=True, slots=True)
class Let:
    pos: Pos
    name: str
    value: Pipeline


@dataclass(frozen=True, slots=True)
class Query:
    lets: tuple[Let, ...]
    body: Pipeline
