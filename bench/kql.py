"""KQL query times over a million requests' logs, in SQLite and PostgreSQL.

    python -m bench.kql [--rows N] [--days D] [--runs R] [--no-postgres]
                        [--explain] [--keep]

Generates ``--rows`` requests' gateway log rows and LLM log rows as the
gateway writes them (a usage row, ``SequenceNumber`` 0, per call that
reached the backend; a prompt and a completion row per logged call), spread
over ``--days`` days that end now, across subscriptions and deployments,
with some 4xx and 5xx.  Loads them into a SQLite file (one transaction) and
into a PostgreSQL schema of its own (``COPY``), then times each query in
`QUERIES` through `run_query`: the median of ``--runs`` runs after one
warm-up run.  Each query's result must be the same in both stores, and the
daily summary must equal the totals the generator counted.

The default (20,000 requests) is a smoke run of seconds; ``--rows 1000000``
is the benchmark of ``bench/README.md`` (a few minutes).  PostgreSQL is the
one at 127.0.0.1:5432 (``--dsn``); the schema is dropped at the end unless
``--keep``.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg import sql

from tollhouse.kql.run import (
    PostgresQueryEngine,
    QueryEngine,
    QueryLimits,
    SqliteQueryEngine,
    run_query,
)
from tollhouse.kql.tables import GATEWAY_LOGS, LLM_LOG
from tollhouse.store import postgres as postgres_store
from tollhouse.store.schema import utc_timestamp
from tollhouse.store.sqlite import migrate

DEFAULT_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
SCHEMA = "tollhouse_bench_kql"
CHUNK = 20_000

DAILY_SUMMARY = """ApiManagementGatewayLlmLog
| where TimeGenerated >= ago(1d)
| where coalesce(SequenceNumber, 0) == 0
| where tolong(TotalTokens) > 0
| summarize
TotalRequests = count(),
PromptTokensSum = sum(tolong(PromptTokens)),
CompletionTokensSum = sum(tolong(CompletionTokens)),
TotalTokensSum = sum(tolong(TotalTokens)),
AvgTokensPerReq = avg(tolong(TotalTokens))"""

HOURLY_TOKENS = (
    "ApiManagementGatewayLlmLog | where TimeGenerated > ago(7d)"
    " | summarize sum(tolong(TotalTokens)) by bin(TimeGenerated, 1h)"
)

SUBSCRIPTION_USAGE = """ApiManagementGatewayLogs
| where TimeGenerated >= ago(1d)
| join kind=inner (ApiManagementGatewayLlmLog | where SequenceNumber == 0)
    on CorrelationId
| summarize Requests = count(), Tokens = sum(TotalTokens)
    by ApimSubscriptionId, DeploymentName"""

QUERIES = {
    "daily token summary (seed)": DAILY_SUMMARY,
    "tokens by bin(TimeGenerated, 1h), 7 days": HOURLY_TOKENS,
    "usage per subscription and deployment, 1 day (join)": SUBSCRIPTION_USAGE,
}

# Who calls, what, and how it ends.  Weights are relative.
SUBSCRIPTIONS = [(f"team-{n:02d}", 1 / n) for n in range(1, 13)]
DEPLOYMENTS = [
    ("gpt-4o", "gpt-4o-2024-11-20", "chat", 5),
    ("gpt-4o-mini", "gpt-4o-mini-2024-07-18", "chat", 6),
    ("o3-mini", "o3-mini-2025-01-31", "chat", 1),
    ("text-embedding-3-small", "text-embedding-3-small", "embeddings", 2),
]
STATUSES = [
    (200, 910),
    (429, 40),
    (401, 15),  # refused by the gateway: no LLM rows
    (400, 10),
    (403, 5),  # blocked by a policy: no LLM rows
    (500, 10),
    (503, 5),
    (504, 5),
]
_WORDS = [
    "gateway",
    "token",
    "quota",
    "latency",
    "deployment",
    "region",
    "policy",
    "backend",
    "prompt",
    "answer",
    "summary",
    "invoice",
    "contract",
    "요약",
    "번역",
    "日本語",
    "über",
    "café",
]


@dataclass
class Expected:
    """Totals the daily summary must report, counted while generating."""

    since: str
    requests: int = 0
    prompt: int = 0
    completion: int = 0
    total: int = 0


@dataclass
class Dataset:
    rows: int
    days: float
    end: datetime
    seed: int
    message_share: float
    expected: Expected = field(init=False)

    def __post_init__(self) -> None:
        self.expected = Expected(utc_timestamp(self.end - timedelta(days=1)))


# Generating ---------------------------------------------------------------


def generate(
    data: Dataset,
) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """The requests' rows, oldest first, in chunks of gateway and LLM rows."""
    rnd = random.Random(data.seed)
    pools = _Pools(rnd)
    start = data.end - timedelta(days=data.days)
    step = timedelta(days=data.days) / data.rows
    for first in range(0, data.rows, CHUNK):
        gateway: list[dict[str, Any]] = []
        llm: list[dict[str, Any]] = []
        for number in range(first, min(first + CHUNK, data.rows)):
            when = utc_timestamp(start + step * (number + rnd.random()))
            request = _request(rnd, pools, when)
            gateway.append(request.gateway)
            llm.extend(_llm_rows(rnd, pools, request, data.message_share))
            _count(data.expected, llm, request)
        yield gateway, llm


class _Pools:
    """Ready-made JSON texts, so that generating stays fast."""

    def __init__(self, rnd: random.Random) -> None:
        self.request_headers = [
            orjson.dumps(
                {
                    "content-type": "application/json",
                    "user-agent": f"AzureOpenAI/Python {n}.{m}",
                    "x-ms-client-request-id": f"{rnd.getrandbits(64):016x}",
                }
            ).decode()
            for n in (1, 2)
            for m in range(8)
        ]
        self.response_headers = orjson.dumps(
            {"content-type": "application/json", "x-ratelimit-remaining-tokens": "9"}
        ).decode()
        self.prompts = [self._messages(rnd, "user") for _ in range(64)]
        self.answers = [self._messages(rnd, "assistant") for _ in range(64)]
        self.subscriptions = [name for name, _ in SUBSCRIPTIONS]
        self.subscription_weights = [w for _, w in SUBSCRIPTIONS]
        self.deployment_weights = [d[3] for d in DEPLOYMENTS]
        self.statuses = [s for s, _ in STATUSES]
        self.status_weights = [w for _, w in STATUSES]

    @staticmethod
    def _messages(rnd: random.Random, role: str) -> str:
        text = " ".join(rnd.choices(_WORDS, k=rnd.randint(8, 60)))
        messages = [{"role": role, "content": text}]
        if role == "user":
            messages.insert(0, {"role": "system", "content": "You are helpful."})
        return orjson.dumps(messages).decode()


@dataclass
class _Request:
    gateway: dict[str, Any]
    deployment: tuple[str, str, str, int]
    status: int


def _request(rnd: random.Random, pools: _Pools, when: str) -> _Request:
    subscription = rnd.choices(pools.subscriptions, pools.subscription_weights)[0]
    deployment = rnd.choices(DEPLOYMENTS, pools.deployment_weights)[0]
    status = rnd.choices(pools.statuses, pools.status_weights)[0]
    name, _, kind, _ = deployment
    operation = "ChatCompletions_Create" if kind == "chat" else "Embeddings_Create"
    path = "chat/completions" if kind == "chat" else "embeddings"
    reached = status not in (401, 403)
    backend_time = rnd.lognormvariate(6.5, 0.8) if reached else None
    gateway = {
        "TimeGenerated": when,
        "CorrelationId": _uuid(rnd),
        "Method": "POST",
        "Url": f"https://gw.example/openai/deployments/{name}/{path}"
        "?api-version=2024-10-21",
        "CallerIpAddress": f"10.0.{rnd.randrange(4)}.{rnd.randrange(1, 255)}",
        "ResponseCode": status,
        "ResponseSize": rnd.randrange(300, 4000),
        "RequestSize": rnd.randrange(200, 6000),
        "RequestHeaders": rnd.choice(pools.request_headers),
        "ResponseHeaders": pools.response_headers,
        "OperationName": operation,
        "ApiId": "azure-openai",
        "OperationId": operation,
        "ProductId": "starter",
        "ApimSubscriptionId": subscription,
        "BackendId": "aoai-eastus" if reached else None,
        "BackendResponseCode": status if reached else None,
        "BackendTime": backend_time,
        "TotalTime": (backend_time or 0.0) + rnd.uniform(0.3, 3.0),
        "Cache": "none",
        "ClientProtocol": "HTTP/1.1",
        "IsRequestSuccess": int(status < 400),
        "LastErrorReason": None if status < 400 else f"Status{status}",
        "Region": "local",
        "ApiVersion": "2024-10-21",
        "DeploymentName": name,
        "ClientDisconnected": 0,
    }
    return _Request(gateway, deployment, status)


def _uuid(rnd: random.Random) -> str:
    h = f"{rnd.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _llm_rows(
    rnd: random.Random, pools: _Pools, request: _Request, message_share: float
) -> list[dict[str, Any]]:
    if request.status in (401, 403):
        return []
    gateway = request.gateway
    name, model, kind, _ = request.deployment
    common = {
        "TimeGenerated": gateway["TimeGenerated"],
        "CorrelationId": gateway["CorrelationId"],
        "DeploymentName": name,
        "ModelName": model,
        "ApiVersion": "2024-10-21",
        "OperationName": gateway["OperationName"],
        "ApiId": "azure-openai",
        "ApimSubscriptionId": gateway["ApimSubscriptionId"],
        "BackendId": "aoai-eastus",
        "Region": "local",
    }
    usage = {**common, "SequenceNumber": 0, **_usage(rnd, kind, request.status)}
    rows = [usage]
    if kind == "chat" and request.status == 200 and rnd.random() < message_share:
        prompt, answer = rnd.choice(pools.prompts), rnd.choice(pools.answers)
        rows.append({**common, "SequenceNumber": 1, "RequestMessages": prompt})
        rows.append({**common, "SequenceNumber": 2, "ResponseMessages": answer})
    return rows


def _usage(rnd: random.Random, kind: str, status: int) -> dict[str, Any]:
    if status != 200:
        return {"TokenCountSource": "none", "ErrorKind": f"http_{status}"}
    prompt = min(int(rnd.lognormvariate(6.0, 1.0)) + 1, 120_000)
    completion = 0 if kind == "embeddings" else int(rnd.lognormvariate(5.0, 0.9))
    return {
        "RequestId": f"chatcmpl-{rnd.getrandbits(64):016x}",
        "IsStreamCompletion": int(kind == "chat" and rnd.random() < 0.3),
        "PromptTokens": prompt,
        "CompletionTokens": completion,
        "TotalTokens": prompt + completion,
        "TokenCountSource": "backend",
        "FinishReason": "stop" if kind == "chat" else None,
    }


def _count(expected: Expected, llm: list[dict[str, Any]], request: _Request) -> None:
    if request.gateway["TimeGenerated"] < expected.since or request.status != 200:
        return
    usage = next(row for row in reversed(llm) if row["SequenceNumber"] == 0)
    if usage["TotalTokens"] > 0:
        expected.requests += 1
        expected.prompt += usage["PromptTokens"]
        expected.completion += usage["CompletionTokens"]
        expected.total += usage["TotalTokens"]


# Loading ------------------------------------------------------------------


class _SqliteLoader:
    """Everything in one transaction, with the schema's own indexes."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        migrate(self.conn)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = OFF")
        self.conn.execute("PRAGMA cache_size = -1000000")
        self.conn.execute("BEGIN")
        self.seconds = 0.0

    def load(self, gateway: list[dict[str, Any]], llm: list[dict[str, Any]]) -> None:
        started = time.perf_counter()
        for table, rows in ((GATEWAY_LOGS, gateway), (LLM_LOG, llm)):
            names = ", ".join(table.columns)
            marks = ", ".join("?" for _ in table.columns)
            self.conn.executemany(
                f"INSERT INTO {table.name} ({names}) VALUES ({marks})",
                [tuple(map(row.get, table.columns)) for row in rows],
            )
        self.seconds += time.perf_counter() - started

    def finish(self) -> None:
        started = time.perf_counter()
        self.conn.execute("COMMIT")
        # What the gateway's sink does every few minutes (`SqliteSink`).
        self.conn.execute("PRAGMA analysis_limit = 1000")
        self.conn.execute("ANALYZE")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()
        self.seconds += time.perf_counter() - started


class _PostgresLoader:
    """``COPY`` per chunk into a fresh schema, then ``VACUUM ANALYZE``."""

    def __init__(self, dsn: str) -> None:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(SCHEMA)
                )
            )
            admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
        self.dsn = psycopg.conninfo.make_conninfo(
            dsn, options=f"-c search_path={SCHEMA}"
        )
        self.conn = postgres_store.connect(self.dsn)
        self.seconds = 0.0

    def load(self, gateway: list[dict[str, Any]], llm: list[dict[str, Any]]) -> None:
        started = time.perf_counter()
        with self.conn.transaction():
            postgres_store.copy_rows(self.conn, GATEWAY_LOGS, gateway)
            postgres_store.copy_rows(self.conn, LLM_LOG, llm)
        self.seconds += time.perf_counter() - started

    def finish(self) -> None:
        started = time.perf_counter()
        # Autovacuum would get there too; index-only scans need its
        # visibility map, and the planner its statistics.
        self.conn.execute('VACUUM ANALYZE "ApiManagementGatewayLogs"')
        self.conn.execute('VACUUM ANALYZE "ApiManagementGatewayLlmLog"')
        self.conn.close()
        self.seconds += time.perf_counter() - started


def drop_schema(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA))
        )


# Timing -------------------------------------------------------------------


@dataclass
class Timing:
    store: str
    query: str
    median: float
    fastest: float
    rows: list[list[object]]


def time_query(
    store: str, engine: QueryEngine, name: str, text: str, now: datetime, runs: int
) -> Timing:
    limits = QueryLimits(max_rows=10_000, timeout=120.0)
    result = run_query(engine, text, limits, now=now)  # warm-up
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        result = run_query(engine, text, limits, now=now)
        seconds.append(time.perf_counter() - started)
    rows = sorted(result.rows, key=repr)
    return Timing(store, name, statistics.median(seconds), min(seconds), rows)


def explain(path: Path, now: datetime) -> None:
    from tollhouse.kql import compile_query

    conn = sqlite3.connect(path)
    for name, text in QUERIES.items():
        compiled = compile_query(text, "sqlite", now=now, max_rows=10_000)
        print(f"-- {name}\n{compiled.sql}")
        for row in conn.execute("EXPLAIN QUERY PLAN " + compiled.sql, compiled.params):
            print("  ", row[-1])
    conn.close()


def check(timings: list[Timing], expected: Expected) -> list[str]:
    """What is wrong with the results, if anything."""
    problems = []
    by_query: dict[str, list[Timing]] = {}
    for timing in timings:
        by_query.setdefault(timing.query, []).append(timing)
    for query, found in by_query.items():
        if any(_rounded(t.rows) != _rounded(found[0].rows) for t in found):
            problems.append(f"{query}: the stores disagree")
    daily = by_query["daily token summary (seed)"][0].rows
    want = [expected.requests, expected.prompt, expected.completion, expected.total]
    if daily[0][:4] != want:
        problems.append(f"daily summary {daily[0][:4]} != generated totals {want}")
    return problems


def _rounded(rows: list[list[object]]) -> list[list[object]]:
    return [[round(v, 6) if isinstance(v, float) else v for v in row] for row in rows]


# Main ---------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    end = datetime.now(UTC).replace(microsecond=0)
    data = Dataset(args.rows, args.days, end, args.seed, args.message_share)
    workdir = Path(tempfile.mkdtemp(prefix="tollhouse-bench-kql-"))
    path = workdir / "tollhouse.db"

    loaders: list[Any] = [_SqliteLoader(path)]
    if not args.no_postgres:
        loaders.append(_PostgresLoader(args.dsn))
    started = time.perf_counter()
    gateway_count = llm_count = 0
    for gateway, llm in generate(data):
        gateway_count += len(gateway)
        llm_count += len(llm)
        for loader in loaders:
            loader.load(gateway, llm)
    for loader in loaders:
        loader.finish()
    total = time.perf_counter() - started
    print(
        f"{gateway_count:,} gateway log rows and {llm_count:,} LLM log rows over "
        f"{args.days:g} days; generated and loaded in {total:.0f} s (SQLite "
        f"{loaders[0].seconds:.0f} s, {path.stat().st_size / 2**20:,.0f} MB"
        + (f"; PostgreSQL {loaders[1].seconds:.0f} s)" if len(loaders) > 1 else ")")
    )
    if args.explain:
        explain(path, end)

    engines: list[tuple[str, QueryEngine]] = [("SQLite", SqliteQueryEngine(path))]
    if not args.no_postgres:
        engines.append(("PostgreSQL", PostgresQueryEngine(loaders[1].dsn)))
    timings = [
        time_query(store, engine, name, text, end, args.runs)
        for name, text in QUERIES.items()
        for store, engine in engines
    ]
    for _, engine in engines:
        engine.close()
    _print_table(timings, [store for store, _ in engines])

    problems = check(timings, data.expected)
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    if not args.keep:
        path.unlink()
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        workdir.rmdir()
        if not args.no_postgres:
            drop_schema(args.dsn)
    else:
        print(f"kept {path}" + ("" if args.no_postgres else f" and schema {SCHEMA}"))
    return 1 if problems else 0


def _print_table(timings: list[Timing], stores: list[str]) -> None:
    header = "| query | rows | " + " | ".join(f"{s} median (min) ms" for s in stores)
    print("\n" + header + " |")
    print("|---|---:|" + "---:|" * len(stores))
    queries = dict.fromkeys(t.query for t in timings)
    for query in queries:
        cells = [t for t in timings if t.query == query]
        figures = " | ".join(
            f"{t.median * 1000:.0f} ({t.fastest * 1000:.0f})" for t in cells
        )
        print(f"| {query} | {len(cells[0].rows)} | {figures} |")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.kql", description=__doc__)
    parser.add_argument(
        "--rows",
        type=_positive,
        default=20_000,
        help="requests to generate (20,000; the benchmark: 1000000)",
    )
    parser.add_argument(
        "--days",
        type=float,
        default=7.0,
        help="days the requests spread over, ending now (7)",
    )
    parser.add_argument(
        "--runs", type=_positive, default=5, help="timed runs per query and store (5)"
    )
    parser.add_argument(
        "--message-share",
        type=float,
        default=1.0,
        help="share of successful chat calls whose messages are logged (1.0)",
    )
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--dsn", default=DEFAULT_DSN, help="PostgreSQL to use")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print SQLite's compiled SQL and query plans",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the SQLite file and the PostgreSQL schema",
    )
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


if __name__ == "__main__":
    sys.exit(main())
