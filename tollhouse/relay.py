"""Sending the request to the backend and the response on to the client.

Non-streamed responses are read whole and forwarded with their own bytes and
encoding.  Event streams are relayed as they arrive: each read from the
backend is split into complete SSE events, which are written to the client
at once while a per-stream accumulator reassembles them for the LLM log.
Two kinds of event are held back: a payload that is not JSON (it would break
strict client parsers) and, when the gateway rather than the client asked
for usage, the extra usage event.  A compressed stream is relayed byte for
byte and a decoded copy is parsed.  While the backend is silent the client
gets an SSE comment every few seconds so that idle proxies do not cut it.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web

from . import headers as hdrs
from .decoding import StreamDecoder, decode_body, make_decoder
from .errors import BackendConnectionFailure, BackendTimeout
from .exchange import Exchange
from .llm import EventKind, StreamAccumulator, parse_response, stream_accumulator
from .runtime import Runtime
from .sse import SseEvent, SseParser
from .transport import BackendRequest, BackendResponse

logger = logging.getLogger(__name__)

KEEPALIVE_COMMENT = b": keep-alive\n\n"
_USAGE_NULL = (b',"usage":null', b'"usage":null,')
_ERROR_BODY_CHARS = 8192


async def relay_response(
    runtime: Runtime,
    request: web.BaseRequest,
    exchange: Exchange,
    backend: BackendRequest,
) -> web.StreamResponse:
    """Send ``backend`` and relay its answer; fills in ``exchange`` as it goes."""
    assert exchange.route is not None
    timeouts = runtime.backends[exchange.route.api.backend].config.timeouts

    exchange.backend_started = time.perf_counter()
    response = await runtime.transport.send(
        backend,
        connect_timeout=timeouts.connect,
        first_byte_timeout=timeouts.first_byte,
    )
    _note_backend_head(exchange, response)

    content_type = hdrs.first(response.headers, "content-type") or ""
    if response.status < 300 and content_type.startswith("text/event-stream"):
        return await _relay_stream(runtime, request, exchange, response)
    return await _relay_whole(exchange, response)


def _note_backend_head(exchange: Exchange, response: BackendResponse) -> None:
    exchange.backend_status = response.status
    exchange.backend_region = hdrs.first(response.headers, "x-ms-region")
    ids = [
        hdrs.first(response.headers, name)
        for name in ("apim-request-id", "x-request-id")
    ]
    exchange.backend_request_id = " / ".join(i for i in ids if i) or None


# Whole responses ----------------------------------------------------------


async def _relay_whole(exchange: Exchange, response: BackendResponse) -> web.Response:
    try:
        body = await response.read()
    finally:
        response.release()
    exchange.backend_ended = time.perf_counter()

    headers = hdrs.client_response_headers(response.headers)
    encoding = hdrs.first(response.headers, "content-encoding")
    text = decode_body(body, encoding)
    kind = exchange.route.llm_kind if exchange.route else None
    if kind is not None and response.status < 300:
        exchange.llm = parse_response(kind, text)
    if response.status >= 400:
        _note_backend_error(exchange, response.status, text)

    exchange.status = response.status
    exchange.response_headers = headers
    exchange.response_size = len(body)
    exchange.first_byte = time.perf_counter()
    client = web.Response(
        status=response.status, reason=response.reason or None, body=body
    )
    for name, value in headers:
        client.headers.add(name, value)
    return client


def _note_backend_error(exchange: Exchange, status: int, body: bytes) -> None:
    text = body.decode("utf-8", errors="replace")
    exchange.error_body = text[:_ERROR_BODY_CHARS]
    exchange.error_message = _error_message(body) or text[:500]
    if status == 429:
        exchange.error_kind = "upstream_rate_limited"
    elif status >= 500:
        exchange.error_kind = "upstream_5xx"
    else:
        exchange.error_kind = "upstream_4xx"


def _error_message(body: bytes) -> str | None:
    import orjson

    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    error = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    if isinstance(doc, dict) and isinstance(doc.get("message"), str):
        return str(doc["message"])
    return None


# Streams ------------------------------------------------------------------


class _StreamRelay:
    """The state of one relayed stream."""

    def __init__(
        self, exchange: Exchange, response: BackendResponse, client: web.StreamResponse
    ) -> None:
        self.exchange = exchange
        self.response = response
        self.client = client
        kind = exchange.route.llm_kind if exchange.route else None
        self.accumulator: StreamAccumulator | None = (
            stream_accumulator(kind) if kind is not None else None
        )
        self.parser = SseParser()
        encoding = hdrs.first(response.headers, "content-encoding")
        self.decoder: StreamDecoder | None = make_decoder(encoding)
        self.raw = self.decoder is not None or self.accumulator is None
        self.strip_usage = exchange.injected_usage

    async def write(self, data: bytes) -> None:
        if not data:
            return
        if self.exchange.first_byte is None:
            self.exchange.first_byte = time.perf_counter()
        self.exchange.response_size += len(data)
        await self.client.write(data)

    def events_out(self, events: list[SseEvent]) -> bytes:
        out = bytearray()
        for event in events:
            kind = self._feed(event)
            if kind == "malformed":
                continue
            if kind == "usage_only" and self.strip_usage:
                continue
            raw = event.raw
            if self.strip_usage and kind == "chunk":
                raw = _strip_usage_null(raw)
            out += raw
        return bytes(out)

    def observe_raw(self, chunk: bytes) -> None:
        data = self.decoder.feed(chunk) if self.decoder is not None else chunk
        self.observe_decoded(data)

    def observe_decoded(self, data: bytes) -> None:
        for event in self.parser.feed(data):
            self._feed(event)

    def _feed(self, event: SseEvent) -> EventKind:
        if self.accumulator is None:
            return "chunk"
        return self.accumulator.feed(event)


async def _relay_stream(
    runtime: Runtime,
    request: web.BaseRequest,
    exchange: Exchange,
    response: BackendResponse,
) -> web.StreamResponse:
    assert exchange.route is not None
    timeouts = runtime.backends[exchange.route.api.backend].config.timeouts
    headers = hdrs.client_response_headers(response.headers)
    client = web.StreamResponse(status=response.status, reason=response.reason or None)
    for name, value in headers:
        client.headers.add(name, value)
    exchange.status = response.status
    exchange.response_headers = headers

    relay = _StreamRelay(exchange, response, client)
    try:
        await client.prepare(request)
        completed = await _pump(
            relay, timeouts.idle, timeouts.keepalive, timeouts.total
        )
    except (ConnectionError, RuntimeError) as exc:
        # The client went away: keep what was relayed, stop the backend.
        _client_gone(exchange, exc)
        response.abort()
        completed = True
    except asyncio.CancelledError:
        _client_gone(exchange, None)
        response.abort()
        raise
    finally:
        exchange.backend_ended = time.perf_counter()
        _finish_llm(relay)

    if not completed:
        # The backend broke off before a terminal event: so must the client.
        response.abort()
        if request.transport is not None:
            request.transport.abort()
        return client
    response.release()
    if not exchange.client_disconnected:
        await _write_eof(exchange, client)
    return client


async def _pump(
    relay: _StreamRelay, idle: float, keepalive: float, total: float
) -> bool:
    """Relay until the backend ends; False if it broke off before finishing."""
    deadline = time.monotonic() + total
    last_data = time.monotonic()
    while True:
        try:
            chunk = await _read_chunk(relay, min(keepalive, idle), deadline)
        except TimeoutError:
            now = time.monotonic()
            if now - last_data >= idle or now >= deadline:
                _note_stream_error(relay.exchange, "upstream_idle_timeout")
                return False
            if not relay.raw:
                await relay.client.write(KEEPALIVE_COMMENT)
            continue
        except BackendConnectionFailure:
            return _finished(relay, broken=True)
        last_data = time.monotonic()
        if not chunk:
            await _flush_tail(relay)
            return _finished(relay, broken=False)
        if relay.raw:
            await relay.write(chunk)
            relay.observe_raw(chunk)
        else:
            await relay.write(relay.events_out(relay.parser.feed(chunk)))


async def _read_chunk(relay: _StreamRelay, wait: float, deadline: float) -> bytes:
    remaining = deadline - time.monotonic()
    async with asyncio.timeout(max(0.0, min(wait, remaining))):
        return await relay.response.read_chunk()


def _finished(relay: _StreamRelay, *, broken: bool) -> bool:
    """Whether the stream counts as complete (B12: a terminal event is enough)."""
    accumulator = relay.accumulator
    if accumulator is not None and accumulator.result().terminal_seen:
        return True
    if accumulator is None and not broken:
        return True
    _note_stream_error(relay.exchange, "upstream_truncated")
    return False


async def _flush_tail(relay: _StreamRelay) -> None:
    if not relay.raw:
        await relay.write(relay.events_out(relay.parser.flush()))
        return
    if relay.decoder is not None:
        relay.observe_decoded(relay.decoder.flush())
    for event in relay.parser.flush():
        relay._feed(event)


def _strip_usage_null(raw: bytes) -> bytes:
    for pattern in _USAGE_NULL:
        if pattern in raw:
            return raw.replace(pattern, b"")
    return raw


def _note_stream_error(exchange: Exchange, kind: str) -> None:
    exchange.error_kind = kind
    if kind == "upstream_idle_timeout":
        exchange.error = BackendTimeout("The backend stream went silent for too long.")
    else:
        exchange.error = BackendConnectionFailure(
            "The backend closed the stream before it finished."
        )


def _client_gone(exchange: Exchange, exc: BaseException | None) -> None:
    exchange.client_disconnected = True
    exchange.error_kind = "client_disconnected"
    logger.info(
        "client went away during request %s (%s)",
        exchange.correlation_id,
        type(exc).__name__ if exc else "cancelled",
    )


def _finish_llm(relay: _StreamRelay) -> None:
    if relay.accumulator is not None:
        relay.exchange.llm = relay.accumulator.result()


async def _write_eof(exchange: Exchange, client: web.StreamResponse) -> None:
    try:
        await client.write_eof()
    except (ConnectionError, RuntimeError) as exc:
        _client_gone(exchange, exc)
