"""Decoding a copy of a compressed body, so the log sees text.

The client always gets the backend's bytes with the backend's
``Content-Encoding``; only the copy the log parses is decoded.
"""

from __future__ import annotations

import logging
import zlib
from typing import Protocol

import brotli

logger = logging.getLogger(__name__)

# A decoded copy larger than this is cut: it is only read for the log.
MAX_DECODED = 64 * 2**20


class StreamDecoder(Protocol):
    def feed(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes: ...


class _ZlibDecoder:
    def __init__(self, wbits: int) -> None:
        self._decoder = zlib.decompressobj(wbits)
        self._failed = False

    def feed(self, data: bytes) -> bytes:
        if self._failed:
            return b""
        try:
            return self._decoder.decompress(data)
        except zlib.error:
            self._failed = True
            logger.warning("a compressed backend body could not be decoded for the log")
            return b""

    def flush(self) -> bytes:
        return b"" if self._failed else self._decoder.flush()


class _BrotliDecoder:
    def __init__(self) -> None:
        self._decoder = brotli.Decompressor()
        self._failed = False

    def feed(self, data: bytes) -> bytes:
        if self._failed:
            return b""
        try:
            return bytes(self._decoder.process(data))
        except brotli.error:
            self._failed = True
            logger.warning("a brotli backend body could not be decoded for the log")
            return b""

    def flush(self) -> bytes:
        return b""


class _Identity:
    def feed(self, data: bytes) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


def make_decoder(encoding: str | None) -> StreamDecoder | None:
    """A streaming decoder for ``encoding``; None for identity."""
    coding = (encoding or "").strip().lower()
    if coding in ("", "identity"):
        return None
    if coding in ("gzip", "x-gzip"):
        return _ZlibDecoder(16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return _ZlibDecoder(zlib.MAX_WBITS)
    if coding == "br":
        return _BrotliDecoder()
    logger.warning("unknown content-encoding %r: the log sees raw bytes", coding)
    return _Identity()


def decode_body(body: bytes, encoding: str | None) -> bytes:
    """The decoded copy of a whole body (the body itself when not encoded)."""
    decoder = make_decoder(encoding)
    if decoder is None:
        return body
    return (decoder.feed(body) + decoder.flush())[:MAX_DECODED]
