"""Log routes of the management API: search the gateway log, read a request.

    GET /logs                     requests newest first, filtered, a page each
    GET /logs/{correlation_id}    one request in full

``GET /logs`` takes the query parameters ``from`` and ``to`` (ISO 8601;
``from`` inclusive, ``to`` exclusive), ``subscription``, ``api``,
``operation``, ``deployment``, ``status`` (a code such as ``429`` or a class
such as ``4xx``), ``caller_ip``, ``text`` (in the prompt or completion),
``limit`` (default 50, at most 500) and ``cursor``, the ``next`` of the page
before.  Headers are shown as they were logged, secrets already redacted;
prompts and completions are put back together as ``tollhouse logs show``
does.  Reads run on the management API's query threads.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import orjson
from aiohttp import web

from ..errors import ManagementError, StoreError
from ..kql.errors import QueryLimitExceeded
from ..kql.run import QueryEngine, QueryLimits
from ..logsearch import MAX_PAGE, Cursor, Filters, Page, find, search
from ..logview import Messages, reassemble
from .bodies import json_response, not_found

logger = logging.getLogger(__name__)

#: Requests on a page unless ``limit`` says otherwise.
DEFAULT_PAGE = 50

T = TypeVar("T")
_STATUS = re.compile(r"([1-5])(\d\d|xx)", re.IGNORECASE)
_PARAMETERS = frozenset(
    {
        "from",
        "to",
        "subscription",
        "api",
        "operation",
        "deployment",
        "status",
        "caller_ip",
        "text",
        "limit",
        "cursor",
    }
)


class LogRoutes:
    """The ``/logs`` routes over the store's query engine."""

    def __init__(
        self, engine: QueryEngine, pool: Executor, limits: QueryLimits
    ) -> None:
        self._engine = engine
        self._pool = pool
        self._timeout = limits.timeout

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_get("/logs", self._list)
        router.add_get("/logs/{correlation_id}", self._get)

    async def page(
        self, filters: Filters, limit: int, after: Cursor | None = None
    ) -> Page:
        """One page of the search, read on the query threads."""
        return await self._run(
            lambda: search(
                self._engine, filters, limit=limit, after=after, timeout=self._timeout
            )
        )

    async def detail(self, correlation_id: str) -> dict[str, Any]:
        """One request as `detail_json` shows it; 404 when there is none."""
        row, llm_rows = await self._run(
            lambda: find(self._engine, correlation_id, timeout=self._timeout)
        )
        if row is None:
            raise not_found("request with correlation id", correlation_id)
        return detail_json(row, llm_rows)

    async def _list(self, request: web.Request) -> web.Response:
        filters, limit, after = read_query(request.query)
        page = await self.page(filters, limit, after)
        items = [summary_json(row) for row in page.items]
        following = None if page.next is None else encode_cursor(page.next)
        return json_response({"value": items, "count": len(items), "next": following})

    async def _get(self, request: web.Request) -> web.Response:
        correlation_id = request.match_info["correlation_id"]
        return json_response(await self.detail(correlation_id))

    async def _run(self, read: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, read)
        except QueryLimitExceeded as exc:
            raise ManagementError(504, "QueryLimitExceeded", exc.message) from exc
        except StoreError as exc:
            logger.warning("management API: the store failed a log read: %s", exc)
            raise ManagementError(503, "StoreUnavailable", str(exc)) from exc


def summary_json(row: dict[str, Any]) -> dict[str, Any]:
    """A request as one line of the log list."""
    return {
        "time": row["TimeGenerated"],
        "correlationId": row["CorrelationId"],
        "method": row["Method"],
        "path": _path(row["Url"]),
        "status": row["ResponseCode"],
        "subscription": row["ApimSubscriptionId"],
        "api": row["ApiId"],
        "operation": row["OperationId"],
        "deployment": row["DeploymentName"],
        "callerIp": row["CallerIpAddress"],
        "tokens": _tokens(row),
        "totalTime": row["TotalTime"],
        "error": _error(row),
    }


def detail_json(row: dict[str, Any], llm_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A request in full, with its prompt and completion reassembled."""
    usage = next((r for r in llm_rows if r["SequenceNumber"] == 0), None)
    return {
        **summary_json({**row, **_usage_columns(row, usage)}),
        "url": row["Url"],
        "product": row["ProductId"],
        "backend": row["BackendId"],
        "backendStatus": row["BackendResponseCode"],
        "apiVersion": row["ApiVersion"],
        "requestHeaders": _json_value(row["RequestHeaders"]),
        "responseHeaders": _json_value(row["ResponseHeaders"]),
        "prompt": _messages(reassemble(llm_rows, "RequestMessages")),
        "completion": _messages(reassemble(llm_rows, "ResponseMessages")),
        "usage": None if usage is None else _usage(usage),
        "timings": {
            "total": row["TotalTime"],
            "backend": row["BackendTime"],
            "client": row["ClientTime"],
            "timeToFirstByte": row["TimeToFirstByte"],
        },
        "lastError": _last_error(row),
    }


def read_query(query: Mapping[str, str]) -> tuple[Filters, int, Cursor | None]:
    """The filters, page size and cursor of ``GET /logs`` query parameters.

    A parameter that is not valid raises a 400 ``InvalidParameter``.
    """
    unknown = sorted(set(query) - _PARAMETERS)
    if unknown:
        known = ", ".join(sorted(_PARAMETERS))
        raise _bad(f"Unknown parameter {unknown[0]!r}; the parameters are {known}.")
    since, until = _time(query, "from"), _time(query, "to")
    if since is not None and until is not None and since >= until:
        raise _bad("'from' must be before 'to'.")
    filters = Filters(
        since=since,
        until=until,
        subscription=query.get("subscription"),
        api=query.get("api"),
        operation=query.get("operation"),
        deployment=query.get("deployment"),
        status=_status(query.get("status")),
        caller_ip=query.get("caller_ip"),
        text=query.get("text") or None,
    )
    cursor = query.get("cursor")
    return (
        filters,
        _limit(query.get("limit")),
        None if cursor is None else _decode(cursor),
    )


def _time(query: Mapping[str, str], name: str) -> datetime | None:
    text = query.get(name)
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(
            f"{name!r} must be an ISO 8601 time such as 2026-12-04T09:30:00Z."
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _status(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    match = _STATUS.fullmatch(text)
    if match is None:
        raise _bad("'status' must be a status code such as 429 or a class like 4xx.")
    if match[2].lower() == "xx":
        low = int(match[1]) * 100
        return low, low + 100
    return int(text), int(text) + 1


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_PAGE
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise _bad(f"'limit' must be a whole number from 1 to {MAX_PAGE}.")
    return int(text)


def encode_cursor(cursor: Cursor) -> str:
    """``cursor`` as the ``next`` of a page: opaque text for a URL."""
    raw = orjson.dumps([cursor.time, cursor.correlation_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(text: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        when, correlation_id = orjson.loads(raw)
        datetime.fromisoformat(when)
    except (binascii.Error, ValueError, TypeError):
        raise _bad("'cursor' is not one this API gave; use a page's 'next'.") from None
    if not isinstance(correlation_id, str):
        raise _bad("'cursor' is not one this API gave; use a page's 'next'.")
    return Cursor(when, correlation_id)


def _tokens(row: dict[str, Any]) -> dict[str, Any] | None:
    counts = (row["PromptTokens"], row["CompletionTokens"], row["TotalTokens"])
    if row["TokenCountSource"] is None and all(c is None for c in counts):
        return None
    return {
        "prompt": counts[0],
        "completion": counts[1],
        "total": counts[2],
        "source": row["TokenCountSource"],
    }


def _usage_columns(row: dict[str, Any], usage: dict[str, Any] | None) -> dict[str, Any]:
    """The usage row's counts; its deployment, else the gateway row's own.

    A request refused before the backend (an ip-filter, a quota) has no
    usage row but was still addressed to a deployment.
    """
    names = ("PromptTokens", "CompletionTokens", "TotalTokens", "TokenCountSource")
    found = {name: None if usage is None else usage[name] for name in names}
    deployment = None if usage is None else usage["DeploymentName"]
    return {**found, "DeploymentName": deployment or row["DeploymentName"]}


def _usage(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": row["ModelName"],
        "streamed": _flag(row["IsStreamCompletion"]),
        "promptTokens": row["PromptTokens"],
        "completionTokens": row["CompletionTokens"],
        "totalTokens": row["TotalTokens"],
        "reasoningTokens": row["ReasoningTokens"],
        "cachedTokens": row["CachedTokens"],
        "source": row["TokenCountSource"],
        "finishReason": row["FinishReason"],
    }


def _error(row: dict[str, Any]) -> dict[str, Any] | None:
    if not (row["LastErrorSource"] or row["LastErrorReason"] or row["ErrorKind"]):
        return None
    return {
        "source": row["LastErrorSource"],
        "reason": row["LastErrorReason"],
        "kind": row["ErrorKind"],
    }


def _last_error(row: dict[str, Any]) -> dict[str, Any] | None:
    fields = ("Source", "Reason", "Message", "Section", "Scope")
    found = {f.lower(): row[f"LastError{f}"] for f in fields}
    return found if any(found.values()) else None


def _messages(found: Messages | None) -> dict[str, Any] | None:
    if found is None:
        return None
    shown: dict[str, Any] = {"truncated": found.truncated, "messages": found.messages}
    if found.messages is None:
        shown["text"] = found.text  # not JSON: shown as stored
    return shown


def _json_value(value: object) -> Any:
    if not isinstance(value, str):
        return value  # PostgreSQL returns JSON parsed
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def _flag(value: object) -> bool | None:
    return None if value is None else bool(value)


def _path(url: str | None) -> str | None:
    return None if not url else (urlsplit(url).path or url)


def _bad(message: str) -> ManagementError:
    return ManagementError(400, "InvalidParameter", message)
