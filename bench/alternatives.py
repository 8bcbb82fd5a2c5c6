"""The libraries, chosen by measurement: server, HTTP client, JSON.

    python -m bench.alternatives [--quick] [--requests N] [--rounds R]

1. Server.  Two minimal forwarding proxies in front of the same mock, each
   its own process on the gateway's CPU, both calling the mock with the same
   pooled aiohttp client and logging nothing: aiohttp's low-level
   ``web.Server`` (what the gateway runs) and uvicorn with httptools and
   uvloop running a raw ASGI app.  The mock called directly and the full
   gateway run in the same interleaved rounds, for scale.
2. Client.  One process calls the mock with aiohttp's ``ClientSession`` and
   with ``httpx.AsyncClient`` (each made once, pooled, warmed up), in
   alternating rounds, and counts its own CPU per call.
3. JSON.  orjson against the standard library's json on what the gateway
   parses and writes per request: one SSE chunk of a chat stream, and the
   rows of one request's log (read back from the gateway's database).

Internal entry points (started by the above as processes of their own):
``proxy aiohttp|uvicorn --port P --backend-port M`` and
``clients --backend-port M --requests N --rounds R``.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import sqlite3
import sys
import tempfile
import time
import timeit
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from . import report
from .load import build_request
from .procs import HOST, Service, busy_seconds, free_port, source_state
from .run import PATH, RESULTS, Bench, body

_DROP = frozenset({b"content-length", b"transfer-encoding", b"connection"})
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


# 1. The minimal proxies ---------------------------------------------------


def _session() -> Any:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0, limit_per_host=256)
    return aiohttp.ClientSession(
        connector=connector, auto_decompress=False, raise_for_status=False
    )


def serve_aiohttp(port: int, backend: str) -> None:
    """aiohttp's low-level server forwarding every request to ``backend``."""
    import uvloop
    from aiohttp import web

    async def main() -> None:
        session = _session()

        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            data = await request.read()
            headers = {"Content-Type": request.headers.get("Content-Type", "")}
            upstream = await session.post(
                backend + request.path_qs, data=data, headers=headers
            )
            out = [
                (k, v)
                for k, v in upstream.headers.items()
                if k.lower().encode() not in _DROP
            ]
            if upstream.content_type != "text/event-stream":
                payload = await upstream.read()
                response = web.Response(status=upstream.status, body=payload)
                response.headers.extend(out)
                return response
            stream = web.StreamResponse(status=upstream.status)
            stream.headers.extend(out)
            await stream.prepare(request)
            async for chunk in upstream.content.iter_any():
                await stream.write(chunk)
            await stream.write_eof()
            return stream

        runner = web.ServerRunner(web.Server(handle, access_log=None))
        await runner.setup()
        await web.TCPSite(runner, HOST, port, backlog=1024).start()
        await asyncio.Event().wait()

    uvloop.run(main())


class AsgiProxy:
    """A raw ASGI app forwarding every request to ``backend`` through aiohttp."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.session: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if self.session is None:
            self.session = _session()
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        query = scope["query_string"].decode()
        url = self.backend + scope["path"] + ("?" + query if query else "")
        upstream = await self.session.post(
            url,
            data=b"".join(chunks),
            headers={"Content-Type": "application/json"},
        )
        headers = [(k, v) for k, v in upstream.raw_headers if k.lower() not in _DROP]
        streamed = upstream.content_type == "text/event-stream"
        if not streamed:
            payload = await upstream.read()
            headers.append((b"content-length", str(len(payload)).encode()))
        start = {"type": "http.response.start", "status": upstream.status}
        await send({**start, "headers": headers})
        if not streamed:
            await send({"type": "http.response.body", "body": payload})
            return
        async for chunk in upstream.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


def serve_uvicorn(port: int, backend: str) -> None:
    """uvicorn (httptools, uvloop) running `AsgiProxy`."""
    import uvicorn

    uvicorn.run(
        AsgiProxy(backend),
        host=HOST,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        backlog=1024,
    )


# 2. The HTTP clients ----------------------------------------------------------


class _Clients:
    """One aiohttp session and one httpx client, both kept across rounds."""

    def __init__(self, url: str, concurrency: int) -> None:
        import httpx

        self.url = url
        self.aiohttp = _session()
        limits = httpx.Limits(
            max_connections=concurrency, max_keepalive_connections=concurrency
        )
        self.httpx = httpx.AsyncClient(limits=limits, timeout=30.0)

    async def run(self, library: str, stream: bool, n: int, c: int) -> None:
        call = self._aiohttp_call if library == "aiohttp" else self._httpx_call
        data = body(stream)
        left = [n]

        async def worker() -> None:
            while left[0] > 0:
                left[0] -= 1
                await call(data, stream)

        await asyncio.gather(*(worker() for _ in range(c)))

    async def _aiohttp_call(self, data: bytes, stream: bool) -> None:
        async with self.aiohttp.post(self.url, data=data) as response:
            if stream:
                async for _ in response.content.iter_any():
                    pass
            else:
                await response.read()

    async def _httpx_call(self, data: bytes, stream: bool) -> None:
        if stream:
            async with self.httpx.stream("POST", self.url, content=data) as response:
                async for _ in response.aiter_raw():
                    pass
        else:
            (await self.httpx.post(self.url, content=data)).read()

    async def close(self) -> None:
        await self.aiohttp.close()
        await self.httpx.aclose()


def compare_clients(backend_port: int, requests: int, rounds: int) -> None:
    """Print, as JSON, requests, CPU and wall time of each client library."""
    import uvloop

    loop = uvloop.new_event_loop()
    clients = loop.run_until_complete(_make_clients(backend_port))
    totals: dict[str, list[float]] = {}
    libraries = ["aiohttp", "httpx"]
    for index in range(-1, rounds):  # round -1 warms both up, uncounted
        names = libraries if index % 2 == 0 else libraries[::-1]
        for stream in (False, True):
            for c in (1, 64):
                n = requests if c == 64 else max(50, requests // 4)
                n = min(n, 200) if index < 0 else n
                for name in names:
                    cpu, wall = time.process_time(), time.perf_counter()
                    loop.run_until_complete(clients.run(name, stream, n, c))
                    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                    if index < 0:
                        continue
                    key = f"{name} {'stream' if stream else 'chat'} c={c}"
                    entry = totals.setdefault(key, [0.0, 0.0, 0.0])
                    entry[0] += n
                    entry[1] += cpu
                    entry[2] += wall
    loop.run_until_complete(clients.close())
    loop.close()
    print(json.dumps(totals))


async def _make_clients(backend_port: int) -> _Clients:
    return _Clients(f"http://{HOST}:{backend_port}{PATH}", 64)


# 3. JSON ------------------------------------------------------------------


def sample_event(port: int) -> bytes:
    """The JSON of a content chunk from the mock's chat stream."""
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    conn.request(
        "POST", PATH, body=body(True), headers={"Content-Type": "application/json"}
    )
    events = conn.getresponse().read().split(b"\n\n")
    conn.close()
    chunks = [e for e in events if b'"content":"' in e and b"delta" in e]
    return chunks[len(chunks) // 2].removeprefix(b"data: ")


def sample_rows(database: Path) -> list[dict[str, Any]]:
    """The gateway row and the LLM rows of one logged request."""
    conn = sqlite3.connect(database.resolve().as_uri() + "?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        gateway = conn.execute(
            "SELECT * FROM ApiManagementGatewayLogs ORDER BY rowid DESC LIMIT 1"
        ).fetchone()
        llm = conn.execute(
            "SELECT * FROM ApiManagementGatewayLlmLog WHERE CorrelationId = ?",
            (gateway["CorrelationId"],),
        ).fetchall()
    finally:
        conn.close()
    return [dict(gateway), *(dict(row) for row in llm)]


def compare_json(event: bytes, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """µs per operation, orjson against json."""
    import orjson

    messages = json.loads(rows[-1].get("ResponseMessages") or "[]")
    cases: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        (
            f"parse one SSE chunk ({len(event)} B)",
            lambda: orjson.loads(event),
            lambda: json.loads(event),
        ),
        (
            f"dump one request's log rows ({len(rows)} rows)",
            lambda: [orjson.dumps(r) for r in rows],
            lambda: [json.dumps(r, separators=(",", ":")) for r in rows],
        ),
        (
            "dump the completion messages (one LLM log piece)",
            lambda: orjson.dumps(messages).decode(),
            lambda: json.dumps(messages, ensure_ascii=False, separators=(",", ":")),
        ),
    ]
    results = []
    for label, fast, slow in cases:
        runs = 20000
        fast_us = min(timeit.repeat(fast, number=runs, repeat=5)) / runs * 1e6
        slow_us = min(timeit.repeat(slow, number=runs, repeat=5)) / runs * 1e6
        results.append({"case": label, "orjson_us": fast_us, "json_us": slow_us})
    return results


# Orchestration ----------------------------------------------------------------


def proxy_round(
    bench: Bench, service: Service, request: bytes, c: int, n: int
) -> dict[str, Any]:
    """One round against a minimal proxy, its CPU read around it."""
    before = busy_seconds(service.pid)
    mock_before = busy_seconds(bench.mock.pid)
    result = bench.client.round(
        host=HOST, port=service.port, request=request.decode("latin-1"), n=n, c=c
    )
    result["n"] = len(result["latency_ms"]) + result["errors"]
    result["client_cpu_s"] = result.pop("cpu_s")
    result["proxy_cpu_s"] = busy_seconds(service.pid) - before
    result["mock_cpu_s"] = busy_seconds(bench.mock.pid) - mock_before
    return result


def compare_servers(
    bench: Bench, proxies: dict[str, Service], args: argparse.Namespace
) -> dict[str, Any]:
    """Interleaved rounds: direct, gateway and each proxy, per scenario."""
    requests = {
        name: {s: build_request(HOST, p.port, PATH, body(s), {}) for s in (False, True)}
        for name, p in proxies.items()
    }
    targets = ["direct", "gateway", *proxies]
    out: dict[str, Any] = {}
    for label, stream, c in (
        ("chat c=1", False, 1),
        ("chat c=64", False, 64),
        ("stream c=64", True, 64),
    ):
        n = args.requests if c == 64 else max(50, args.requests // 4)
        rounds: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
        for index in range(args.rounds):
            order = targets[index % len(targets) :] + targets[: index % len(targets)]
            for target in order:
                if target in proxies:
                    request = requests[target][stream]
                    result = proxy_round(bench, proxies[target], request, c, n)
                else:
                    result = bench.round(target, stream, c, n)
                    result["proxy_cpu_s"] = result.get("server_cpu_s", 0.0)
                rounds[target].append(result)
        out[label] = {t: _server_summary(r) for t, r in rounds.items()}
    return out


def _server_summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    summary = report.summarize(rounds)
    cpu = sum(r["proxy_cpu_s"] for r in rounds)
    summary["proxy_cpu_ms"] = 1000 * cpu / summary["requests"]
    return summary


def render(result: dict[str, Any]) -> str:
    lines = [
        f"## bench.alternatives {result['when']}, {result['rounds']} rounds",
        "",
        f"source: {result['source']}",
        "",
        "### 1. Server: minimal proxies (no logging) vs the gateway",
        "",
        "| scenario | target | req/s | p50 ms | p99 ms | server CPU ms/req |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for scenario, targets in result["servers"].items():
        for name, s in targets.items():
            cpu = "-" if name == "direct" else f"{s['proxy_cpu_ms']:.3f}"
            lines.append(
                f"| {scenario} | {name} | {s['rps']:.0f} | {s['p50']:.2f} "
                f"| {s['p99']:.2f} | {cpu} |"
            )
    lines += [
        "",
        "### 2. Client: CPU of the calling process per request",
        "",
        "| workload | library | req/s | client CPU µs/req |",
        "|---|---|---:|---:|",
    ]
    for key, (n, cpu, wall) in sorted(result["clients"].items(), key=_client_key):
        library, _, workload = key.partition(" ")
        lines.append(
            f"| {workload} | {library} | {n / wall:.0f} | {1e6 * cpu / n:.0f} |"
        )
    lines += [
        "",
        "### 3. JSON: µs per operation",
        "",
        "| operation | orjson | json | json / orjson |",
        "|---|---:|---:|---:|",
    ]
    for case in result["json"]:
        ratio = case["json_us"] / case["orjson_us"]
        lines.append(
            f"| {case['case']} | {case['orjson_us']:.2f} | {case['json_us']:.2f} "
            f"| {ratio:.1f} |"
        )
    return "\n".join(lines)


def _client_key(item: tuple[str, Any]) -> tuple[str, str]:
    library, _, workload = item[0].partition(" ")
    return workload, library


def run_clients(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.alternatives", "clients"]
    command += ["--backend-port", str(bench.mock_port)]
    command += ["--requests", str(args.requests), "--rounds", str(args.rounds)]
    cpus = bench.gateway_cpus
    taskset = ["taskset", "-c", ",".join(map(str, cpus))] if cpus else []
    out = _check_output([*taskset, *command])
    result: dict[str, Any] = json.loads(out)
    return result


def _check_output(command: list[str]) -> str:
    import subprocess

    return subprocess.run(
        command, check=True, capture_output=True, text=True, timeout=600
    ).stdout


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"when": time.strftime("%Y-%m-%d %H:%M:%S")}
    result["rounds"] = args.rounds
    result["source"] = source_state()
    with ExitStack() as stack:
        bench = Bench(args, workdir, stack)
        backend = f"http://{HOST}:{bench.mock_port}"
        proxies = {}
        for kind in ("aiohttp", "uvicorn"):
            port = free_port()
            command = [sys.executable, "-m", "bench.alternatives", "proxy", kind]
            command += ["--port", str(port), "--backend", backend]
            log = workdir / f"proxy-{kind}.log"
            proxy = Service(kind, command, port, log, bench.gateway_cpus)
            stack.callback(proxy.stop)
            proxy.wait_ready()
            proxies[f"{kind} proxy"] = proxy
        bench.warm_up()
        for proxy in proxies.values():
            for stream in (False, True):
                request = build_request(HOST, proxy.port, PATH, body(stream), {})
                proxy_round(bench, proxy, request, 64, 500)
        result["servers"] = compare_servers(bench, proxies, args)
        result["clients"] = run_clients(bench, args)
        event = sample_event(bench.mock_port)
    result["json"] = compare_json(event, sample_rows(bench.data_dir / "tollhouse.db"))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alternatives")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--requests", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--no-pin", action="store_true")
    sub = parser.add_subparsers(dest="internal")
    proxy = sub.add_parser("proxy")
    proxy.add_argument("kind", choices=("aiohttp", "uvicorn"))
    proxy.add_argument("--port", type=int, required=True)
    proxy.add_argument("--backend", required=True)
    clients = sub.add_parser("clients")
    clients.add_argument("--backend-port", type=int, required=True)
    clients.add_argument("--requests", type=int, required=True)
    clients.add_argument("--rounds", type=int, required=True)
    args = parser.parse_args(argv)

    if args.internal == "proxy":
        serve = serve_aiohttp if args.kind == "aiohttp" else serve_uvicorn
        serve(args.port, args.backend)
        return 0
    if args.internal == "clients":
        compare_clients(args.backend_port, args.requests, args.rounds)
        return 0

    args.requests = args.requests or (1000 if args.quick else 4000)
    args.rounds = args.rounds or (2 if args.quick else 4)
    RESULTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tollhouse-alternatives-") as tmp:
        result = measure(args, Path(tmp))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"alternatives-{stamp}.json").write_text(json.dumps(result, indent=1))
    text = render(result)
    (RESULTS / f"alternatives-{stamp}.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
