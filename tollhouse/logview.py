"""The logs for people to read: ``tollhouse logs tail`` and ``logs show``.

Both open the store read-only, so they run beside a serving gateway.  Every
value printed comes from clients or backends, so control characters are
escaped: a logged URL or prompt cannot move the cursor or rewrite the
terminal.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO
from urllib.parse import urlsplit

import orjson

from .errors import StoreError
from .store.sqlite import connect

logger = logging.getLogger(__name__)

_FOLLOW_PAGE = 1000
_HEADER = (
    f"{'TIME':<27} {'ID':<8} {'ST':>3} {'SUBSCRIPTION':<16} {'DEPLOYMENT':<20} "
    f"{'TOKENS P/C/T':>15} {'TIME':>8} REQUEST"
)

_SELECT_LINES = """
SELECT g.rowid AS id, g.TimeGenerated, g.CorrelationId, g.ResponseCode,
       g.ApimSubscriptionId, coalesce(g.DeploymentName, u.DeploymentName) AS Deployment,
       g.TotalTime, g.Method, g.Url, g.ErrorKind, g.IsRequestSuccess,
       u.PromptTokens, u.CompletionTokens, u.TotalTokens, u.TokenCountSource
FROM ApiManagementGatewayLogs AS g
LEFT JOIN ApiManagementGatewayLlmLog AS u
       ON u.CorrelationId = g.CorrelationId AND u.SequenceNumber = 0
"""
_LAST_LINES = _SELECT_LINES + "WHERE g.rowid <= ? ORDER BY g.rowid DESC LIMIT ?"
_NEXT_LINES = _SELECT_LINES + "WHERE g.rowid > ? ORDER BY g.rowid LIMIT ?"

# Gateway log columns printed as their own sections rather than as fields.
_HEADER_COLUMNS = ("RequestHeaders", "ResponseHeaders")
_BODY_COLUMNS = (
    "RequestBody",
    "ResponseBody",
    "BackendRequestBody",
    "BackendResponseBody",
)
_MESSAGE_COLUMNS = ("RequestMessages", "ResponseMessages")

_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_ONE_LINE = {**_CONTROL, ord("\n"): "\\n", ord("\t"): "\\t", ord("\r"): "\\r"}
_MULTI_LINE = {c: e for c, e in _ONE_LINE.items() if chr(c) not in "\n\t"}


def tail(
    db_path: Path,
    *,
    follow: bool,
    out: TextIO,
    interval: float = 0.5,
    last: int = 10,
    stop: threading.Event | None = None,
) -> None:
    """Print the last ``last`` requests, one line each, then follow new ones.

    A line holds the time, the first 8 characters of the correlation id
    (enough for `show`), status, subscription, deployment, tokens
    (prompt/completion/total, ``~`` when estimated), total time, the method
    and path, and the error kind of a request that failed after its status
    was sent (a stream the backend broke off, say).  With ``follow``,
    requests are printed as they are committed, checked every ``interval``
    seconds, until ``stop`` is set (or forever).  Raises `StoreError` if the
    store cannot be read.
    """
    conn = connect(db_path, readonly=True)
    try:
        newest = _newest_id(conn)
        rows = _fetch(conn, _LAST_LINES, (newest, max(last, 0)))
        out.write(_HEADER + "\n")
        _print_lines(reversed(rows), out)

        while follow and not _wait(stop, interval):
            newest = _print_new(conn, newest, out)
    finally:
        conn.close()


def show(db_path: Path, correlation_id: str, *, out: TextIO) -> bool:
    """Print one request in full: fields, headers, usage, prompt, completion.

    ``correlation_id`` may be the start of an id (as `tail` prints it) when
    only one request's id starts so; an ambiguous start raises `StoreError`.

    The prompt and the completion are put back together from their LLM log
    pieces and printed message by message.  Returns False, printing
    nothing, if the store holds no request with ``correlation_id``.
    """
    conn = connect(db_path, readonly=True)
    try:
        correlation_id = _full_id(conn, correlation_id)
        request = _fetch(
            conn,
            "SELECT * FROM ApiManagementGatewayLogs WHERE CorrelationId = ?",
            (correlation_id,),
        )
        llm_rows = _fetch(
            conn,
            "SELECT * FROM ApiManagementGatewayLlmLog WHERE CorrelationId = ?"
            " ORDER BY SequenceNumber",
            (correlation_id,),
        )
    finally:
        conn.close()
    if not request and not llm_rows:
        return False

    if request:
        _print_request(request[0], out)
    usage = [row for row in llm_rows if row["SequenceNumber"] == 0]
    if usage:
        _print_fields("Usage", usage[0], exclude=_MESSAGE_COLUMNS, out=out)
    for title, column in zip(("Prompt", "Completion"), _MESSAGE_COLUMNS, strict=True):
        _print_messages(title, llm_rows, column, out)
    return True


def _full_id(conn: sqlite3.Connection, given: str) -> str:
    """The correlation id ``given`` is the whole of, the start of or the end of.

    `tail` prints an id's end: the ids are time-ordered, so requests made
    close together share their first characters.
    """
    exact = _fetch(
        conn, "SELECT 1 FROM ApiManagementGatewayLogs WHERE CorrelationId = ?", (given,)
    )
    if exact or not given:
        return given
    escaped = given.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    matches = _fetch(
        conn,
        "SELECT CorrelationId FROM ApiManagementGatewayLogs "
        "WHERE CorrelationId LIKE ? ESCAPE '\\' OR CorrelationId LIKE ? ESCAPE '\\' "
        "LIMIT 2",
        (escaped + "%", "%" + escaped),
    )
    if len(matches) > 1:
        raise StoreError(
            f"more than one request's correlation id starts or ends with {given!r}"
        )
    return str(matches[0][0]) if matches else given


# -- tail ---------------------------------------------------------------------


def _newest_id(conn: sqlite3.Connection) -> int:
    rows = _fetch(conn, "SELECT coalesce(max(rowid), 0) FROM ApiManagementGatewayLogs")
    return int(rows[0][0])


def _print_new(conn: sqlite3.Connection, after: int, out: TextIO) -> int:
    """Print the requests committed after row ``after``; return the newest id."""
    while True:
        rows = _fetch(conn, _NEXT_LINES, (after, _FOLLOW_PAGE))
        _print_lines(rows, out)
        if rows:
            after = int(rows[-1]["id"])
        if len(rows) < _FOLLOW_PAGE:
            return after


def _print_lines(rows: Iterable[sqlite3.Row], out: TextIO) -> None:
    for row in rows:
        out.write(_line(row) + "\n")
    out.flush()


def _line(row: sqlite3.Row) -> str:
    status = _or_dash(row["ResponseCode"])
    latency = "-" if row["TotalTime"] is None else f"{row['TotalTime']:.0f}ms"
    error = row["ErrorKind"] if row["IsRequestSuccess"] == 0 else None
    fields = (
        _or_dash(row["TimeGenerated"]),
        f"{_or_dash(row['CorrelationId'])[-8:]:<8}",
        f"{status:>3}",
        f"{_or_dash(row['ApimSubscriptionId']):<16}",
        f"{_or_dash(row['Deployment']):<20}",
        f"{_tokens(row):>15}",
        f"{latency:>8}",
        _or_dash(row["Method"]),
        _path(row["Url"]),
    )
    line = " ".join(_one_line(field) for field in fields)
    return f"{line} [{_one_line(error)}]" if error else line


def _tokens(row: sqlite3.Row) -> str:
    source = row["TokenCountSource"]
    counts = (row["PromptTokens"], row["CompletionTokens"], row["TotalTokens"])
    if source in (None, "none") and all(count is None for count in counts):
        return "-"
    text = "/".join(_or_dash(count) for count in counts)
    return "~" + text if source == "estimated" else text


def _path(url: str | None) -> str:
    if not url:
        return "-"
    return urlsplit(url).path or url


def _wait(stop: threading.Event | None, interval: float) -> bool:
    """Sleep ``interval`` seconds; True if ``stop`` is set."""
    if stop is None:
        time.sleep(interval)
        return False
    return stop.wait(interval)


# -- show ---------------------------------------------------------------------


def _print_request(row: sqlite3.Row, out: TextIO) -> None:
    sections = (*_HEADER_COLUMNS, *_BODY_COLUMNS)
    _print_fields(f"Request {row['CorrelationId']}", row, exclude=sections, out=out)
    for column in _HEADER_COLUMNS:
        if row[column] is not None:
            out.write(f"{_title(column)}\n")
            _print_headers(row[column], out)
    for column in _BODY_COLUMNS:
        if row[column] is not None:
            out.write(f"{_title(column)}\n")
            _print_text(row[column], out, indent="  ")


def _print_fields(
    title: str, row: sqlite3.Row, *, exclude: Sequence[str], out: TextIO
) -> None:
    columns = row.keys()  # iterating a Row gives values, not names
    fields = [(k, row[k]) for k in columns if k not in exclude and row[k] is not None]
    width = max((len(name) for name, _ in fields), default=0)
    out.write(_one_line(title) + "\n")
    for name, value in fields:
        out.write(f"  {name:<{width}}  {_one_line(str(value))}\n")


def _print_headers(text: str, out: TextIO) -> None:
    headers = _parse_json(text)
    if not isinstance(headers, dict):
        _print_text(text, out, indent="  ")
        return
    for name, value in headers.items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        out.write(f"  {_one_line(name)}: {_one_line(shown)}\n")


class Row(Protocol):
    """A log row by column name: a `sqlite3.Row` or a dict."""

    def __getitem__(self, column: str, /) -> Any: ...


@dataclass(frozen=True)
class Messages:
    """A prompt or completion put back together from its LLM log pieces.

    ``text`` is the pieces joined as stored; ``messages`` the messages it
    holds, or None when the text is not JSON (cut short, say).
    """

    text: str
    truncated: bool
    messages: list[Any] | None


def reassemble(rows: Sequence[Row], column: str) -> Messages | None:
    """The ``RequestMessages`` or ``ResponseMessages`` of one request's LLM rows.

    ``rows`` are the request's LLM log rows in ``SequenceNumber`` order, from
    either store: a piece PostgreSQL returns already parsed is turned back
    into its JSON text before the pieces are joined.  None when no row holds
    a piece.
    """
    pieces = [_piece(row[column]) for row in rows if row[column] is not None]
    if not pieces:
        return None
    text = "".join(pieces)
    truncated = any(row[f"{column}Truncated"] for row in rows)
    messages = _parse_json(text)
    if messages is not None and not isinstance(messages, list):
        messages = [messages]
    return Messages(text, truncated, messages)


def _piece(value: object) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _print_messages(
    title: str, rows: Sequence[sqlite3.Row], column: str, out: TextIO
) -> None:
    found = reassemble(rows, column)
    if found is None:
        return
    note = " (truncated)" if found.truncated else ""

    if found.messages is None:
        out.write(f"{title}{note} (not valid JSON, shown as stored)\n")
        _print_text(found.text, out, indent="  ")
        return
    messages = found.messages
    count = f"{len(messages)} message" + ("" if len(messages) == 1 else "s")
    out.write(f"{title} ({count}){note}\n")
    for message in messages:
        _print_message(message, out)


def _print_message(message: Any, out: TextIO) -> None:
    if not isinstance(message, dict):
        out.write("  [text]\n")
        _print_content(message, out)
        return
    if isinstance(message.get("message"), dict) and "role" not in message:
        # A choice: {"index": 0, "message": {...}, "finish_reason": "stop"}.
        extras = {k: v for k, v in message.items() if k != "message"}
        message = {**message["message"], **extras}
    role = message.get("role") or message.get("type") or "message"
    out.write(f"  [{_one_line(str(role))}]\n")
    _print_content(message.get("content"), out)
    for key, value in message.items():
        if key not in ("role", "content") and value is not None:
            out.write(f"    {_one_line(str(key))}: {_one_line(_compact(value))}\n")


def _print_content(content: Any, out: TextIO) -> None:
    if content is None:
        return
    parts = content if isinstance(content, list) else [content]
    for part in parts:
        if isinstance(part, str):
            _print_text(part, out, indent="    ")
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            _print_text(part["text"], out, indent="    ")
        else:
            out.write(f"    {_one_line(_compact(part))}\n")


def _print_text(text: str, out: TextIO, *, indent: str) -> None:
    for line in text.translate(_MULTI_LINE).split("\n"):
        out.write(f"{indent}{line}\n")


# -- helpers ------------------------------------------------------------------


def _fetch(
    conn: sqlite3.Connection, sql: str, params: Sequence[object] = ()
) -> list[sqlite3.Row]:
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.Error as exc:
        raise StoreError(f"reading the logs failed: {exc}") from exc


def _parse_json(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value, default=str).decode()


def _title(column: str) -> str:
    """``RequestHeaders`` -> ``Request headers``."""
    words = "".join(f" {c.lower()}" if c.isupper() else c for c in column).split()
    return " ".join(words).capitalize()


def _or_dash(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


def _one_line(text: str) -> str:
    return text.translate(_ONE_LINE)
