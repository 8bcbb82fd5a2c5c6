"""Writing replies to the socket, with the delays and faults a request asked for.

Everything that touches the connection lives here: the latency before the
head, compression of bodies and of streams event by event, the pauses
between events, and the deliberate connection drops of
``x-mock-drop-after``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import zlib
from typing import Final, Protocol

import brotli
from aiohttp import web

from tollhouse.mock.replies import Body, Reply, Stream
from tollhouse.mock.settings import Directives

logger = logging.getLogger(__name__)

# Quotas the mock pretends to have; a rate-limit fault reports them spent.
_RATE_LIMITS: Final = (
    ("x-ratelimit-limit-requests", "1000"),
    ("x-ratelimit-remaining-requests", "999"),
    ("x-ratelimit-limit-tokens", "1000000"),
    ("x-ratelimit-remaining-tokens", "999000"),
)


class _Encoder(Protocol):
    def feed(self, data: bytes) -> bytes: ...

    def finish(self, data: bytes = b"") -> bytes: ...


class _ZlibEncoder:
    """gzip or deflate, flushed after every piece so that each event arrives."""

    def __init__(self, wbits: int) -> None:
        self._compressor = zlib.compressobj(wbits=wbits)

    def feed(self, data: bytes) -> bytes:
        compressed = self._compressor.compress(data)
        return compressed + self._compressor.flush(zlib.Z_SYNC_FLUSH)

    def finish(self, data: bytes = b"") -> bytes:
        return self._compressor.compress(data) + self._compressor.flush()


class _BrotliEncoder:
    def __init__(self) -> None:
        self._compressor = brotli.Compressor()

    def feed(self, data: bytes) -> bytes:
        compressed: bytes = self._compressor.process(data) + self._compressor.flush()
        return compressed

    def finish(self, data: bytes = b"") -> bytes:
        compressed: bytes = self._compressor.process(data) + self._compressor.finish()
        return compressed


def _encoder(coding: str) -> _Encoder:
    if coding == "br":
        return _BrotliEncoder()
    # HTTP's "deflate" is the zlib format, not raw deflate.
    return _ZlibEncoder(zlib.MAX_WBITS | 16 if coding == "gzip" else zlib.MAX_WBITS)


def add_common_headers(
    request: web.Request, response: web.StreamResponse, region: str
) -> None:
    """Give ``response`` the headers Azure OpenAI sends on every answer."""
    headers = response.headers
    headers["x-ms-region"] = region
    headers["apim-request-id"] = str(uuid.uuid4())
    headers["x-request-id"] = "req_" + uuid.uuid4().hex
    for name, value in _RATE_LIMITS:
        headers.setdefault(name, value)

    deployment = request.match_info.get("deployment")
    if deployment is not None:
        headers["x-ms-deployment-name"] = deployment


async def pause(milliseconds: float) -> None:
    """Sleep for ``milliseconds`` unless it is zero."""
    if milliseconds > 0:
        await asyncio.sleep(milliseconds / 1000)


async def send(
    request: web.Request, reply: Reply, directives: Directives
) -> web.StreamResponse:
    """Write ``reply`` as ``directives`` ask: compressed, paced or cut short."""
    if isinstance(reply, Stream):
        return await _send_stream(request, reply, directives)
    return await _send_body(request, reply, directives)


async def _send_body(
    request: web.Request, body: Body, directives: Directives
) -> web.StreamResponse:
    data = body.data
    response = web.StreamResponse(status=body.status, headers=body.headers)
    response.content_type = body.content_type
    if directives.encoding is not None:
        data = _encoder(directives.encoding).finish(data)
        response.headers["content-encoding"] = directives.encoding
    response.content_length = len(data)

    await response.prepare(request)
    if directives.drop_after is None:
        await response.write(data)
        return response

    # Promise the whole length, send half, hang up.
    await response.write(data[: len(data) // 2])
    _hang_up(request, abort=False)
    return response


async def _send_stream(
    request: web.Request, stream: Stream, directives: Directives
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"cache-control": "no-cache"})
    response.content_type = "text/event-stream"
    response.charset = "utf-8"
    encoder = None
    if directives.encoding is not None:
        encoder = _encoder(directives.encoding)
        response.headers["content-encoding"] = directives.encoding

    await response.prepare(request)
    try:
        await _write_events(request, response, stream, directives, encoder)
    except ConnectionError:
        logger.debug("client left during a mock stream", exc_info=True)
    return response


async def _write_events(
    request: web.Request,
    response: web.StreamResponse,
    stream: Stream,
    directives: Directives,
    encoder: _Encoder | None,
) -> None:
    for sent, event in enumerate(stream.events):
        if sent == directives.drop_after:
            _hang_up(request, abort=True)
            return
        if sent:
            await pause(directives.chunk_delay_ms)
        await response.write(event if encoder is None else encoder.feed(event))

    if encoder is not None:
        await response.write(encoder.finish())
    await response.write_eof()


def _hang_up(request: web.Request, *, abort: bool) -> None:
    """Drop the connection: ``abort`` resets it, else it closes after flushing."""
    transport = request.transport
    if transport is None:
        return
    if abort:
        transport.abort()
    else:
        transport.close()
