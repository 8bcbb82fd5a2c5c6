"""Searching the gateway log for people: filters, pages, one request in full.

`search` lists requests newest first, a page at a time, and `find` reads
one request with its LLM log rows.  Both run parameterised SQL through a
`QueryEngine`, so they read SQLite and PostgreSQL stores alike (the same
read-only connections KQL queries use).

A page walks the ``TimeGenerated`` index from the newest row down, so its
cost is the rows it skips, bounded by the time range and the page size, not
the size of the log.  The next page starts after the last row shown: the
`Cursor` holds its time and correlation id, which are unique together.  The
text filter looks into the prompt and completion of each row it walks past
(case-insensitively, for ASCII letters on SQLite), and only there.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from .kql.run import QueryEngine
from .kql.tables import GATEWAY_LOGS, LLM_LOG
from .store.schema import utc_timestamp

logger = logging.getLogger(__name__)

#: Most requests on one page.
MAX_PAGE = 500

_G = f'"{GATEWAY_LOGS.name}"'
_L = f'"{LLM_LOG.name}"'
_SUMMARY = (
    "TimeGenerated",
    "CorrelationId",
    "Method",
    "Url",
    "ResponseCode",
    "ApimSubscriptionId",
    "ApiId",
    "OperationId",
    "CallerIpAddress",
    "TotalTime",
    "LastErrorSource",
    "LastErrorReason",
    "ErrorKind",
)
_USAGE = ("PromptTokens", "CompletionTokens", "TotalTokens", "TokenCountSource")
_DEPLOYMENT = 'coalesce(g."DeploymentName", u."DeploymentName")'
_MESSAGES = ("RequestMessages", "ResponseMessages")


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after this time and correlation id."""

    time: str
    correlation_id: str


@dataclass(frozen=True)
class Filters:
    """What a search keeps; None keeps everything.

    ``since`` is inclusive, ``until`` exclusive.  ``status`` is a status
    code, or a class as the range ``(400, 500)``.
    """

    since: datetime | None = None
    until: datetime | None = None
    subscription: str | None = None
    api: str | None = None
    operation: str | None = None
    deployment: str | None = None
    status: tuple[int, int] | None = None
    caller_ip: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class Page:
    """Requests, newest first, as column dicts; ``next`` is None on the last."""

    items: list[dict[str, Any]]
    next: Cursor | None


class _Statement:
    """SQL and its parameters, written once for either store's placeholder."""

    def __init__(self, dialect: str) -> None:
        self._mark = "%s" if dialect == "postgres" else "?"
        self._postgres = dialect == "postgres"
        self.params: list[object] = []

    def value(self, value: object) -> str:
        self.params.append(value)
        return self._mark

    def time(self, when: datetime | str) -> str:
        # SQLite holds times as text in one fixed format; PostgreSQL as
        # timestamptz.
        if isinstance(when, str):
            when = datetime.fromisoformat(when)
        return self.value(when if self._postgres else utc_timestamp(when))


def search(
    engine: QueryEngine,
    filters: Filters,
    *,
    limit: int,
    after: Cursor | None = None,
    timeout: float = 10.0,
) -> Page:
    """One page of requests matching ``filters``, newest first."""
    sql, params = page_statement(engine.dialect, filters, limit, after)
    rows = engine.fetch(sql, params, limit=limit + 1, timeout=timeout)
    names = (*_SUMMARY, *_USAGE, "DeploymentName")
    items = [_plain(dict(zip(names, row, strict=True))) for row in rows[:limit]]
    following = None
    if len(rows) > limit:
        last = items[-1]
        following = Cursor(last["TimeGenerated"], last["CorrelationId"])
    return Page(items, following)


def page_statement(
    dialect: str, filters: Filters, limit: int, after: Cursor | None = None
) -> tuple[str, list[object]]:
    """The SQL and parameters of one page; one row more tells of a next page."""
    statement = _Statement(dialect)
    where = _conditions(statement, filters, after)
    columns = ", ".join(
        [f'g."{c}"' for c in _SUMMARY]
        + [f'u."{c}"' for c in _USAGE]
        + [f"{_DEPLOYMENT} AS deployment"]
    )
    sql = (
        f"SELECT {columns} FROM {_G} AS g LEFT JOIN {_L} AS u"
        ' ON u."CorrelationId" = g."CorrelationId" AND u."SequenceNumber" = 0'
        f" WHERE {' AND '.join(where) or '1 = 1'}"
        ' ORDER BY g."TimeGenerated" DESC, g."CorrelationId" DESC'
        f" LIMIT {statement.value(limit + 1)}"
    )
    return sql, statement.params


def find(
    engine: QueryEngine, correlation_id: str, *, timeout: float = 10.0
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """One request's gateway log row (None if absent) and its LLM log rows."""
    statement = _Statement(engine.dialect)
    mark = statement.value(correlation_id)
    gateway_columns = list(GATEWAY_LOGS.columns)
    found = engine.fetch(
        f'SELECT {_quoted(gateway_columns)} FROM {_G} WHERE "CorrelationId" = {mark}',
        statement.params,
        limit=1,
        timeout=timeout,
    )
    llm_columns = list(LLM_LOG.columns)
    llm = engine.fetch(
        f'SELECT {_quoted(llm_columns)} FROM {_L} WHERE "CorrelationId" = {mark}'
        ' ORDER BY "SequenceNumber"',
        statement.params,
        limit=10_000,
        timeout=timeout,
    )
    request = (
        _plain(dict(zip(gateway_columns, found[0], strict=True))) if found else None
    )
    pieces = [_plain(dict(zip(llm_columns, row, strict=True))) for row in llm]
    return request, pieces


def _conditions(
    statement: _Statement, filters: Filters, after: Cursor | None
) -> list[str]:
    where: list[str] = []
    if filters.since is not None:
        where.append(f'g."TimeGenerated" >= {statement.time(filters.since)}')
    if filters.until is not None:
        where.append(f'g."TimeGenerated" < {statement.time(filters.until)}')
    if after is not None:
        before = statement.time(after.time)
        same = statement.time(after.time)
        where.append(
            f'(g."TimeGenerated" < {before} OR (g."TimeGenerated" = {same}'
            f' AND g."CorrelationId" < {statement.value(after.correlation_id)}))'
        )
    for column, value in (
        ("ApimSubscriptionId", filters.subscription),
        ("ApiId", filters.api),
        ("OperationId", filters.operation),
        ("CallerIpAddress", filters.caller_ip),
    ):
        if value is not None:
            where.append(f'g."{column}" = {statement.value(value)}')
    if filters.deployment is not None:
        where.append(f"{_DEPLOYMENT} = {statement.value(filters.deployment)}")
    if filters.status is not None:
        low, high = filters.status
        where.append(
            f'g."ResponseCode" >= {statement.value(low)}'
            f' AND g."ResponseCode" < {statement.value(high)}'
        )
    if filters.text:
        where.append(_text_condition(statement, filters.text))
    return where


def _text_condition(statement: _Statement, text: str) -> str:
    # Messages are stored as JSON text: look for the text as JSON writes it,
    # so quotes, backslashes and line breaks in it match too.
    escaped = orjson.dumps(text.lower()).decode()[1:-1]
    pattern = "".join("\\" + c if c in "\\%_" else c for c in escaped)
    matches = " OR ".join(
        f'lower(CAST(t."{column}" AS TEXT)) LIKE {statement.value(f"%{pattern}%")}'
        " ESCAPE '\\'"
        for column in _MESSAGES
    )
    return (
        f"EXISTS (SELECT 1 FROM {_L} AS t"
        f' WHERE t."CorrelationId" = g."CorrelationId" AND ({matches}))'
    )


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A row with PostgreSQL's values as SQLite's: times as store text."""
    return {
        name: utc_timestamp(value) if isinstance(value, datetime) else value
        for name, value in row.items()
    }


def _quoted(columns: Sequence[str]) -> str:
    return ", ".join(f'"{column}"' for column in columns)
