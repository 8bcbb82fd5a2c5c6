"""``GET /usage``: requests, errors and tokens in a time range, by group.

Query parameters: ``from`` and ``to`` (ISO 8601 times; the last 24 hours by
default, ``to`` excluded) and ``by``, one of `GROUPS`.  Each group of the
answer counts the requests of the gateway log, those that failed (status
400 or more) and those an ``ip-filter`` policy blocked, and sums the LLM
log's prompt, completion and total tokens, with how many of those counts
were estimated rather than reported by the backend.

The numbers come from two KQL queries compiled for the store, so they are
the same on SQLite and PostgreSQL and the same a KQL query would give.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from concurrent.futures import Executor
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from ..errors import ManagementError, StoreError
from ..kql.errors import QueryLimitExceeded
from ..kql.run import QueryEngine, QueryLimits, QueryResult, run_query
from ..store.schema import GATEWAY_LOG_TABLE, LLM_LOG_TABLE, utc_timestamp
from .bodies import json_response

logger = logging.getLogger(__name__)

#: The ``by`` values and the KQL expression each groups by.
GROUPS: Mapping[str, str] = {
    "subscription": "ApimSubscriptionId",
    "deployment": "DeploymentName",
    "api": "ApiId",
    "operation": "OperationId",
    "day": "bin(TimeGenerated, 1d)",
    "hour": "bin(TimeGenerated, 1h)",
    "5min": "bin(TimeGenerated, 5m)",
}
_DEFAULT_SPAN = timedelta(days=1)
_PARAMETERS = frozenset({"from", "to", "by"})

_REQUESTS = """{table}
| where TimeGenerated >= datetime({start}) and TimeGenerated < datetime({end})
| summarize requests = count(),
    errors = countif(ResponseCode >= 400),
    blocked = countif(ResponseCode == 403 and LastErrorSource == "ip-filter")
    by key = {group}"""

_TOKENS = """{table}
| where TimeGenerated >= datetime({start}) and TimeGenerated < datetime({end})
| where coalesce(SequenceNumber, 0) == 0
| summarize promptTokens = sum(tolong(PromptTokens)),
    completionTokens = sum(tolong(CompletionTokens)),
    totalTokens = sum(tolong(TotalTokens)),
    estimated = countif(TokenCountSource == "estimated")
    by key = {group}"""

_COUNTS = ("requests", "errors", "blocked")
_TOKEN_COUNTS = ("promptTokens", "completionTokens", "totalTokens", "estimated")


class UsageRoutes:
    """``GET /usage`` over the store's query engine."""

    def __init__(
        self, engine: QueryEngine, pool: Executor, limits: QueryLimits
    ) -> None:
        self._engine = engine
        self._pool = pool
        self._limits = limits

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_get("/usage", self._usage)

    async def summary(self, start: datetime, end: datetime, by: str) -> dict[str, Any]:
        """The usage between ``start`` and ``end`` grouped ``by``, as JSON."""
        names = {
            "start": utc_timestamp(start),
            "end": utc_timestamp(end),
            "group": GROUPS[by],
        }
        requests = await self._run(_REQUESTS.format(table=GATEWAY_LOG_TABLE, **names))
        tokens = await self._run(_TOKENS.format(table=LLM_LOG_TABLE, **names))
        groups = _merge(requests, tokens)
        return {
            "from": names["start"],
            "to": names["end"],
            "by": by,
            "value": groups,
            "total": {n: sum(g[n] for g in groups) for n in (*_COUNTS, *_TOKEN_COUNTS)},
            "truncated": requests.truncated or tokens.truncated,
        }

    async def _usage(self, request: web.Request) -> web.Response:
        start, end, by = read_query(request.query)
        return json_response(await self.summary(start, end, by))

    async def _run(self, text: str) -> QueryResult:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._pool, run_query, self._engine, text, self._limits
            )
        except QueryLimitExceeded as exc:
            raise ManagementError(504, "QueryLimitExceeded", exc.message) from exc
        except StoreError as exc:
            logger.warning("management API: the store failed a usage read: %s", exc)
            raise ManagementError(503, "StoreUnavailable", str(exc)) from exc


def read_query(query: Mapping[str, str]) -> tuple[datetime, datetime, str]:
    """``from``, ``to`` and ``by`` of a ``/usage`` request, checked."""
    unknown = sorted(set(query) - _PARAMETERS)
    if unknown:
        raise _invalid(f"Unknown parameter {unknown[0]!r}; use from, to and by.")
    by = query.get("by", "subscription")
    if by not in GROUPS:
        raise _invalid(f"'by' must be one of {', '.join(GROUPS)}; got {by!r}.")
    end = _time(query, "to") or datetime.now(UTC)
    start = _time(query, "from") or end - _DEFAULT_SPAN
    if start >= end:
        raise _invalid("'from' must be earlier than 'to'.")
    return start, end, by


def _time(query: Mapping[str, str], name: str) -> datetime | None:
    text = query.get(name)
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise _invalid(
            f"{name!r} must be an ISO 8601 time such as 2026-12-04T09:00:00Z; "
            f"got {text!r}."
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _merge(requests: QueryResult, tokens: QueryResult) -> list[dict[str, Any]]:
    groups: dict[Any, dict[str, Any]] = {}
    for result, names in ((requests, _COUNTS), (tokens, _TOKEN_COUNTS)):
        for key, *values in result.rows:
            group = groups.setdefault(key, _empty(key))
            for name, value in zip(names, values, strict=True):
                group[name] = int(value) if isinstance(value, int | float) else 0
    return sorted(groups.values(), key=_order)


def _empty(key: Any) -> dict[str, Any]:
    shown = utc_timestamp(key) if isinstance(key, datetime) else key
    return {"key": shown, **dict.fromkeys((*_COUNTS, *_TOKEN_COUNTS), 0)}


def _order(group: dict[str, Any]) -> tuple[bool, str]:
    key = group["key"]
    return (key is None, "" if key is None else str(key))


def _invalid(message: str) -> ManagementError:
    return ManagementError(400, "InvalidParameter", message)
