"""What an operation hands back to be sent: a whole body or a stream of events.

Operations build replies without touching the connection; `wire.send`
writes them, applying the request's delays, compression and faults.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import orjson

logger = logging.getLogger(__name__)

DONE: Final = b"data: [DONE]\n\n"


@dataclass(frozen=True, slots=True)
class Body:
    """A complete response body, sent at once with its length."""

    data: bytes
    status: int = 200
    content_type: str = "application/json"
    headers: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Stream:
    """A server-sent event stream; each event is made when it is sent."""

    events: Iterator[bytes]


Reply = Body | Stream


def json_body(document: Any) -> Body:
    """A 200 response carrying ``document`` as compact JSON."""
    return Body(orjson.dumps(document))


def data_event(document: Any) -> bytes:
    """A ``data:`` event, as chat and completions streams send them."""
    return b"data: " + orjson.dumps(document) + b"\n\n"


def named_event(event_type: str, document: Any) -> bytes:
    """An ``event:``/``data:`` pair, as the Responses API streams them."""
    head = b"event: " + event_type.encode() + b"\ndata: "
    return head + orjson.dumps(document) + b"\n\n"
