"""The log rows the KQL cases run on, written the way the sinks write them.

Rows are dicts keyed by column name, as `tollhouse.store.writer.LogRecord`
carries them: timestamps are TEXT (``utc_timestamp``'s format), dynamic
columns are JSON text, bools are 0/1, a missing key is NULL.  `NOW` is the
instant every case passes to ``run_query`` as ``now``.

The rows are chosen for their edges:

- times exactly at ``ago(1d)`` (c05), one microsecond before it (c06),
  exactly at ``ago(1h)`` (c19), one microsecond before (c18) and after (c20),
  the last microsecond of February (c03 a day earlier, c22) and the first of
  March (c23), and one exactly at `NOW` (c28);
- a row that is NULL in every nullable column (c29) and one with empty
  strings, zeros and ``{}`` (c30);
- string columns holding numbers that are not numbers: ``ApiVersion`` is
  ``"12"``, ``"42"``, ``""``, ``"abc"`` or a date, ``BackendId`` ``"42"``,
  ``"007"`` or ``""``, ``UserId`` ``"12"``, ``"1"``, ``"abc"``;
- Korean, emoji and accented Latin in messages, headers and user ids;
- nested ``RequestHeaders``, message pieces with SequenceNumber 1.. (c13's
  prompt is cut in the middle of a JSON value, so its pieces are not JSON),
  an LLM row whose gateway row is absent (c99) and gateway rows without LLM
  rows (refused before the backend).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

NOW = datetime(2026, 3, 1, 0, 30, tzinfo=UTC)
"""``now()`` of every case: a Sunday, half an hour into March 2026."""

Row = dict[str, Any]

_HEADERS = {"Content-Type": "application/json", "User-Agent": "openai-python/1.54.0"}
_ENDPOINT = "https://gw.example/openai"


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _url(operation: str | None, deployment: str | None, version: str) -> str:
    path = {
        "ChatCompletions_Create": f"deployments/{deployment}/chat/completions",
        "Completions_Create": f"deployments/{deployment}/completions",
        "Embeddings_Create": f"deployments/{deployment}/embeddings",
        "Models_List": "models",
    }[operation or ""]
    return f"{_ENDPOINT}/{path}?api-version={version}"


def _request(
    cid: str,
    time: str,
    code: int,
    *,
    sub: str | None,
    product: str | None,
    deployment: str | None,
    operation: str = "ChatCompletions_Create",
    version: str = "2024-10-21",
    backend: str | None = None,
    size: int,
    request_size: int,
    total_time: float,
    caller: str,
    headers: object = _HEADERS,
    **columns: Any,
) -> Row:
    """A gateway log row; ``columns`` adds or overrides any column."""
    row: Row = {
        "TimeGenerated": time,
        "CorrelationId": cid,
        "Method": "POST",
        "Url": _url(operation, deployment, version),
        "CallerIpAddress": caller,
        "ResponseCode": code,
        "ResponseSize": size,
        "RequestSize": request_size,
        "RequestHeaders": _json(headers),
        "ResponseHeaders": _json({"Content-Type": "application/json"}),
        "OperationName": operation,
        "ApiId": "azure-openai",
        "OperationId": operation,
        "ProductId": product,
        "ApimSubscriptionId": sub,
        "BackendId": backend,
        "TotalTime": total_time,
        "IsRequestSuccess": int(200 <= code < 400),
        "Region": "Korea Central",
        "ApiVersion": version,
        "DeploymentName": deployment,
        "ClientProtocol": "HTTP/1.1",
        "ClientDisconnected": 0,
    }
    if backend is not None:
        row.update(BackendResponseCode=code, BackendMethod="POST")
    row.update(columns)
    return row


def _blocked(cid: str, time: str, caller: str, **columns: Any) -> Row:
    """A request the IP filter refused with 403."""
    return _request(
        cid,
        time,
        403,
        sub=None,
        product=None,
        deployment="gpt-4o",
        size=92,
        request_size=180,
        total_time=1.0,
        caller=caller,
        LastErrorSource="ip-filter",
        LastErrorReason="CallerIpNotAllowed",
        LastErrorSection="inbound",
        **columns,
    )


# fmt: off
GATEWAY_ROWS: list[Row] = [
    _request("c01", "2026-02-27T09:15:00.000000Z", 200, sub="sub-alpha",
             product="starter", deployment="gpt-4o", backend="openai-east",
             size=1200, request_size=300, total_time=850.5, caller="10.0.0.1",
             BackendTime=800.25, TimeToFirstByte=120.0, UserId="1"),
    _request("c02", "2026-02-27T10:00:00.000000Z", 200, sub="sub-beta",
             product="unlimited", deployment="gpt-4o-mini", backend="openai-west",
             size=640, request_size=210, total_time=410.25, caller="10.0.0.2",
             UserId="12"),
    _request("c03", "2026-02-27T23:59:59.999999Z", 200, sub="sub-alpha",
             product="starter", deployment=None, operation="Models_List",
             backend="openai-east", size=5000, request_size=0, total_time=35.0,
             caller="10.0.0.1", Method="GET", BackendMethod="GET"),
    _request("c04", "2026-02-28T00:00:00.000000Z", 200, sub="sub-gamma",
             product="unlimited", deployment="text-embedding-3-small",
             operation="Embeddings_Create", backend="openai-east", size=8000,
             request_size=120, total_time=95.5, caller="10.0.0.3", UserId="abc"),
    _request("c05", "2026-02-28T00:30:00.000000Z", 200, sub="sub-alpha",
             product="starter", deployment="gpt-4o", backend="openai-east",
             size=900, request_size=250, total_time=700.0, caller="10.0.0.1"),
    _request("c06", "2026-02-28T00:29:59.999999Z", 200, sub="sub-beta",
             product="unlimited", deployment="gpt-4o", backend="openai-west",
             size=1000, request_size=260, total_time=650.0, caller="10.0.0.2"),
    _blocked("c07", "2026-02-28T08:00:00.000000Z", "203.0.113.7",
             RequestHeaders=_json({"User-Agent": "curl/8.5.0",
                                   "X-Forwarded-For": "203.0.113.7"})),
    _blocked("c08", "2026-02-28T08:00:00.000001Z", "198.51.100.23",
             TotalTime=1.25, LastErrorMessage="접근이 거부되었습니다 🚫",
             RequestHeaders=_json({"User-Agent": "한국어-클라이언트/1.0"})),
    _request("c09", "2026-02-28T09:30:00.000000Z", 429, sub="sub-beta",
             product="unlimited", deployment="gpt-4o-mini", version="12",
             size=150, request_size=200, total_time=2.0, caller="10.0.0.2",
             LastErrorSource="rate-limit-by-key", LastErrorReason="RateLimitExceeded"),
    _request("c10", "2026-02-28T12:00:00.000000Z", 500, sub="sub-alpha",
             product="starter", deployment="gpt-4o", version="42", backend="42",
             size=300, request_size=240, total_time=1500.75, caller="10.0.0.1",
             BackendTime=1490.0, LastErrorSource="forward-request",
             LastErrorReason="BackendError",
             Errors=_json([{"Source": "forward-request", "Reason": "BackendError",
                            "Message": "internal error"}])),
    _request("c11", "2026-02-28T12:34:56.789012Z", 200, sub="sub-gamma",
             product="unlimited", deployment="gpt-4o", backend="openai-east",
             size=2048, request_size=512, total_time=1234.5, caller="10.0.0.3",
             UserId="사용자7", TimeToFirstByte=300.5),
    _request("c12", "2026-02-28T13:00:00.000000Z", 401, sub=None, product=None,
             deployment="gpt-4o", version="", size=110, request_size=150,
             total_time=0.75, caller="203.0.113.7",
             LastErrorReason="SubscriptionKeyNotFound"),
    _request("c13", "2026-02-28T15:45:00.000000Z", 200, sub="sub-beta",
             product="unlimited", deployment="gpt-4o-mini",
             version="2025-01-01-preview", backend="openai-west", size=4096,
             request_size=300, total_time=2200.0, caller="10.0.0.2",
             headers={"Accept": "text/event-stream", **_HEADERS},
             TimeToFirstByte=180.0),
    _request("c14", "2026-02-28T18:00:00.000000Z", 200, sub="sub-alpha",
             product="starter", deployment="text-embedding-3-small",
             operation="Embeddings_Create", backend="openai-east", size=16000,
             request_size=400, total_time=88.0, caller="10.0.0.1"),
    _request("c15", "2026-02-28T20:15:30.500000Z", 429, sub="sub-alpha",
             product="starter", deployment="gpt-4o", size=140, request_size=220,
             total_time=1.0, caller="10.0.0.1",
             LastErrorReason="TokenLimitExceeded"),
    _request("c16", "2026-02-28T22:00:00.000000Z", 200, sub="sub-beta",
             product="unlimited", deployment="gpt-4o", backend="openai-west",
             size=1500, request_size=400, total_time=990.0, caller="10.0.0.2",
             UserId="josé"),
    _request("c17", "2026-02-28T23:00:00.000000Z", 404, sub=None, product=None,
             deployment=None, operation="Models_List", version="abc", size=70,
             request_size=0, total_time=0.5, caller="192.0.2.10", Method="GET",
             Url="https://gw.example/nowhere?q=1", OperationName=None, ApiId=None,
             OperationId=None, UserId="o'brien\"; --",
             LastErrorReason="OperationNotFound"),
    _request("c18", "2026-02-28T23:29:59.999999Z", 200, sub="sub-alpha",
             product="starter", deployment="gpt-4o-mini", backend="007", size=800,
             request_size=200, total_time=500.0, caller="10.0.0.1"),
    _blocked("c19", "2026-02-28T23:30:00.000000Z", "203.0.113.7",
             RequestHeaders=_json({"User-Agent": "curl/8.5.0",
                                   "X-Trace": {"hops": [1, 2, 3],
                                               "origin": {"country": "KR"}}})),
    _blocked("c20", "2026-02-28T23:30:00.000001Z", "198.51.100.23",
             RequestHeaders=_json({"User-Agent": "Mozilla/5.0",
                                   "X-Trace": {"hops": [4],
                                               "origin": {"country": "FR"}}})),
    _request("c21", "2026-02-28T23:45:00.000000Z", 200, sub="sub-gamma",
             product="unlimited", deployment="gpt-4o-mini", backend="openai-east",
             size=700, request_size=180, total_time=450.0, caller="10.0.0.3"),
    _request("c22", "2026-02-28T23:59:59.999999Z", 500, sub="sub-beta",
             product="unlimited", deployment="gpt-4o", backend="openai-west",
             size=310, request_size=230, total_time=30000.0, caller="10.0.0.2",
             BackendResponseCode=503, ClientDisconnected=1,
             LastErrorReason="BackendConnectionFailure"),
    _request("c23", "2026-03-01T00:00:00.000000Z", 200, sub="sub-alpha",
             product="starter", deployment="gpt-4o", backend="openai-east",
             size=1100, request_size=260, total_time=720.0, caller="10.0.0.1"),
    _blocked("c24", "2026-03-01T00:10:00.000000Z", "2001:db8::1"),
    _request("c25", "2026-03-01T00:15:00.000000Z", 200, sub="sub-beta",
             product="unlimited", deployment="gpt-4o", backend="openai-west",
             size=1300, request_size=300, total_time=810.0, caller="10.0.0.2"),
    _request("c26", "2026-03-01T00:20:00.000000Z", 200, sub="sub-gamma",
             product="unlimited", deployment="text-embedding-3-small",
             operation="Embeddings_Create", backend="openai-east", size=8000,
             request_size=100, total_time=70.0, caller="10.0.0.3"),
    _request("c27", "2026-03-01T00:29:59.999999Z", 429, sub="sub-alpha",
             product="starter", deployment="gpt-4o", backend="openai-east",
             size=200, request_size=240, total_time=300.0, caller="10.0.0.1",
             LastErrorReason="BackendError"),
    _request("c28", "2026-03-01T00:30:00.000000Z", 200, sub="sub-beta",
             product="unlimited", deployment=None, operation="Models_List",
             backend="openai-west", size=5000, request_size=0, total_time=40.0,
             caller="10.0.0.2", Method="GET", BackendMethod="GET"),
    {"TimeGenerated": "2026-02-26T06:00:00.000000Z", "CorrelationId": "c29"},
    _request("c30", "2026-02-27T12:00:00.000000Z", 200, sub="sub-gamma",
             product="", deployment="gpt-4o", backend="", size=0, request_size=0,
             total_time=0.0, caller="", headers={}, UserId="", Region=""),
    _request("c31", "2026-02-27T18:30:00.000000Z", 200, sub="sub-alpha",
             product="starter", deployment="gpt-35-turbo-instruct",
             operation="Completions_Create", backend="openai-east", size=500,
             request_size=100, total_time=300.0, caller="10.0.0.1"),
    _request("c32", "2026-02-28T06:00:00.000000Z", 200, sub="Sub-Delta",
             product="starter", deployment="gpt-4o", backend="openai-east",
             size=450, request_size=150, total_time=380.0, caller="10.0.0.4",
             Region="West Europe"),
]
# fmt: on
"""32 gateway log rows, c01..c32 (c29 is NULL but for its time and id)."""

_MODELS = {
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "text-embedding-3-small": "text-embedding-3-small",
    "gpt-35-turbo-instruct": "gpt-35-turbo-instruct-0914",
}
_BY_ID = {row["CorrelationId"]: row for row in GATEWAY_ROWS}


def _common(cid: str) -> Row:
    """The columns an LLM row copies from its request's gateway row."""
    gateway = _BY_ID[cid]
    return {
        "TimeGenerated": gateway["TimeGenerated"],
        "CorrelationId": cid,
        "DeploymentName": gateway["DeploymentName"],
        "ModelName": _MODELS[gateway["DeploymentName"]],
        "ApiVersion": gateway["ApiVersion"],
        "OperationName": gateway["OperationName"],
        "RequestId": f"req-{cid}",
        "IsStreamCompletion": 0,
        "Region": gateway["Region"],
        "ApiId": gateway["ApiId"],
        "OperationId": gateway["OperationId"],
        "ApimSubscriptionId": gateway["ApimSubscriptionId"],
        "BackendId": gateway["BackendId"],
    }


def _usage(
    cid: str,
    prompt: int | None,
    completion: int | None,
    total: int | None,
    **columns: Any,
) -> Row:
    """The usage row (SequenceNumber 0) of request ``cid``."""
    row = _common(cid)
    row.update(
        SequenceNumber=0,
        PromptTokens=prompt,
        CompletionTokens=completion,
        TotalTokens=total,
        TokenCountSource="backend" if total is not None else "none",
        FinishReason="stop" if total is not None else None,
        ClientDisconnected=0,
        RequestMessagesTruncated=0,
        ResponseMessagesTruncated=0,
    )
    row.update(columns)
    return row


def _piece(cid: str, sequence: int, column: str, text: str) -> Row:
    """A message piece: ``text`` in ``column`` at ``sequence`` (1..)."""
    row = _common(cid)
    row.update(SequenceNumber=sequence, **{column: text})
    return row


# fmt: off
LLM_ROWS: list[Row] = [
    _usage("c01", 100, 50, 150),
    _usage("c02", 80, 40, 120),
    _piece("c02", 1, "RequestMessages",
           _json([{"role": "user", "content": "Bonjour, ça va ?"}])),
    _piece("c02", 2, "ResponseMessages",
           _json([{"role": "assistant", "content": "Très bien, merci."}])),
    _usage("c04", 12, 0, 12, EmbeddingInputCount=2, EmbeddingDimensions=1536,
           FinishReason=None),
    _usage("c05", 200, 100, 300),
    _usage("c06", 1000, 1000, 2000),
    _usage("c10", None, None, None, ErrorKind="upstream_error"),
    _usage("c11", 300, 200, 500, ReasoningTokens=64, CachedTokens=128),
    _piece("c11", 1, "RequestMessages",
           _json([{"role": "system", "content": "You are helpful."},
                  {"role": "user", "content": "한국어로 대답해 주세요"}])),
    _piece("c11", 2, "ResponseMessages",
           _json([{"role": "assistant", "content": "네, 알겠습니다 😊"}])),
    _usage("c13", 150, 350, 500, IsStreamCompletion=1,
           TokenCountSource="estimated"),
    _piece("c13", 1, "RequestMessages",
           '[{"role":"user","content":"Write a long story about'),
    _piece("c13", 2, "RequestMessages", ' a lighthouse"}]'),
    _piece("c13", 3, "ResponseMessages",
           _json([{"role": "assistant", "content": "Once upon a time"}])),
    _usage("c14", 40, 0, 40, EmbeddingInputCount=4, EmbeddingDimensions=1536,
           FinishReason=None),
    _usage("c16", 120, 80, 200),
    _piece("c16", 1, "RequestMessages",
           _json([{"role": "user", "content": "Café crème 🎉"}])),
    _usage("c18", 50, 25, 75),
    _usage("c21", 60, 40, 100),
    _usage("c22", None, None, None, ErrorKind="upstream_error",
           ClientDisconnected=1),
    _usage("c23", 220, 110, 330),
    _usage("c25", 400, 100, 500),
    _piece("c25", 1, "RequestMessages",
           _json([{"role": "user", "content": "İstanbul'da hava nasıl? Straße"}])),
    _usage("c26", 8, 0, 8, EmbeddingInputCount=1, EmbeddingDimensions=1536,
           FinishReason=None),
    _usage("c27", None, None, None, ErrorKind="upstream_error"),
    _usage("c30", 0, 0, 0),
    _usage("c31", 30, 20, 50),
    _usage("c32", 10, 5, 15),
]
# fmt: on
"""The LLM log rows: a usage row for each request that reached an LLM
backend, message pieces for some, and the orphan c99 (added below)."""

LLM_ROWS.append(
    {
        "TimeGenerated": "2026-02-28T10:00:00.000000Z",
        "CorrelationId": "c99",
        "SequenceNumber": 0,
        "DeploymentName": "gpt-4o",
        "ModelName": "gpt-4o-2024-08-06",
        "ApiVersion": "2024-10-21",
        "OperationName": "ChatCompletions_Create",
        "ApimSubscriptionId": "sub-gamma",
        "PromptTokens": 5,
        "CompletionTokens": 5,
        "TotalTokens": 10,
        "TokenCountSource": "backend",
    }
)
