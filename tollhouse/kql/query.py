"""`compile_query`: KQL text in, one parameterized SELECT out.

The SQL is a sqlglot tree printed for the store: names from the query appear
only as quoted identifiers of known columns, and every string, datetime or
dynamic literal is a bound parameter.  The statement is a single SELECT and
ends with ``LIMIT max_rows + 1``, so that the runner can tell that the
result was cut.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from sqlglot import exp

from .compiler import Compiler
from .dialects import dialect_for
from .errors import CompileError, QueryError
from .relation import build_select
from .sql import PLACEHOLDER_PREFIX, Params
from .syntax import parse
from .values import converter

logger = logging.getLogger(__name__)

Dialect = Literal["sqlite", "postgres"]

_PLACEHOLDERS = {
    "sqlite": re.compile(rf":{PLACEHOLDER_PREFIX}(\d+)\b"),
    "postgres": re.compile(rf"%\({PLACEHOLDER_PREFIX}(\d+)\)s|%"),
}


@dataclass(frozen=True)
class Column:
    """A result column: its name and KQL type (``string``, ``long``...)."""

    name: str
    type: str


@dataclass(frozen=True)
class Render:
    """A query's ``render``: the chart kind and its ``with (...)`` properties."""

    kind: str
    properties: Mapping[str, object]


@dataclass(frozen=True)
class CompiledQuery:
    """A query ready to run: SQL, its parameters, and how to read its rows.

    ``params`` are positional: ``?`` placeholders for SQLite, ``%s`` for
    psycopg (a literal ``%`` in the SQL is doubled, so always pass
    ``params``, even when empty).
    """

    sql: str
    params: Sequence[object]
    columns: tuple[Column, ...]
    render: Render | None
    _convert: Callable[[Sequence[object]], list[object]] = field(
        repr=False, compare=False
    )

    def convert(self, row: Sequence[object]) -> list[object]:
        """One raw database row as KQL values (see `values`)."""
        return self._convert(row)


def compile_query(
    text: str, dialect: Dialect, *, now: datetime, max_rows: int
) -> CompiledQuery:
    """Compile the KQL ``text`` for ``dialect``; raise `QueryError` if it is wrong.

    ``now`` is the instant ``now()`` and ``ago()`` count from.  ``max_rows``
    caps the rows: the SQL asks for one more, to tell that the cap was hit.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    try:
        return _compile(text, dialect, now, max_rows)
    except CompileError as exc:
        raise QueryError(
            exc.message,
            line=exc.pos.line,
            column=exc.pos.column,
            expected=exc.expected,
            source=text,
        ) from None
    except RecursionError:
        raise QueryError("the query is nested too deeply", source=text) from None


def _compile(
    text: str, dialect: Dialect, now: datetime, max_rows: int
) -> CompiledQuery:
    query = parse(text)
    params = Params()
    compiler = Compiler(dialect_for(dialect, params), now)
    result = compiler.query(query)
    relation = result.relation
    cap = max_rows + 1
    relation = relation.change(
        limit=cap if relation.limit is None else min(relation.limit, cap)
    )
    select = build_select(relation).transform(_parenthesize, copy=False)
    assert isinstance(select, exp.Select)
    sql, values = _positional(select.sql(dialect=dialect), params.values, dialect)
    columns = tuple(
        Column(name, typed.type) for name, typed in relation.columns.items()
    )
    render = None
    if result.render is not None:
        render = Render(result.render.kind, dict(result.render.properties))
    convert = converter([c.type for c in columns], dialect)
    logger.debug("compiled KQL to %s", sql)
    return CompiledQuery(sql, values, columns, render, convert)


def _parenthesize(node: exp.Expression) -> exp.Expression:
    """Put parentheses around every operation inside another, so that the
    printed SQL means the tree whatever the operators' precedence."""
    if isinstance(node, exp.Binary | exp.Neg):
        for key in ("this", "expression"):
            child = node.args.get(key)
            if isinstance(child, exp.Binary | exp.Neg | exp.Not | exp.Case):
                node.set(key, exp.Paren(this=child))
    return node


def _positional(
    sql: str, values: list[object], dialect: str
) -> tuple[str, list[object]]:
    """Number the placeholders in the order they appear in the printed SQL.

    A column expression used twice (in SELECT and in ORDER BY, say) prints
    its placeholder twice; each occurrence gets its own positional value.
    """
    ordered: list[object] = []
    mark = "?" if dialect == "sqlite" else "%s"

    def replace(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return "%%"
        ordered.append(values[int(match.group(1))])
        return mark

    return _PLACEHOLDERS[dialect].sub(replace, sql), ordered
