"""Test support: a gateway and scripted backends on loopback, in threads.

Sync clients (``requests``, the ``openai`` package) talk to a real gateway
over real sockets; the gateway runs its own event loop in a thread, exactly
as `tollhouse serve` runs it, including the draining shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import re
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests
from aiohttp import web

from tollhouse.app import Gateway, serve
from tollhouse.config import (
    ApiConfig,
    BackendConfig,
    CredentialsConfig,
    DeploymentConfig,
    GatewayConfig,
    NamedValueConfig,
    embedded_default,
)

T = TypeVar("T")

DATA = Path(__file__).parent / "data"
BOUNDARY = "‖".encode()  # marks a read boundary in the case files
# The walkthrough's two KQL queries, pasted as written there.
SEED_DAILY_SUMMARY = (DATA / "seed-daily-summary.kql").read_text(encoding="utf-8")
SEED_BLOCKED = (DATA / "seed-blocked-requests.kql").read_text(encoding="utf-8")


class LoopThread:
    """An asyncio event loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return self.submit(coro).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class RunningGateway:
    """A gateway serving on 127.0.0.1 (a free port) in its own thread."""

    def __init__(self, config: GatewayConfig, **gateway_kwargs: Any) -> None:
        listener = dataclasses.replace(config.listener, host="127.0.0.1", port=0)
        # The management API too (when enabled) on a free loopback port.
        management = dataclasses.replace(config.management, host="127.0.0.1", port=0)
        self.config = dataclasses.replace(
            config, listener=listener, management=management
        )
        self.output = io.StringIO()
        self.gateway = Gateway(self.config, out=self.output, **gateway_kwargs)
        self._thread = LoopThread()
        self._stop: asyncio.Event | None = None
        self._served: Future[None] | None = None
        self.port = 0

    def start(self) -> RunningGateway:
        ready: Future[int] = Future()

        async def run() -> None:
            self._stop = asyncio.Event()
            await serve(self.gateway, ready=ready.set_result, stop=self._stop)

        self._served = self._thread.submit(run())
        self._served.add_done_callback(
            lambda f: (
                ready.done() or ready.set_exception(f.exception() or RuntimeError())
            )
        )
        try:
            self.port = ready.result(30)
        except BaseException:
            self._thread.close()
            raise
        return self

    def stop(self) -> None:
        if self._stop is not None and self._served is not None:
            self._thread.loop.call_soon_threadsafe(self._stop.set)
            self._served.result(60)
            self._stop = None
        self._thread.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def management_url(self) -> str:
        management = self.gateway.management
        assert management is not None, "the management API is not enabled"
        return f"http://127.0.0.1:{management.port}"

    @property
    def admin_key(self) -> str:
        """The management API's admin key."""
        from tollhouse.management.keys import AdminKeys
        from tollhouse.subscriptions import KeySecrets

        with contextlib.closing(sqlite3.connect(self.db_path)) as conn:
            return AdminKeys(
                conn, KeySecrets.load_or_create(Path(self.config.data_dir))
            ).key()

    @property
    def key(self) -> str:
        """The built-in all-access subscription's primary key."""
        store = self.gateway._subscriptions
        assert store is not None
        return store.key("master")

    @property
    def db_path(self) -> Path:
        return self.config.database_path

    def post(
        self,
        path: str,
        body: bytes | dict[str, Any],
        *,
        headers: dict[str, str | None] | None = None,
        stream: bool = False,
        timeout: float = 10.0,
    ) -> requests.Response:
        """POST ``body`` (bytes as they are, or a dict as UTF-8 JSON) with ``requests``.

        The master key goes in ``api-key`` unless ``headers`` sets that to None.
        """
        sent: dict[str, str | None] = {
            "api-key": self.key,
            "Content-Type": "application/json",
        }
        sent.update(headers or {})
        if not isinstance(body, bytes):
            body = json.dumps(body, ensure_ascii=False).encode()
        return requests.post(
            self.url + path,
            data=body,
            headers={k: v for k, v in sent.items() if v is not None},
            stream=stream,
            timeout=timeout,
        )

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with sqlite3.connect(self.db_path) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(sql, params)]

    def wait_rows(
        self,
        sql: str,
        params: Sequence[Any] = (),
        *,
        count: int = 1,
        timeout: float = 5.0,
    ) -> list[dict[str, Any]]:
        """Poll until ``sql`` returns at least ``count`` rows."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.rows(sql, params)
            if len(rows) >= count or time.monotonic() > deadline:
                return rows
            time.sleep(0.02)

    def gateway_row(self, correlation_id: str | None = None) -> dict[str, Any]:
        """The gateway log row of one request (the latest if no id is given)."""
        if correlation_id is None:
            rows = self.wait_rows(
                "SELECT * FROM ApiManagementGatewayLogs ORDER BY rowid DESC LIMIT 1"
            )
        else:
            rows = self.wait_rows(
                "SELECT * FROM ApiManagementGatewayLogs WHERE CorrelationId = ?",
                (correlation_id,),
            )
        assert rows, "no gateway log row appeared"
        return rows[0]

    def llm_rows(self, correlation_id: str) -> list[dict[str, Any]]:
        self.gateway_row(correlation_id)
        return self.rows(
            "SELECT * FROM ApiManagementGatewayLlmLog WHERE CorrelationId = ? "
            "ORDER BY SequenceNumber",
            (correlation_id,),
        )

    def logged(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The latest request's gateway log row and its LLM usage row."""
        row = self.gateway_row()
        llm = self.llm_rows(row["CorrelationId"])
        assert llm and llm[0]["SequenceNumber"] == 0, "no LLM usage row"
        return row, llm[0]

    def messages(self, correlation_id: str, column: str) -> Any:
        """``RequestMessages`` or ``ResponseMessages``: pieces joined, parsed.

        None when the column has no piece at all.
        """
        pieces = [row[column] for row in self.llm_rows(correlation_id)]
        text = "".join(piece for piece in pieces if piece is not None)
        return json.loads(text) if text else None

    def __enter__(self) -> RunningGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# Scripted backends -------------------------------------------------------


@dataclass
class Reply:
    """One scripted backend response, written chunk by chunk.

    After each chunk the backend waits ``delays[i]`` seconds (``delay`` for
    chunks past the end of ``delays``); an empty chunk is a pure pause.
    """

    chunks: Sequence[bytes] = (b"",)
    status: int = 200
    headers: Sequence[tuple[str, str]] = (("Content-Type", "text/event-stream"),)
    delay: float = 0.02
    drop: bool = False
    head_delay: float = 0.0
    delays: Sequence[float] = ()

    def pause_after(self, index: int) -> float:
        return self.delays[index] if index < len(self.delays) else self.delay


@dataclass
class Seen:
    method: str
    path_qs: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class ScriptedBackend:
    """A backend on loopback answering each request with the next `Reply`."""

    replies: deque[Reply] = field(default_factory=deque)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    _thread: LoopThread | None = None
    _runner: web.AppRunner | None = None

    def start(self) -> ScriptedBackend:
        self._thread = LoopThread()
        self.port = self._thread.run(self._start())
        return self

    async def _start(self) -> int:
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        return int(sockets[0].getsockname()[1])

    def stop(self) -> None:
        if self._thread is not None and self._runner is not None:
            self._thread.run(self._runner.cleanup())
            self._thread.close()

    def reply(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(
            Seen(request.method, request.path_qs, list(request.headers.items()), body)
        )
        reply = self.replies.popleft() if self.replies else Reply(status=599)
        if reply.head_delay:
            await asyncio.sleep(reply.head_delay)
        response = web.StreamResponse(status=reply.status)
        for name, value in reply.headers:
            response.headers.add(name, value)
        await response.prepare(request)
        for index, chunk in enumerate(reply.chunks):
            if chunk:
                await response.write(chunk)
            await asyncio.sleep(reply.pause_after(index))
        if reply.drop:
            assert request.transport is not None
            request.transport.abort()
            return response
        await response.write_eof()
        return response

    def __enter__(self) -> ScriptedBackend:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def sse(*events: str) -> bytes:
    """SSE bytes for ``data:`` payloads, each ending in a blank line."""
    return b"".join(f"data: {e}\n\n".encode() for e in events)


def chat_body(content: str, usage: tuple[int, int, int] = (12, 5, 17)) -> bytes:
    """A whole chat completion saying ``content``, with ``usage`` as reported."""
    prompt, completion, total = usage
    return json.dumps(
        {
            "id": "c14",
            "object": "chat.completion",
            "model": "gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": total,
            },
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def chat_chunks(*texts: str, model: str = "gpt-4o") -> list[bytes]:
    """One chunk event per text, the last with finish_reason "stop", then [DONE]."""
    events = []
    for position, text in enumerate(texts):
        finish = '"stop"' if position == len(texts) - 1 else "null"
        delta = json.dumps({"content": text}, ensure_ascii=False)
        events.append(
            sse(
                f'{{"id":"16","object":"chat.completion.chunk","created":1,'
                f'"model":"{model}","choices":[{{"index":0,"delta":{delta},'
                f'"finish_reason":{finish}}}]}}'
            )
        )
    return [*events, sse("[DONE]")]


def per_event(stream: bytes) -> list[bytes]:
    """``stream`` cut after each blank line (LF or CRLF): one read per event."""
    parts = re.split(rb"(?:(?<=\n\n)|(?<=\r\n\r\n))", stream)
    return [part for part in parts if part]


def pick(row: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """The columns of ``row`` that ``expected`` names, to compare with it."""
    return {name: row[name] for name in expected}


def case_chunks(name: str) -> list[bytes]:
    """A case file's bytes (``tests/data``), cut into reads where it shows ‖."""
    return (DATA / name).read_bytes().split(BOUNDARY)


def case_bytes(name: str) -> bytes:
    """A case file's bytes with the read-boundary marks taken out."""
    return b"".join(case_chunks(name))


def scripted_config(
    data_dir: Path,
    backend_url: str,
    *,
    kind: str = "azure-openai",
    backend: Callable[[BackendConfig], BackendConfig] | None = None,
    api: Callable[[ApiConfig], ApiConfig] | None = None,
    named_values: dict[str, NamedValueConfig] | None = None,
) -> GatewayConfig:
    """A gateway whose one API forwards to ``backend_url``."""
    backend_config = BackendConfig(
        url=backend_url + ("/openai" if kind == "azure-openai" else "/v1"),
        kind=kind,  # type: ignore[arg-type]
    )
    if backend is not None:
        backend_config = backend(backend_config)
    api_config = ApiConfig(path="openai", backend="scripted")
    if api is not None:
        api_config = api(api_config)
    return GatewayConfig(
        data_dir=str(data_dir),
        backends={"scripted": backend_config},
        apis={"azure-openai": api_config},
        named_values=named_values or {},
    )


def secret_key_config(data_dir: Path, backend_url: str, key: str) -> GatewayConfig:
    """A scripted gateway that sends ``key``, a secret named value, as ``api-key``."""
    return scripted_config(
        data_dir,
        backend_url,
        backend=lambda b: dataclasses.replace(
            b, credentials=CredentialsConfig(type="header", value="{{k}}")
        ),
        named_values={"k": NamedValueConfig(value=key, secret=True)},
    )


def default_config(data_dir: Path) -> GatewayConfig:
    """The embedded default, in ``data_dir``."""
    return embedded_default(str(data_dir))


# Shared by the case tests -------------------------------------------------

JSON = (("Content-Type", "application/json"),)
"""The headers of a scripted JSON (not streamed) reply."""

AZURE_CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
V1_CHAT = "/v1/chat/completions"
V1_COMPLETIONS = "/v1/completions"
V1_RESPONSES = "/v1/responses"


def without_event(stream: bytes, marker: bytes) -> bytes:
    """``stream`` less the one event that contains ``marker``."""
    events = per_event(stream)
    kept = [event for event in events if marker not in event]
    assert len(kept) == len(events) - 1
    return b"".join(kept)


def completion(gw: RunningGateway, row: dict[str, Any]) -> list[dict[str, Any]]:
    """The ResponseMessages of ``row``'s request, reassembled."""
    messages: list[dict[str, Any]] = gw.messages(
        row["CorrelationId"], "ResponseMessages"
    )
    return messages


__all__ = [
    "DATA",
    "DeploymentConfig",
    "LoopThread",
    "Reply",
    "RunningGateway",
    "ScriptedBackend",
    "case_bytes",
    "case_chunks",
    "chat_body",
    "chat_chunks",
    "default_config",
    "per_event",
    "pick",
    "scripted_config",
    "secret_key_config",
    "sse",
]
