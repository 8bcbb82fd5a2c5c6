"""What the mock backend does by default, and what a request's headers change.

`MockSettings` is fixed when the app is built.  `Directives` are read from
the ``x-mock-*`` headers of each request, so that a test can drive one
request into a fault without restarting the server.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote

from tollhouse.mock.errors import RequestRejected

logger = logging.getLogger(__name__)

ENCODINGS: Final = ("gzip", "deflate", "br")
_TRUE: Final = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True)
class MockSettings:
    """How the mock backend behaves when a request asks for nothing special.

    ``latency_ms`` delays every response head, ``chunk_delay_ms`` separates
    streamed events, ``chunk_chars`` is about how many characters of text
    each streamed delta carries, ``region`` is sent as ``x-ms-region`` and
    ``embedding_dims`` sizes the vectors of requests that give no
    ``dimensions``.
    """

    latency_ms: float = 0.0
    chunk_delay_ms: float = 0.0
    chunk_chars: int = 8
    region: str = "Mock Region"
    embedding_dims: int = 8

    def __post_init__(self) -> None:
        if self.latency_ms < 0 or self.chunk_delay_ms < 0:
            raise ValueError("mock delays must not be negative")
        if self.chunk_chars < 1:
            raise ValueError("chunk_chars must be at least 1")
        if self.embedding_dims < 1:
            raise ValueError("embedding_dims must be at least 1")


@dataclass(frozen=True, slots=True)
class Directives:
    """What one request's ``x-mock-*`` headers ask of the mock.

    Build it with `from_headers`; a header with a value that cannot be
    understood is a 400, so that a mistyped test fails loudly.
    """

    latency_ms: float
    chunk_delay_ms: float
    reply: str | None = None
    status: int | None = None
    retry_after: float | None = None
    drop_after: int | None = None
    no_usage: bool = False
    encoding: str | None = None
    echo: bool = False
    honour_max_tokens: bool = False
    tool_call: str | None = None

    @classmethod
    def from_headers(
        cls, headers: Mapping[str, str], settings: MockSettings
    ) -> Directives:
        """Read the directives of a request, defaulting to ``settings``."""
        reply = headers.get("x-mock-reply")
        latency = _number(headers, "x-mock-latency-ms")
        chunk_delay = _number(headers, "x-mock-chunk-delay-ms")
        drop_after = _number(headers, "x-mock-drop-after")
        return cls(
            latency_ms=settings.latency_ms if latency is None else latency,
            chunk_delay_ms=(
                settings.chunk_delay_ms if chunk_delay is None else chunk_delay
            ),
            reply=None if reply is None else unquote(reply),
            status=_status(headers),
            retry_after=_number(headers, "x-mock-retry-after"),
            drop_after=None if drop_after is None else int(drop_after),
            no_usage=_flag(headers, "x-mock-no-usage"),
            encoding=_encoding(headers),
            echo=_flag(headers, "x-mock-echo-headers"),
            honour_max_tokens=_flag(headers, "x-mock-honour-max-tokens"),
            tool_call=headers.get("x-mock-tool-call") or None,
        )


def _flag(headers: Mapping[str, str], name: str) -> bool:
    return headers.get(name, "").strip().lower() in _TRUE


def _number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number >= 0:  # also refuses NaN
        raise RequestRejected(f"{name} must be a number of at least 0, not {value!r}")
    return number


def _status(headers: Mapping[str, str]) -> int | None:
    value = headers.get("x-mock-status")
    if value is None:
        return None
    if not value.strip().isdigit() or not 400 <= int(value) <= 599:
        raise RequestRejected(f"x-mock-status must be 400 to 599, not {value!r}")
    return int(value)


def _encoding(headers: Mapping[str, str]) -> str | None:
    value = headers.get("x-mock-encoding")
    if value is None:
        return None
    coding = value.strip().lower()
    if coding not in ENCODINGS:
        raise RequestRejected(f"x-mock-encoding must be one of {', '.join(ENCODINGS)}")
    return coding
