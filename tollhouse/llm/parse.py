"""Entry points: a stream reader per streamed response, a parser for bodies.

Both are safe on the hot path of a relay: whatever the backend sends, they
return a result and never raise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

import orjson

from tollhouse.llm.chat import ChatStream, parse_chat
from tollhouse.llm.completions import parse_completions
from tollhouse.llm.embeddings import parse_embeddings
from tollhouse.llm.responses import ResponsesStream, parse_responses
from tollhouse.llm.result import (
    MALFORMED_KEEP_CHARS,
    LlmKind,
    LlmResult,
    StreamAccumulator,
)

logger = logging.getLogger(__name__)

_PARSERS: Final[Mapping[str, Callable[[dict[str, Any]], LlmResult]]] = MappingProxyType(
    {
        "chat": parse_chat,
        "completions": parse_completions,
        "responses": parse_responses,
        "embeddings": parse_embeddings,
    }
)


def stream_accumulator(kind: LlmKind) -> StreamAccumulator:
    """A new reader for one streamed response of the ``kind`` API."""
    if kind == "responses":
        return ResponsesStream()
    return ChatStream(kind)


def parse_response(kind: LlmKind, body: bytes) -> LlmResult:
    """Read a whole (non-streamed) response body of the ``kind`` API.

    A body that is not a JSON object gives ``upstream_malformed_body`` with
    its start kept in ``malformed_events``.
    """
    try:
        obj = orjson.loads(body)
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        return _malformed(kind, body)
    parser = _PARSERS.get(kind, parse_chat)
    try:
        return parser(obj)
    except Exception:
        # A shape no backend should send; logging must not fail the request.
        logger.warning("could not read a %s response body", kind, exc_info=True)
        return _malformed(kind, body)


def _malformed(kind: LlmKind, body: bytes) -> LlmResult:
    start = body[: MALFORMED_KEEP_CHARS * 4].decode("utf-8", "replace")
    return LlmResult(
        kind=kind,
        error_kind="upstream_malformed_body",
        malformed_events=[start[:MALFORMED_KEEP_CHARS]],
    )
