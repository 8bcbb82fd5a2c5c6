"""Sending the request to the backend and the response on to the client.

Non-streamed responses are read whole and forwarded with their own bytes and
encoding.  Event streams are relayed as they arrive: each read from the
backend is split into complete SSE events, which are written to the client
at once while a per-stream accumulator reassembles them for the LLM log.
Two kinds of event are held back: a payload that is not JSON (it would break
strict client parsers) and, when the gateway rather than the client asked
for usage, the extra usage event.  A compressed stream (the gateway asks for
none, some backends compress anyway) is decoded first and relayed decoded,
without its ``Content-Encoding``, so that the same rules hold for it.  While
the backend is silent the client gets an SSE comment every few seconds so
that idle proxies do not cut it.  Streams no LLM reader follows are relayed
byte for byte.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass

import orjson
from aiohttp import web

from . import headers as hdrs
from .config import BackendConfig
from .decoding import (
    StreamDecoder,
    can_decode,
    decode_body,
    is_encoded,
    make_decoder,
)
from .errors import (
    BackendConnectionFailure,
    BackendError,
    BackendTimeout,
    GatewayError,
)
from .exchange import Exchange
from .llm import (
    EventKind,
    LlmResult,
    StreamAccumulator,
    parse_response,
    stream_accumulator,
)
from .runtime import Runtime
from .sse import SseEvent, SseParser
from .transport import BackendRequest, BackendResponse

logger = logging.getLogger(__name__)

KEEPALIVE_COMMENT = b": keep-alive\n\n"
# The ``"usage":null`` member a backend adds to each chunk once asked for
# usage, with any JSON whitespace, and the comma that joins it to the next.
_USAGE_NULL = re.compile(
    rb'\s*,\s*"usage"\s*:\s*null(?=\s*[,}])|(?<=\{)\s*"usage"\s*:\s*null\s*,\s*'
)
_USAGE_NULL_LITERALS = (b',"usage":null', b'"usage":null,')
_ERROR_BODY_CHARS = 8192
_ERROR_MESSAGE_CHARS = 1000
_ERROR_PARSE_BYTES = 1 * 2**20
# One SSE event larger than this ends the stream: no backend sends such a thing.
MAX_EVENT_BYTES = 16 * 2**20


async def relay_response(
    runtime: Runtime,
    request: web.BaseRequest,
    exchange: Exchange,
    backend: BackendRequest,
) -> web.StreamResponse:
    """Send ``backend`` and relay its answer; fills in ``exchange`` as it goes."""
    response = await send(runtime, exchange, backend)
    if is_stream(response):
        return await relay_stream(runtime, request, exchange, response)
    return whole_response(exchange, await read_whole(runtime, exchange, response))


async def send(
    runtime: Runtime,
    exchange: Exchange,
    backend: BackendRequest,
    *,
    timeout: float | None = None,
) -> BackendResponse:
    """Send ``backend``; return the response once its head has arrived.

    ``timeout`` (a ``forward-request`` policy's) replaces the backend's
    first-byte and total timeouts for this call.
    """
    timeouts = backend_config(runtime, exchange).timeouts
    exchange.backend_started = time.perf_counter()
    exchange.backend_timeout = timeout
    response = await runtime.transport.send(
        backend,
        connect_timeout=timeouts.connect,
        first_byte_timeout=timeouts.first_byte if timeout is None else timeout,
    )
    _note_backend_head(exchange, response)
    return response


def is_stream(response: BackendResponse) -> bool:
    """Whether ``response`` is an event stream to relay event by event."""
    content_type = hdrs.first(response.headers, "content-type") or ""
    return response.status < 300 and content_type.startswith("text/event-stream")


def backend_config(runtime: Runtime, exchange: Exchange) -> BackendConfig:
    """The configuration of the backend this request goes to."""
    assert exchange.route is not None
    name = exchange.backend_id or exchange.route.api.backend
    return runtime.backends[name].config


def _note_backend_head(exchange: Exchange, response: BackendResponse) -> None:
    exchange.backend_status = response.status
    exchange.backend_region = hdrs.first(response.headers, "x-ms-region")
    ids = [
        hdrs.first(response.headers, name)
        for name in ("apim-request-id", "x-request-id")
    ]
    exchange.backend_request_id = " / ".join(i for i in ids if i) or None


# Whole responses ----------------------------------------------------------


@dataclass(slots=True)
class WholeResponse:
    """A backend response read whole, as the client is to get it.

    ``decoded_head`` is the start of a compressed ``body``, decoded, when the
    API's diagnostics keep that much of it for the gateway log.
    """

    status: int
    reason: str | None
    headers: list[tuple[str, str]]
    body: bytes
    decoded_head: bytes | None = None


async def read_whole(
    runtime: Runtime, exchange: Exchange, response: BackendResponse
) -> WholeResponse:
    """Read the whole body (bounded in size and time) and log what it says."""
    assert exchange.route is not None
    backend = backend_config(runtime, exchange)
    try:
        body = await _read_bounded(
            response, backend.max_response_bytes, _time_left(exchange, backend)
        )
    except BaseException:
        response.abort()
        raise
    response.release()
    exchange.backend_ended = time.perf_counter()

    headers = hdrs.client_response_headers(response.headers)
    encoding = hdrs.first(response.headers, "content-encoding")
    text = decode_body(body, encoding)
    kind = exchange.route.llm_kind
    if kind is not None and response.status < 300 and text:
        _note_llm_result(exchange, parse_response(kind, text))
    if response.status >= 400:
        _note_backend_error(exchange, response.status, text)
    if _quotes_a_secret(runtime, text):
        body, headers = _without_secrets(runtime, body, text, headers)
    whole = WholeResponse(response.status, response.reason, headers, body)
    if exchange.body_bytes and is_encoded(encoding) and can_decode(encoding):
        whole.decoded_head = text[: exchange.body_bytes]
    return whole


def whole_response(exchange: Exchange, whole: WholeResponse) -> web.Response:
    """The client's response, noted in ``exchange`` for the log."""
    headers = [*whole.headers, (hdrs.CORRELATION_ID, exchange.correlation_id)]
    exchange.status = whole.status
    exchange.response_headers = headers
    exchange.response_size = len(whole.body)
    exchange.first_byte = time.perf_counter()
    keep_response_head(exchange, whole)
    client = web.Response(
        status=whole.status, reason=whole.reason or None, body=whole.body
    )
    for name, value in headers:
        client.headers.add(name, value)
    return client


def keep_response_head(exchange: Exchange, whole: WholeResponse) -> None:
    """Keep the start of ``whole``'s body when the API's diagnostics log it.

    A compressed body is kept decoded, or not at all when the gateway has
    no decoded copy of it: the log holds text, never compressed bytes.
    """
    size = exchange.body_bytes
    if not size:
        return
    encoding = hdrs.first(whole.headers, "content-encoding")
    if is_encoded(encoding):
        exchange.response_body = whole.decoded_head
    else:
        exchange.response_body = whole.body[:size]


def _time_left(exchange: Exchange, backend: BackendConfig) -> float:
    started = exchange.backend_started or time.perf_counter()
    total = backend.timeouts.total
    if exchange.backend_timeout is not None:
        total = exchange.backend_timeout
    return max(0.0, total - (time.perf_counter() - started))


async def _read_bounded(response: BackendResponse, limit: int, timeout: float) -> bytes:
    """The whole body, within ``limit`` bytes and ``timeout`` seconds."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            while chunk := await response.read_chunk():
                size += len(chunk)
                if size > limit:
                    raise BackendError(
                        f"The backend's response passed {limit} bytes, the most "
                        "this gateway relays whole.",
                        reason="BackendResponseTooLarge",
                    )
                chunks.append(chunk)
    except TimeoutError as exc:
        raise BackendTimeout(
            "The backend did not finish its response in time."
        ) from exc
    return b"".join(chunks)


def _without_secrets(
    runtime: Runtime, body: bytes, text: bytes, headers: list[tuple[str, str]]
) -> tuple[bytes, list[tuple[str, str]]]:
    """A body that quotes a secret, scrubbed, with headers to match.

    A backend may echo the key it was sent ("Incorrect API key provided:
    ..."); the client must not learn it (B41).  Such a body goes out decoded,
    so its ``Content-Encoding`` goes too.
    """
    decoded = text.decode("utf-8", "replace")
    scrubbed = runtime.scrub(decoded)
    if scrubbed == decoded:
        return body, headers
    kept = [(n, v) for n, v in headers if n.lower() != "content-encoding"]
    return scrubbed.encode(), kept


def _quotes_a_secret(runtime: Runtime, text: bytes) -> bool:
    """Whether a body holds a secret: an answer may echo one as an error does."""
    return any(secret and secret.encode() in text for secret in runtime.secret_values())


def error_text(body: bytes) -> str:
    """An error response's body as the log keeps it: text, its start only."""
    text = body[: _ERROR_BODY_CHARS * 4].decode("utf-8", errors="replace")
    return text[:_ERROR_BODY_CHARS]


def _note_backend_error(exchange: Exchange, status: int, body: bytes) -> None:
    text = exchange.error_body = error_text(body)
    message = _error_message(body) if len(body) <= _ERROR_PARSE_BYTES else None
    exchange.error_message = (message or text)[:_ERROR_MESSAGE_CHARS]
    if status == 429:
        exchange.error_kind = "upstream_rate_limited"
    elif status >= 500:
        exchange.error_kind = "upstream_5xx"
    else:
        exchange.error_kind = "upstream_4xx"


def _error_message(body: bytes) -> str | None:
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
        self,
        exchange: Exchange,
        response: BackendResponse,
        client: web.StreamResponse,
        secrets: tuple[bytes, ...] = (),
    ) -> None:
        self.secrets = secrets
        self.exchange = exchange
        self.response = response
        self.client = client
        kind = exchange.route.llm_kind if exchange.route else None
        self.accumulator: StreamAccumulator | None = (
            stream_accumulator(kind) if kind is not None else None
        )
        self.parser = SseParser()
        encoding = hdrs.first(response.headers, "content-encoding")
        if not can_decode(encoding):
            # Nothing here decodes it: it goes on as it came, unread.
            self.accumulator = None
        self.raw = self.accumulator is None
        self.decoder: StreamDecoder | None = (
            None if self.raw else make_decoder(encoding)
        )
        self.strip_usage = exchange.injected_usage
        self.delivered = False  # the client has had the terminal event
        # How much more of the stream the gateway log keeps; none of one
        # relayed still compressed.
        self.head_left = exchange.body_bytes
        if self.raw and is_encoded(encoding):
            self.head_left = 0

    def client_headers(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The response headers, matching the bytes the client will get (B35)."""
        if self.decoder is None:
            return headers
        return [(n, v) for n, v in headers if n.lower() != "content-encoding"]

    async def write(self, data: bytes) -> None:
        if not data:
            return
        if self.exchange.first_byte is None:
            self.exchange.first_byte = time.perf_counter()
        self.exchange.response_size += len(data)
        await self.client.write(data)
        if self.head_left:
            self._keep_head(data)
        if not self.delivered and self.accumulator is not None:
            self.delivered = self.accumulator.finished

    def _keep_head(self, data: bytes) -> None:
        piece = data[: self.head_left]
        self.head_left -= len(piece)
        kept = self.exchange.response_body
        self.exchange.response_body = piece if kept is None else kept + piece

    def take(self, chunk: bytes) -> bytes:
        """What the client gets of the next bytes read from the backend."""
        if self.raw:
            return chunk
        if self.decoder is not None:
            chunk = self.decoder.feed(chunk)
        events = self.parser.feed(chunk)
        if not events and self.parser.pending > MAX_EVENT_BYTES:
            raise BackendError(
                f"A backend event passed {MAX_EVENT_BYTES} bytes.",
                reason="BackendEventTooLarge",
            )
        return self._events_out(events)

    def take_tail(self) -> bytes:
        """What the client gets of the bytes left over at the end of the stream."""
        if self.raw:
            return b""
        tail = self.decoder.flush() if self.decoder is not None else b""
        return self._events_out(self.parser.feed(tail) + self.parser.flush())

    def _events_out(self, events: list[SseEvent]) -> bytes:
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
        return self.scrub(bytes(out)) if self.secrets else bytes(out)

    def scrub(self, data: bytes) -> bytes:
        """``data`` with any backend credential an event quotes replaced (B41)."""
        for secret in self.secrets:
            if secret in data:
                data = data.replace(secret, b"REDACTED")
        return data

    def result(self) -> LlmResult | None:
        """What the LLM reader made of the stream; None if it has none or failed."""
        if self.accumulator is None:
            return None
        try:
            return self.accumulator.result()
        except Exception:
            self._reader_failed()
            return None

    def _feed(self, event: SseEvent) -> EventKind:
        # The reader only feeds the log: if it fails, the stream goes on
        # unread rather than end (B24).
        if self.accumulator is None:
            return "chunk"
        try:
            return self.accumulator.feed(event)
        except Exception:
            self._reader_failed()
            return "chunk"

    def _reader_failed(self) -> None:
        logger.exception(
            "the LLM log lost the stream of request %s", self.exchange.correlation_id
        )
        self.accumulator = None


async def relay_stream(
    runtime: Runtime,
    request: web.BaseRequest,
    exchange: Exchange,
    response: BackendResponse,
    *,
    head: tuple[int, str | None, list[tuple[str, str]]] | None = None,
) -> web.StreamResponse:
    """Relay an event stream as it arrives.

    ``head`` (status, reason, headers) replaces the backend's own, as
    outbound policies left it.
    """
    timeouts = backend_config(runtime, exchange).timeouts
    status, reason, headers = head or (
        response.status,
        response.reason,
        hdrs.client_response_headers(response.headers),
    )
    client = web.StreamResponse(status=status, reason=reason or None)
    secrets = tuple(secret.encode() for secret in runtime.secret_values() if secret)
    relay = _StreamRelay(exchange, response, client, secrets)
    headers = relay.client_headers(headers)
    headers.append((hdrs.CORRELATION_ID, exchange.correlation_id))
    for name, value in headers:
        client.headers.add(name, value)
    exchange.status = status
    exchange.response_headers = headers

    try:
        await client.prepare(request)
        # Reads keep their own deadline; this one also bounds writes to a
        # client that stopped reading.
        total = timeouts.total
        if exchange.backend_timeout is not None:
            total = exchange.backend_timeout
        async with asyncio.timeout(total + 1.0):
            completed = await _pump(relay, timeouts.idle, timeouts.keepalive, total)
    except TimeoutError:
        _note_stream_error(exchange, "stream_total_timeout")
        completed = False
    except BackendError as exc:
        _note_stream_error(exchange, "upstream_malformed_event")
        exchange.error = exc
        completed = False
    except (ConnectionError, RuntimeError) as exc:
        # The client went away: keep what was relayed, stop the backend.
        _client_gone(relay, exc)
        response.abort()
        completed = True
    except asyncio.CancelledError:
        if runtime.lifecycle.stopping:
            # The gateway cut the stream off on its way down, not the client.
            logger.warning("request %s cut off by shutdown", exchange.correlation_id)
            exchange.error_kind = "gateway_shutdown"
            exchange.error = GatewayError(
                "The gateway stopped before the stream ended.", reason="GatewayShutdown"
            )
        else:
            _client_gone(relay, None)
        response.abort()
        raise
    except Exception:
        # Headers are out: no error body can follow, so end the connection.
        logger.exception("relaying the stream of %s failed", exchange.correlation_id)
        exchange.error_kind = "gateway_error"
        exchange.error = GatewayError("The gateway failed while relaying the stream.")
        completed = False
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
        await _write_eof(relay)
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
            if now >= deadline:
                _note_stream_error(relay.exchange, "upstream_total_timeout")
                return False
            if now - last_data >= idle:
                _note_stream_error(relay.exchange, "upstream_idle_timeout")
                return False
            if not relay.raw:
                await relay.client.write(KEEPALIVE_COMMENT)
            continue
        except BackendConnectionFailure:
            return _finished(relay, broken=True)
        last_data = time.monotonic()
        if not chunk:
            await relay.write(relay.take_tail())
            return _finished(relay, broken=False)
        await relay.write(relay.take(chunk))


async def _read_chunk(relay: _StreamRelay, wait: float, deadline: float) -> bytes:
    remaining = deadline - time.monotonic()
    async with asyncio.timeout(max(0.0, min(wait, remaining))):
        return await relay.response.read_chunk()


def _finished(relay: _StreamRelay, *, broken: bool) -> bool:
    """Whether the stream counts as complete (B12: a terminal event is enough).

    A stream no LLM reader follows is complete when it ends cleanly.
    """
    reader = relay.accumulator
    if reader.finished if reader is not None else not broken:
        return True
    _note_stream_error(relay.exchange, "upstream_truncated")
    return False


def _strip_usage_null(raw: bytes) -> bytes:
    if b'"usage"' not in raw:
        return raw
    # Backends write the compact form; the regex is ~40 times slower.
    for literal in _USAGE_NULL_LITERALS:
        if literal in raw:
            return raw.replace(literal, b"")
    return _USAGE_NULL.sub(b"", raw)


def _note_stream_error(exchange: Exchange, kind: str) -> None:
    exchange.error_kind = kind
    if kind == "upstream_idle_timeout":
        exchange.error = BackendTimeout("The backend stream went silent for too long.")
    elif kind in ("upstream_total_timeout", "stream_total_timeout"):
        exchange.error = BackendTimeout("The backend stream took too long in all.")
    else:
        exchange.error = BackendConnectionFailure(
            "The backend closed the stream before it finished."
        )


def _client_gone(relay: _StreamRelay, exc: BaseException | None) -> None:
    """Note a client that went away, unless it had the whole answer already.

    Clients such as the openai package hang up as soon as they have read
    ``[DONE]``, which may be before the gateway has ended the body: that is
    a complete exchange, not a disconnect (B36).
    """
    exchange = relay.exchange
    reason = type(exc).__name__ if exc else "cancelled"
    if relay.delivered:
        logger.debug(
            "client of request %s hung up after the end of the stream (%s)",
            exchange.correlation_id,
            reason,
        )
        return
    exchange.client_disconnected = True
    exchange.error_kind = "client_disconnected"
    logger.info(
        "client went away during request %s (%s)", exchange.correlation_id, reason
    )


def _finish_llm(relay: _StreamRelay) -> None:
    result = relay.result()
    if result is not None:
        _note_llm_result(relay.exchange, result)


def _note_llm_result(exchange: Exchange, result: LlmResult) -> None:
    """Keep the LLM result; an error found in the body reaches the gateway log.

    A truncated stream is noted by the relay itself, and an error the
    exchange already has (an HTTP error, a client that went away) stays.
    """
    exchange.llm = result
    kind = result.error_kind
    if kind is None or kind == "upstream_truncated" or exchange.error_kind:
        return
    exchange.error_kind = kind
    exchange.error_message = result.error_message or _llm_error_text(result)


def _llm_error_text(result: LlmResult) -> str:
    if result.malformed_events:
        # The first offending payload (already cut short) helps debugging (B11).
        return f"The backend sent data that is not JSON: {result.malformed_events[0]}"
    return "The backend reported that the response failed."


async def _write_eof(relay: _StreamRelay) -> None:
    try:
        await relay.client.write_eof()
    except (ConnectionError, RuntimeError) as exc:
        _client_gone(relay, exc)
