"""KQL for the surfaces: `tollhouse query` and the management API.

`query_engine` opens the query engine of a configuration's store (the
SQLite file in the data directory, or PostgreSQL for ``store.kind:
postgres``) and `query_limits` reads its ``query`` section; the surfaces
run queries with `tollhouse.kql.run.run_query` and turn the result into what
they print with `result_document` (the JSON object), `format_csv` and
`format_table`.

The JSON object is ``{"columns": [{"name", "type"}, ...], "rows": [[...]]}``,
plus ``"render": {"kind", "properties"}`` when the query ends in ``render``
and ``"truncated": true`` when the row cap cut the result.  Values are the
runner's: datetimes as ISO 8601 text, timespans as KQL text, dynamic values
as parsed JSON.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import orjson

from .config import GatewayConfig
from .kql.run import (
    PostgresQueryEngine,
    QueryEngine,
    QueryLimits,
    QueryResult,
    SqliteQueryEngine,
)

#: Cells wider than this many columns are cut (with "…") in a table.
MAX_CELL_WIDTH = 80

_NUMERIC = frozenset({"long", "int", "real"})
# Control characters in a table cell are shown, not sent to the terminal:
# a logged prompt may hold escape sequences.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NAMED_CONTROLS = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def query_engine(config: GatewayConfig) -> QueryEngine:
    """The engine that reads the store ``config`` logs to."""
    if config.store.kind == "postgres" and config.store.dsn:
        return PostgresQueryEngine(config.store.dsn)
    return SqliteQueryEngine(config.database_path)


def query_limits(config: GatewayConfig) -> QueryLimits:
    """The row cap and time limit of ``config``'s ``query`` section."""
    return QueryLimits(
        max_rows=config.query.max_rows, timeout=config.query.timeout_seconds
    )


def truncation_notice(result: QueryResult) -> str:
    """What to tell a person whose result the row cap cut."""
    return (
        f"the result was cut at {len(result.rows)} rows (the query.max_rows "
        "limit); narrow the query, or add take/limit to choose the rows"
    )


# The JSON document ---------------------------------------------------------


def result_document(result: QueryResult, *, complete: bool = False) -> dict[str, Any]:
    """The result as one JSON-ready object.

    ``render`` and ``truncated`` appear only when they say something, unless
    ``complete`` asks for them always (``render`` is then null when absent).
    """
    document: dict[str, Any] = {
        "columns": [{"name": c.name, "type": c.type} for c in result.columns],
        "rows": result.rows,
    }
    if result.render is not None:
        document["render"] = {
            "kind": result.render.kind,
            "properties": dict(result.render.properties),
        }
    elif complete:
        document["render"] = None
    if result.truncated or complete:
        document["truncated"] = result.truncated
    return document


def format_json(result: QueryResult, *, complete: bool = False) -> bytes:
    """`result_document` as UTF-8 JSON text."""
    return orjson.dumps(result_document(result, complete=complete))


# CSV -----------------------------------------------------------------------


def format_csv(result: QueryResult) -> str:
    """A header row of column names, then one record per row (RFC 4180).

    Dynamic arrays and objects are compact JSON; null is an empty field.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([column.name for column in result.columns])
    for row in result.rows:
        writer.writerow([_text(value) for value in row])
    return out.getvalue()


# Table ---------------------------------------------------------------------


def format_table(result: QueryResult) -> str:
    """Aligned columns for people: a header, a rule, the rows.

    Numbers are right-aligned, control characters shown escaped (``\\n``,
    ``\\t``, ``\\x1b``), and cells wider than `MAX_CELL_WIDTH` cut with
    "…"; the JSON and CSV formats keep every value whole.
    """
    header = [column.name for column in result.columns]
    cells = [[_cell(value) for value in row] for row in result.rows]
    widths = [
        max(_width(line[i]) for line in [header, *cells]) for i in range(len(header))
    ]
    right = [column.type in _NUMERIC for column in result.columns]
    lines = [
        _line(header, widths, [False] * len(header)),
        _line(["-" * w for w in widths], widths, right),
    ]
    lines.extend(_line(line, widths, right) for line in cells)
    return "".join(line.rstrip() + "\n" for line in lines)


def _line(cells: Sequence[str], widths: Sequence[int], right: Sequence[bool]) -> str:
    padded = []
    for cell, width, align_right in zip(cells, widths, right, strict=True):
        padding = " " * (width - _width(cell))
        padded.append(padding + cell if align_right else cell + padding)
    return "  ".join(padded)


def _cell(value: object) -> str:
    text = _CONTROL.sub(_shown, _text(value))
    if _width(text) <= MAX_CELL_WIDTH:
        return text
    cut = []
    used = 0
    for char in text:
        used += _char_width(char)
        if used > MAX_CELL_WIDTH - 1:
            break
        cut.append(char)
    return "".join(cut) + "…"


def _shown(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED_CONTROLS.get(char) or f"\\x{ord(char):02x}"


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def _width(text: str) -> int:
    """Terminal columns ``text`` takes: wide (CJK, Hangul) characters take two."""
    if text.isascii():
        return len(text)
    return sum(_char_width(char) for char in text)


def _char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
