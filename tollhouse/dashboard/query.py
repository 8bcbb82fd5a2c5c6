"""The Query page: KQL typed in, a table and a chart out.

    GET  /query          the editor, the tables' columns, the examples
    POST /query          run the query: the page, or the result alone for htmx
    POST /query/export   run it again and download it (``format``: csv, json)

Queries run as ``POST /query`` of the management API runs them: on its
thread pool, within the ``query`` limits.  A query ending in ``render``
with a chart kind the page can draw comes back with a chart description
(`chart`) that ``static/query.js`` hands to Chart.js.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from ..errors import QueryError, QueryLimitExceeded, StoreError
from ..kql.run import QueryResult
from ..kql.tables import GATEWAY_LOGS, LLM_LOG
from ..querying import format_csv, format_json, truncation_notice

if TYPE_CHECKING:
    from .site import Dashboard, QueryRunner

logger = logging.getLogger(__name__)

#: The saved examples, in order: (file name in ``examples/``, title).
EXAMPLES = (
    ("daily-summary", "Daily token summary"),
    ("blocked-requests", "Blocked requests"),
    ("tokens-per-hour", "Tokens per hour"),
    ("requests-by-status", "Requests by status"),
    ("usage-per-subscription", "Usage per subscription"),
    ("errors-by-reason", "Errors by reason"),
)
#: Chart kinds drawn, to how they are drawn.
CHARTS = {
    "timechart": "line",
    "linechart": "line",
    "areachart": "area",
    "columnchart": "column",
    "barchart": "bar",
    "piechart": "pie",
}
#: Most rows `suggested_chart` draws.
SUGGESTED_ROWS = 1000
#: Most rows the page's table shows; the exports hold them all.
SHOWN_ROWS = 1000
#: The tables listed beside the editor (each once, by its usual name).
TABLES = (GATEWAY_LOGS, LLM_LOG)

_NUMERIC = frozenset({"long", "int", "real"})
_EXPORTS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "json": ("application/json", "json"),
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What running a query gave: a result, or an error to show."""

    result: QueryResult | None = None
    error: str | None = None
    caret: str | None = None


class QueryPage:
    """The Query page's routes."""

    def __init__(self, dashboard: Dashboard, queries: QueryRunner) -> None:
        self._dashboard = dashboard
        self._queries = queries

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_get("/query", self._page)
        router.add_post("/query", self._run)
        router.add_post("/query/export", self._export)

    async def _page(self, request: web.Request) -> web.Response:
        chosen = request.query.get("example", EXAMPLES[0][0])
        text = example(chosen) if chosen in dict(EXAMPLES) else example("daily-summary")
        return self._render(request, text, None)

    async def _run(self, request: web.Request) -> web.Response:
        text = str((await request.post()).get("query", ""))
        outcome = await self._outcome(text)
        if request.headers.get("HX-Request") == "true":
            # A large result takes a while to write out: not on the event loop.
            return await asyncio.to_thread(
                self._dashboard.render,
                request,
                "query_result.html",
                query=text,
                **_shown(outcome),
            )
        return await asyncio.to_thread(self._render, request, text, outcome)

    async def _export(self, request: web.Request) -> web.Response:
        form = await request.post()
        text = str(form.get("query", ""))
        fmt = str(form.get("format", "csv"))
        if fmt not in _EXPORTS:
            raise web.HTTPBadRequest(text="Export as csv or json.")
        outcome = await self._outcome(text)
        if outcome.result is None:
            raise web.HTTPBadRequest(text=outcome.error or "Nothing to export.")

        result = outcome.result
        content_type, suffix = _EXPORTS[fmt]
        body = await asyncio.to_thread(_export_body, result, fmt)
        return web.Response(
            body=body,
            headers={
                "Content-Type": content_type,
                "Content-Disposition": f'attachment; filename="query.{suffix}"',
                "X-Result-Truncated": "true" if result.truncated else "false",
                "Cache-Control": "no-store",
            },
        )

    async def _outcome(self, text: str) -> Outcome:
        if not text.strip():
            return Outcome(error="Type a query first.")
        try:
            result = await self._queries(text)
        except QueryLimitExceeded as exc:
            return Outcome(error=exc.message)
        except QueryError as exc:
            message = f"line {exc.line}, column {exc.column}: {exc.message}"
            return Outcome(error=message, caret=exc.caret or None)
        except StoreError as exc:
            logger.warning("dashboard: the store failed a query: %s", exc)
            return Outcome(error=f"The store failed the query: {exc}")
        logger.info(
            "dashboard ran a query: %d rows in %.3f s",
            len(result.rows),
            result.elapsed,
            extra={"rows": len(result.rows), "truncated": result.truncated},
        )
        return Outcome(result=result)

    def _render(
        self, request: web.Request, text: str, outcome: Outcome | None
    ) -> web.Response:
        return self._dashboard.render(
            request,
            "query.html",
            query=text,
            examples=EXAMPLES,
            tables=TABLES,
            ran=outcome is not None,
            **_shown(outcome or Outcome()),
        )


def _export_body(result: QueryResult, fmt: str) -> bytes:
    return format_csv(result).encode() if fmt == "csv" else format_json(result)


def example(name: str) -> str:
    """The text of the saved example ``name`` (a file in ``examples/``)."""
    files = resources.files("tollhouse.dashboard") / "examples"
    return (files / f"{name}.kql").read_text(encoding="utf-8")


def _shown(outcome: Outcome) -> dict[str, Any]:
    """The template's view of ``outcome``: cells as text, the chart as JSON."""
    result = outcome.result
    if result is None:
        return {
            "result": None,
            "error": outcome.error,
            "caret": outcome.caret,
            "chart": None,
            "suggested": None,
        }
    spec = chart(result)
    suggested = None if spec is not None else suggested_chart(result)
    return {
        "result": {
            "columns": result.columns,
            "numeric": [c.type in _NUMERIC for c in result.columns],
            "rows": [[cell(v) for v in row] for row in result.rows[:SHOWN_ROWS]],
            "count": len(result.rows),
            "truncated": truncation_notice(result) if result.truncated else None,
            "elapsed": result.elapsed,
        },
        "error": None,
        "caret": None,
        "chart": None if spec is None else orjson.dumps(spec).decode(),
        "suggested": None if suggested is None else orjson.dumps(suggested).decode(),
    }


def cell(value: object) -> str:
    """A value as the table shows it: dynamic values as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def chart(result: QueryResult) -> dict[str, Any] | None:
    """What to draw for ``result``, or None when it asks for no chart.

    The x axis is ``xcolumn`` or the first column; the series are the
    ``ycolumns`` or else every other numeric column.
    """
    if result.render is None or result.render.kind not in CHARTS:
        return None
    if not result.rows:
        return None  # the page says there are no rows; no empty frame
    properties = result.render.properties
    names = [column.name for column in result.columns]
    types = {column.name: column.type for column in result.columns}
    x = str(properties.get("xcolumn", names[0] if names else ""))
    if x not in types:
        return None
    wanted = properties.get("ycolumns")
    if isinstance(wanted, str):
        wanted = [wanted]
    if isinstance(wanted, list):
        ys = [str(name) for name in wanted if str(name) in types]
    else:
        ys = [name for name in names if name != x and types[name] in _NUMERIC]
    if not ys:
        return None

    at = {name: i for i, name in enumerate(names)}
    return {
        "kind": CHARTS[result.render.kind],
        "title": str(properties.get("title", "")),
        "time": types[x] == "datetime",
        "labels": [row[at[x]] for row in result.rows],
        "series": [
            {"name": y, "values": [_number(row[at[y]]) for row in result.rows]}
            for y in ys
        ],
    }


def suggested_chart(result: QueryResult) -> dict[str, Any] | None:
    """A chart of a result that asked for none, as Log Analytics' Chart tab draws.

    The x axis is the first datetime column (a line), or else the first
    string column, or else the first of two or more numeric columns (its
    values as labels); a lone numeric column is drawn over the row numbers.
    Every other numeric column is a series.  A single row of numbers only (a
    ``summarize`` without ``by``) is one bar per column.  None when there is
    no number to draw or more rows than `SUGGESTED_ROWS`.
    """
    if not result.rows or len(result.rows) > SUGGESTED_ROWS:
        return None
    names = [column.name for column in result.columns]
    types = [column.type for column in result.columns]
    numeric = [i for i, t in enumerate(types) if t in _NUMERIC]
    if len(result.rows) == 1 and len(numeric) == len(types) > 1:
        [row] = result.rows
        return {
            "kind": "column",
            "title": "",
            "time": False,
            "labels": names,
            "series": [{"name": "Value", "values": [_number(v) for v in row]}],
        }
    x = next((i for i, t in enumerate(types) if t == "datetime"), None)
    if x is None:
        x = next((i for i, t in enumerate(types) if t == "string"), None)
    if x is None and len(numeric) > 1:
        x = numeric[0]
    ys = [i for i in numeric if i != x]
    if not ys:
        return None
    if x is None:
        labels: list[object] = [str(n) for n in range(1, len(result.rows) + 1)]
    elif types[x] in _NUMERIC:
        labels = [cell(row[x]) for row in result.rows]
    else:
        labels = [row[x] for row in result.rows]
    return {
        "kind": "line" if x is not None and types[x] == "datetime" else "column",
        "title": "",
        "time": x is not None and types[x] == "datetime",
        "labels": labels,
        "series": [
            {"name": names[y], "values": [_number(row[y]) for row in result.rows]}
            for y in ys
        ],
    }


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
