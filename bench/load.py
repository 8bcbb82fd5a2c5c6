"""The load generator: raw HTTP/1.1 keep-alive connections on uvloop.

It runs as its own process (``python -m bench.load``) so that its CPU is
never the gateway's.  The harness writes one JSON command per line on its
standard input and reads one JSON result per line from its standard output:

    {"host": "127.0.0.1", "port": 8000, "request": "POST / HTTP/1.1...",
     "n": 2000, "c": 64, "stream": false}          # or "seconds": 10 for "n"

A round opens ``c`` connections (not timed), sends the same request ``n``
times over them, each connection waiting for its answer before it sends the
next, and reports every request's latency and, for streams, its time to the
first body byte.  A response counts as an error unless it is a 200 whose
body ends as it should (a stream must carry ``data: [DONE]``).

The client does only what it must per response: find the end of the head,
then follow Content-Length or the chunk sizes.  It costs about 20-40 µs of
CPU per request, a small fraction of what either server spends.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any, cast

_HEAD_END = b"\r\n\r\n"
_DONE = b"data: [DONE]"


@dataclass(slots=True)
class Sample:
    """One request as the client saw it, in seconds from sending it."""

    status: int
    first_byte: float
    total: float
    complete: bool


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiter: asyncio.Future[Sample] | None = None
        self._buffer = bytearray()
        self._sent = 0.0
        self._first = 0.0
        self._status = 0
        self._body = -1
        self._length = -1
        self._cursor = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("connection closed"))
        if not self.closed.done():
            self.closed.set_result(None)

    def send(self, request: bytes) -> asyncio.Future[Sample]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._buffer.clear()
        self._first = 0.0
        self._body = -1
        self._sent = time.perf_counter()
        self.transport.write(request)
        return self._waiter

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self._buffer += data
        if self._body < 0 and not self._read_head():
            return
        if not self._first and len(self._buffer) > self._body:
            self._first = now
        if self._at_end():
            self._finish(now)

    def _read_head(self) -> bool:
        end = self._buffer.find(_HEAD_END)
        if end < 0:
            return False
        head = bytes(self._buffer[:end]).lower()
        self._status = int(head[9:12])
        self._body = self._cursor = end + 4
        self._length = -1
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            stop = head.find(b"\r\n", at + 2)
            self._length = int(head[at + 17 : stop if stop >= 0 else None])
        elif b"\r\ntransfer-encoding: chunked" not in head:
            raise ValueError("a response with neither length nor chunks")
        return True

    def _at_end(self) -> bool:
        buffer = self._buffer
        if self._length >= 0:
            return len(buffer) >= self._body + self._length
        while True:
            line_end = buffer.find(b"\r\n", self._cursor)
            if line_end < 0:
                return False
            size = int(buffer[self._cursor : line_end].split(b";")[0], 16)
            chunk_end = line_end + 2 + size + 2
            if len(buffer) < chunk_end:
                return False
            self._cursor = chunk_end
            if size == 0:
                return True

    def _finish(self, now: float) -> None:
        complete = self._status == 200
        if self._length < 0:
            complete = complete and self._buffer.find(_DONE, self._body) >= 0
        sample = Sample(
            self._status, self._first - self._sent, now - self._sent, complete
        )
        assert self._waiter is not None
        self._waiter.set_result(sample)


@dataclass
class RoundResult:
    """What one round measured; times in milliseconds."""

    elapsed: float
    latency_ms: list[float] = field(default_factory=list)
    ttfb_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    cpu_s: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "elapsed": self.elapsed,
            "latency_ms": [round(v, 4) for v in self.latency_ms],
            "ttfb_ms": [round(v, 4) for v in self.ttfb_ms],
            "errors": self.errors,
            "first_error": self.first_error,
            "cpu_s": self.cpu_s,
        }


async def run_round(
    host: str,
    port: int,
    request: bytes,
    *,
    concurrency: int,
    count: int = 0,
    seconds: float = 0.0,
) -> RoundResult:
    """Send ``request`` ``count`` times (or for ``seconds``) over ``concurrency``
    keep-alive connections and time every answer."""
    loop = asyncio.get_running_loop()
    connections = [
        (await loop.create_connection(_Connection, host, port))[1]
        for _ in range(concurrency)
    ]
    result = RoundResult(elapsed=0.0)
    budget = [count]
    cpu = time.process_time()
    started = time.perf_counter()
    deadline = started + seconds if seconds else float("inf")

    async def drive(connection: _Connection) -> None:
        while (budget[0] > 0 or seconds) and time.perf_counter() < deadline:
            budget[0] -= 1
            try:
                sample = await connection.send(request)
            except (ConnectionError, ValueError) as exc:
                result.errors += 1
                result.first_error = result.first_error or repr(exc)
                return
            result.latency_ms.append(sample.total * 1000.0)
            if sample.first_byte > 0:
                result.ttfb_ms.append(sample.first_byte * 1000.0)
            if not sample.complete:
                result.errors += 1
                result.first_error = result.first_error or f"status {sample.status}"

    await asyncio.gather(*(drive(c) for c in connections))
    result.elapsed = time.perf_counter() - started
    result.cpu_s = time.process_time() - cpu
    for connection in connections:
        if connection.transport is not None:
            connection.transport.close()
    await asyncio.gather(*(c.closed for c in connections))
    return result


def build_request(
    host: str, port: int, path: str, body: bytes, headers: dict[str, str]
) -> bytes:
    """A complete HTTP/1.1 POST with a JSON body, ready to be sent as is."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        result = loop.run_until_complete(
            run_round(
                command["host"],
                command["port"],
                command["request"].encode("latin-1"),
                concurrency=command["c"],
                count=command.get("n", 0),
                seconds=command.get("seconds", 0.0),
            )
        )
        print(json.dumps(result.as_json()), flush=True)


def main() -> None:
    loop: asyncio.AbstractEventLoop
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        _serve(loop)
    finally:
        loop.close()


if __name__ == "__main__":
    main()
