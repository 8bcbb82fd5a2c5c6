"""The Logs page: the gateway log searched as ``GET /logs`` searches it.

    GET /logs                  the page: filters, the newest requests
    GET /logs/rows             the list alone, which htmx polls and swaps in
    GET /logs/{correlation_id} one request in full

The filters are ``GET /logs``'s query parameters, read by the same code,
plus ``range`` (the last ``15m``, ``1h``, ``24h``, ``7d`` or ``30d``, or
``all``), which sets ``from`` unless it is given.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import orjson
from aiohttp import web

from ..errors import ManagementError
from ..management.logs import LogRoutes, encode_cursor, read_query, summary_json

if TYPE_CHECKING:
    from .site import Dashboard

logger = logging.getLogger(__name__)

#: Requests on one page of the list.
PAGE_SIZE = 50
#: Seconds between refreshes of the list.
POLL_SECONDS = 3

#: The time ranges offered, by name; the first is the default.
RANGES = {
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "15m": ("Last 15 minutes", timedelta(minutes=15)),
    "1h": ("Last hour", timedelta(hours=1)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
    "all": ("All time", None),
}
#: The text filters of the form, in order: (parameter, label, placeholder).
FIELDS = (
    ("subscription", "Subscription", "any"),
    ("api", "API", "any"),
    ("operation", "Operation", "any"),
    ("deployment", "Deployment", "any"),
    ("status", "Status", "200, 4xx…"),
    ("caller_ip", "Caller IP", "any"),
)


class LogsPage:
    """The Logs page's routes."""

    def __init__(self, dashboard: Dashboard, logs: LogRoutes) -> None:
        self._dashboard = dashboard
        self._logs = logs

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_get("/logs", self._page)
        router.add_get("/logs/rows", self._rows)
        router.add_get("/logs/{correlation_id}", self._detail)

    async def _page(self, request: web.Request) -> web.Response:
        context = await self._list(request)
        return self._dashboard.render(
            request,
            "logs.html",
            ranges=RANGES,
            fields=FIELDS,
            poll_seconds=POLL_SECONDS,
            **context,
        )

    async def _rows(self, request: web.Request) -> web.Response:
        context = await self._list(request)
        # The address bar follows the filters, so a reload or a shared link
        # shows the same list.
        query = urlencode(context["form"])
        headers = {"HX-Replace-Url": f"{request.path[: -len('/rows')]}?{query}"}
        return self._dashboard.render(
            request, "log_rows.html", headers=headers, **context
        )

    async def _detail(self, request: web.Request) -> web.Response:
        correlation_id = request.match_info["correlation_id"]
        detail = await self._logs.detail(correlation_id)
        return self._dashboard.render(
            request,
            "log_detail.html",
            item=detail,
            prompt=_conversation(detail["prompt"]),
            completion=_conversation(detail["completion"]),
            back=_back(request),
        )

    async def _list(self, request: web.Request) -> dict[str, Any]:
        form = {k: v.strip() for k, v in request.query.items() if v.strip()}
        chosen = form.get("range", next(iter(RANGES)))
        if chosen not in RANGES:
            chosen = next(iter(RANGES))
        form["range"] = chosen
        parameters = {k: v for k, v in form.items() if k != "range"}
        since = RANGES[chosen][1]
        if since is not None and "from" not in parameters:
            parameters["from"] = (datetime.now(UTC) - since).isoformat()
        parameters["limit"] = str(PAGE_SIZE)

        error = None
        try:
            filters, limit, after = read_query(parameters)
            page = await self._logs.page(filters, limit, after)
        except ManagementError as exc:
            if exc.status != 400:
                raise
            error, items, following = exc.message, [], None
        else:
            items = [summary_json(row) for row in page.items]
            following = None if page.next is None else encode_cursor(page.next)
        older = None
        if following is not None:
            older = urlencode({**form, "cursor": following})
        return {
            "form": {k: v for k, v in form.items() if k != "cursor"},
            "items": items,
            "older": older,
            "paged": "cursor" in form,
            "error": error,
            "refreshed": datetime.now(UTC).strftime("%H:%M:%S UTC"),
        }


def _conversation(found: dict[str, Any] | None) -> dict[str, Any] | None:
    """Messages ready to show: each with its role and its text in parts."""
    if found is None:
        return None
    messages = found["messages"]
    if messages is None:
        return {"truncated": found["truncated"], "raw": found["text"], "messages": []}
    shown = [_message(m) for m in messages]
    return {"truncated": found["truncated"], "raw": None, "messages": shown}


def _message(message: Any) -> dict[str, Any]:
    if not isinstance(message, dict):
        return {"role": None, "parts": [], "extra": _pretty(message)}
    parts = _parts(message.get("content"))
    rest = {k: v for k, v in message.items() if k not in ("role", "content")}
    return {
        "role": message.get("role"),
        "parts": parts,
        "extra": _pretty(rest) if rest else None,
    }


def _parts(content: Any) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [
            part["text"]
            if isinstance(part, dict) and isinstance(part.get("text"), str)
            else _pretty(part)
            for part in content
        ]
    return [_pretty(content)]


def _pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _back(request: web.Request) -> str:
    """The list the detail was opened from, with its filters, or the list."""
    listing = request.path.rsplit("/", 1)[0]
    referer = urlsplit(request.headers.get("Referer", ""))
    if referer.netloc == request.host and referer.path == listing and referer.query:
        return f"{listing}?{referer.query}"
    return listing
