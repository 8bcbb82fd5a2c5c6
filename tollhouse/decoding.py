"""Decoding compressed backend bodies, so the log sees text.

A whole body reaches the client as the backend sent it, bytes and
``Content-Encoding`` alike; only the copy the log parses is decoded.  An
event stream the LLM log reads is decoded as it comes and relayed decoded
(`tollhouse.relay`).  Decoding never raises: data that does not decode is
logged once and left out of the log's copy.
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


def _too_large() -> None:
    logger.warning(
        "a compressed backend body decodes to more than %d bytes: the rest is "
        "not decoded",
        MAX_DECODED,
    )


class _ZlibDecoder:
    def __init__(self, wbits: int, *, quiet: bool = False) -> None:
        self._decoder = zlib.decompressobj(wbits)
        self._quiet = quiet
        self._left = MAX_DECODED
        self.failed = False

    def feed(self, data: bytes) -> bytes:
        if self.failed:
            return b""
        try:
            # Never more than the budget: a small bomb must not inflate.
            out = self._decoder.decompress(data, self._left + 1)
        except zlib.error:
            self.failed = True
            if not self._quiet:
                logger.warning(
                    "a compressed backend body could not be decoded for the log"
                )
            return b""
        if len(out) > self._left or self._decoder.unconsumed_tail:
            self.failed = True
            _too_large()
            return b""
        self._left -= len(out)
        return out

    def flush(self) -> bytes:
        return b"" if self.failed else self._decoder.flush()


class _DeflateDecoder:
    """``deflate`` zlib-wrapped, as RFC 9110 means it, or raw as some send it.

    The first bytes tell which: they are kept until the zlib header has
    either been accepted or refused.
    """

    def __init__(self) -> None:
        self._decoder = _ZlibDecoder(zlib.MAX_WBITS, quiet=True)
        self._start: bytearray | None = bytearray()  # kept until output shows

    def feed(self, data: bytes) -> bytes:
        if self._start is None:
            return self._decoder.feed(data)
        self._start += data
        out = self._decoder.feed(data)
        if self._decoder.failed:
            self._decoder = _ZlibDecoder(-zlib.MAX_WBITS)
            data, self._start = bytes(self._start), None
            return self._decoder.feed(data)
        if out:
            self._start = None
        return out

    def flush(self) -> bytes:
        return self._decoder.flush()


class _BrotliDecoder:
    def __init__(self) -> None:
        self._decoder = brotli.Decompressor()
        self._left = MAX_DECODED
        self._failed = False

    def feed(self, data: bytes) -> bytes:
        if self._failed:
            return b""
        try:
            out = bytes(self._decoder.process(data, output_buffer_limit=self._left + 1))
        except brotli.error:
            self._failed = True
            logger.warning("a brotli backend body could not be decoded for the log")
            return b""
        if len(out) > self._left:
            self._failed = True
            _too_large()
            return b""
        self._left -= len(out)
        return out

    def flush(self) -> bytes:
        return b""


class _Identity:
    def feed(self, data: bytes) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


_KNOWN = frozenset({"", "identity", "gzip", "x-gzip", "deflate", "br"})


def can_decode(encoding: str | None) -> bool:
    """Whether `make_decoder` gives a real decoder (or none is needed)."""
    return (encoding or "").strip().lower() in _KNOWN


def is_encoded(encoding: str | None) -> bool:
    """Whether a ``Content-Encoding`` value says the bytes are compressed."""
    return (encoding or "").strip().lower() not in ("", "identity")


def make_decoder(encoding: str | None) -> StreamDecoder | None:
    """A streaming decoder for ``encoding``; None for identity."""
    if not is_encoded(encoding):
        return None
    coding = (encoding or "").strip().lower()
    if coding in ("gzip", "x-gzip"):
        return _ZlibDecoder(16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return _DeflateDecoder()
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
