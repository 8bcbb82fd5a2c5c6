"""Shared pieces of the table-driven KQL cases (``test_cases_*.py``).

Each case runs on SQLite and on PostgreSQL.

Every case is a query over the rows of `tests.kql.fixture` and the result
KQL gives for it: the columns (name and type) and the rows.  Expected rows
are written out, or computed here by a few lines of Python that follow
KQL's documented semantics over the fixture's rows (never by the compiler
under test).  The semantics the cases hold the engine to:

- strings have no null in KQL: a NULL string column reads as ``None`` but
  compares, concatenates and measures as ``""`` (``!=``, ``!in``, ``!has``,
  ``!contains`` keep it; ``strcat`` and ``strlen`` see ``""``; ``isempty``
  is true; ``coalesce`` skips it as it skips ``""``; ``summarize ... by``,
  ``distinct``, join keys, ``dcount`` and ``make_set`` take it as ``""``);
- a null of another type: ``null == x`` is false and ``null != x`` is true
  for a non-null ``x``, ``<``/``>``/``between`` are false, aggregates skip
  it, ``asc`` sorts it first and ``desc`` last;
- ``==``, ``in`` and ``matches regex`` are case-sensitive; ``=~``, ``in~``,
  ``has``, ``contains``, ``startswith`` and ``endswith`` are not (ASCII case
  only: no case folding beyond ASCII is expected anywhere);
- ``percentile`` is the nearest-rank percentile, of the input's type.

Rows whose order KQL leaves undefined (no ``order by``/``sort``/``top``)
are compared as sorted lists: those cases say ``ordered=False``.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from .fixture import GATEWAY_ROWS, LLM_ROWS, NOW, Row

# The fixture, and small helpers to compute expectations from it ------------

G = GATEWAY_ROWS
USAGE = [row for row in LLM_ROWS if row["SequenceNumber"] == 0]
AGO_1D = "2026-02-28T00:30:00.000000Z"
AGO_1H = "2026-02-28T23:30:00.000000Z"


def row_of(cid: str) -> Row:
    return next(row for row in G if row["CorrelationId"] == cid)


def ids(predicate: Callable[[Row], bool], rows: Iterable[Row] = G) -> list[list[Any]]:
    return [[row["CorrelationId"]] for row in rows if predicate(row)]


def text_of(row: Row, column: str) -> str:
    """A string column as KQL sees it: NULL is the empty string."""
    return row.get(column) or ""


def groups(rows: Iterable[Row], key: Callable[[Row], Any]) -> dict[Any, list[Row]]:
    groups: dict[Any, list[Row]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return dict(groups)


def total(values: Iterable[Any]) -> Any:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def average(values: Iterable[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def nearest_rank(values: Iterable[Any], percent: float) -> Any:
    ordered = sorted(v for v in values if v is not None)
    rank = math.ceil(percent / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def json_of(text: str | None) -> Any:
    """A dynamic column's stored text as KQL reads it."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def usage_of(cid: str) -> Row | None:
    return next((row for row in USAGE if row["CorrelationId"] == cid), None)


# The case table -------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """A query's expected result."""

    columns: list[tuple[str, str]]
    rows: list[list[Any]]
    ordered: bool = True
    render: tuple[str, dict[str, Any]] | None = None
    unordered_lists: tuple[str, ...] = field(default=())


def case(
    id: str,
    query: str,
    columns: str,
    rows: Sequence[Sequence[Any]],
    *,
    ordered: bool = True,
    render: tuple[str, dict[str, Any]] | None = None,
    unordered_lists: tuple[str, ...] = (),
) -> Any:
    """One case: ``columns`` is ``"Name:type, Name:type"``."""
    parsed = [
        (name.strip(), kind.strip())
        for name, kind in (part.rsplit(":", 1) for part in columns.split(", "))
    ]
    expected = Expected(
        parsed, [list(r) for r in rows], ordered, render, unordered_lists
    )
    return pytest.param(query, expected, id=id)


GW = "ApiManagementGatewayLogs"
LLM = "ApiManagementGatewayLlmLog"


def where_ids(condition: str) -> str:
    return f"{GW} | where {condition} | project CorrelationId"


# Running the cases ------------------------------------------------------------

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "long": (int,),
    "int": (int,),
    "real": (float,),
    "bool": (bool,),
    "datetime": (str,),
    "timespan": (str,),
}
_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
_TIMESPAN = re.compile(r"^-?(\d+\.)?\d\d:\d\d:\d\d(\.\d{7})?$")


def _check_value_types(columns: list[tuple[str, str]], rows: list[list[Any]]) -> None:
    for row in rows:
        assert len(row) == len(columns), row
        for (name, kind), value in zip(columns, row, strict=True):
            if value is None or kind == "dynamic":
                continue
            allowed = _PYTHON_TYPES[kind]
            assert isinstance(value, allowed), (name, kind, value)
            assert kind == "bool" or not isinstance(value, bool), (name, kind, value)
            if kind == "datetime":
                assert _DATETIME.match(value), (name, value)
            if kind == "timespan":
                assert _TIMESPAN.match(value), (name, value)


def _normal(value: Any, *, sort_lists: bool = False) -> Any:
    """``value`` with floats rounded to 10 significant digits."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return float(f"{value:.10g}")
    if isinstance(value, list):
        items = [_normal(v) for v in value]
        return sorted(items, key=_sort_key) if sort_lists else items
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    return value


def _sort_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _normal_rows(rows: Sequence[Sequence[Any]], expected: Expected) -> list[Any]:
    names = [name for name, _ in expected.columns]
    normal = [
        [
            _normal(v, sort_lists=name in expected.unordered_lists)
            for name, v in zip(names, row, strict=False)
        ]
        for row in rows
    ]
    return normal if expected.ordered else sorted(normal, key=_sort_key)


def run(engine: Any, query: str, **limits: Any) -> Any:
    """Run ``query`` at the fixture's ``NOW`` within ``limits``."""
    from tollhouse.kql.run import QueryLimits, run_query

    return run_query(engine, query, QueryLimits(**limits), now=NOW)


def check_case(engine: Any, query: str, expected: Expected) -> None:
    """Run ``query`` on ``engine`` and compare with ``expected`` exactly."""
    result = run(engine, query)

    columns = [(c.name, c.type) for c in result.columns]
    assert columns == expected.columns
    rows = [list(r) for r in result.rows]
    _check_value_types(columns, rows)
    assert _normal_rows(rows, expected) == _normal_rows(expected.rows, expected)
    assert result.truncated is False

    render = result.render
    got = None if render is None else (render.kind, dict(render.properties))
    assert got == expected.render
