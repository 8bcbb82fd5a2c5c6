"""Small builders of sqlglot trees, shared by the compiler's modules.

Every piece of SQL the compiler emits is made here or from sqlglot's own
classes, never by pasting text: names become quoted identifiers and values
from the query become placeholders (see `Params`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot import exp

PLACEHOLDER_PREFIX = "kqlp_"


@dataclass(frozen=True, slots=True)
class Grouping:
    """A cheaper key to group a value by, and how to make the value from it.

    ``bin(TimeGenerated, 1h)`` in SQLite groups by the text's first 13
    characters and writes the whole timestamp only once per group.
    """

    key: exp.Expression
    rebuild: Callable[[exp.Expression], exp.Expression]


@dataclass(frozen=True, slots=True)
class Typed:
    """A compiled scalar: its SQL, its KQL type, and what else we know.

    ``constant`` is True for a literal (or a value folded from literals);
    ``value`` is then its Python value, which functions such as ``ago``,
    ``bin`` or ``matches regex`` need at compile time.  ``raw_json`` marks a
    SQLite dynamic column whose text may not be JSON (see `Dialect.json`);
    ``grouping`` offers summarize a cheaper key (see `Grouping`).
    ``never_null`` marks a column the store declares NOT NULL.
    """

    sql: exp.Expression
    type: str
    constant: bool = False
    value: object = None
    raw_json: bool = False
    grouping: Grouping | None = None
    never_null: bool = False  # a NOT NULL column of the store, passed on


@dataclass
class Params:
    """The values bound to a query's placeholders, in the order created."""

    values: list[object] = field(default_factory=list)

    def add(self, value: object) -> exp.Placeholder:
        self.values.append(value)
        return exp.Placeholder(this=f"{PLACEHOLDER_PREFIX}{len(self.values) - 1}")


def fn(name: str, *args: exp.Expression) -> exp.Expression:
    """A call of the SQL function ``name``, printed as is in every dialect."""
    return exp.Anonymous(this=name, expressions=list(args))


def text(value: str) -> exp.Literal:
    """A string literal of the compiler's own (never of the query's)."""
    return exp.Literal.string(value)


def number(value: int | float) -> exp.Expression:
    literal = exp.Literal.number(abs(value))
    return exp.Paren(this=exp.Neg(this=literal)) if value < 0 else literal


def paren(node: exp.Expression) -> exp.Expression:
    simple = (exp.Column, exp.Literal, exp.Placeholder, exp.Anonymous, exp.Paren)
    return node if isinstance(node, simple) else exp.Paren(this=node)


def cast(node: exp.Expression, to: str) -> exp.Expression:
    return exp.Cast(this=node, to=exp.DataType.build(to))


def case(
    pairs: list[tuple[exp.Expression, exp.Expression]],
    default: exp.Expression | None = None,
) -> exp.Expression:
    ifs = [exp.If(this=cond, true=value) for cond, value in pairs]
    return exp.Case(ifs=ifs, default=default)


def eq(left: exp.Expression, right: exp.Expression) -> exp.Expression:
    return exp.EQ(this=paren(left), expression=paren(right))


def div(left: exp.Expression, right: exp.Expression) -> exp.Expression:
    """Division without sqlglot's casts; zero divisors give NULL in both stores."""
    divisor = fn("NULLIF", right, number(0))
    return exp.Div(this=paren(left), expression=divisor, typed=True, safe=False)


def concat(*parts: exp.Expression) -> exp.Expression:
    result = parts[0]
    for part in parts[1:]:
        result = exp.DPipe(this=result, expression=part)
    return result


def is_null(node: exp.Expression) -> exp.Expression:
    return exp.Is(this=paren(node), expression=exp.Null())


def not_(node: exp.Expression) -> exp.Expression:
    return exp.Not(this=paren(node))


def blank_text(typed: Typed) -> Typed:
    """A string as KQL has it, "" where the store holds NULL; other types as
    they are.  Groups, distinct values and join keys use it, so that a NULL
    string and "" are one value there, as they are in comparisons."""
    if typed.type != "string" or typed.constant or typed.never_null:
        return typed  # a column that is never NULL keeps its indexes
    return Typed(fn("COALESCE", typed.sql, text("")), "string")


def column(name: str, table: str) -> exp.Column:
    return exp.Column(
        this=exp.Identifier(this=name, quoted=True),
        table=exp.Identifier(this=table, quoted=False),
    )
