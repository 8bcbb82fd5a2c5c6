"""The network behind an interface: sending a request to a backend.

The pipeline talks to a `Transport`; `AiohttpTransport` is the real one,
with pooled keep-alive connections.  Tests may hand the gateway any object
with the same two methods.  The HTTP client's exceptions are translated into
`BackendConnectionFailure` and `BackendTimeout` here, once.

Bodies are relayed as the backend sent them: the client library does not
decompress, so the bytes and their ``Content-Encoding`` stay in agreement.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from .errors import BackendConnectionFailure, BackendTimeout

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class BackendRequest:
    method: str
    url: str
    headers: Sequence[tuple[str, str]]
    body: bytes


class BackendResponse(Protocol):
    status: int
    reason: str
    headers: Sequence[tuple[str, str]]

    async def read(self) -> bytes:
        """The whole body, as sent (still encoded)."""
        ...

    async def read_chunk(self) -> bytes:
        """The next bytes available; ``b""`` at the end of the body."""
        ...

    def release(self) -> None:
        """Give the connection back (or close it if the body was not read)."""
        ...

    def abort(self) -> None:
        """Close the connection without reading further."""
        ...


class Transport(Protocol):
    async def send(
        self,
        request: BackendRequest,
        *,
        connect_timeout: float,
        first_byte_timeout: float,
    ) -> BackendResponse: ...

    async def close(self) -> None: ...


class _AiohttpResponse:
    __slots__ = ("status", "reason", "headers", "_response")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.reason = response.reason or ""
        self.headers: Sequence[tuple[str, str]] = list(response.headers.items())

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except (aiohttp.ClientError, OSError) as exc:
            raise BackendConnectionFailure(
                "The backend closed the connection before the body ended."
            ) from exc

    async def read_chunk(self) -> bytes:
        try:
            return await self._response.content.readany()
        except (aiohttp.ClientError, OSError) as exc:
            raise BackendConnectionFailure(
                "The backend closed the connection before the stream ended."
            ) from exc

    def release(self) -> None:
        self._response.release()

    def abort(self) -> None:
        self._response.close()


class AiohttpTransport:
    """Pooled HTTP/1.1 connections to backends through aiohttp."""

    def __init__(self, *, max_connections: int = 256) -> None:
        connector = aiohttp.TCPConnector(
            limit=0,
            limit_per_host=max_connections,
            keepalive_timeout=60,
            enable_cleanup_closed=True,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            # Backends' cookies belong to the client that got them, never to
            # the next request: no jar (and no cookie work per request).
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=None),
            raise_for_status=False,
        )

    async def send(
        self,
        request: BackendRequest,
        *,
        connect_timeout: float,
        first_byte_timeout: float,
    ) -> BackendResponse:
        timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_connect=connect_timeout
        )
        try:
            async with asyncio.timeout(first_byte_timeout):
                response = await self._session.request(
                    request.method,
                    # Already encoded by the pipeline: send the bytes as they are.
                    URL(request.url, encoded=True),
                    headers=CIMultiDict(request.headers),
                    data=request.body or None,
                    timeout=timeout,
                    allow_redirects=False,
                )
        except TimeoutError as exc:
            raise BackendTimeout(
                "The backend did not answer in time.", reason="Timeout"
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise BackendConnectionFailure(
                "The gateway could not connect to the backend."
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise BackendConnectionFailure(
                "The backend closed the connection before answering."
            ) from exc
        return _AiohttpResponse(response)

    async def close(self) -> None:
        await self._session.close()
