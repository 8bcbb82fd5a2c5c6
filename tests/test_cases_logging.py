"""End to end: what the log tables keep, and what they must never keep.

Cases of the gateway-failures catalogue about the log itself: B21 (readable
UTF-8), B22 (a huge prompt), B23 (inline images), B41 (no key in any sink),
B47 (one row per request), B53 and B54 (embeddings).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from openai import OpenAI

from tests.support import (
    DATA,
    JSON,
    Reply,
    RunningGateway,
    ScriptedBackend,
    case_bytes,
    chat_body,
    chat_chunks,
    pick,
)
from tollhouse.config import (
    ApiConfig,
    BackendConfig,
    CredentialsConfig,
    DiagnosticsConfig,
    NamedValueConfig,
)
from tollhouse.store import connect
from tollhouse.subscriptions import KeySecrets, SubscriptionStore

Start = Callable[..., RunningGateway]

AZURE_CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
V1_CHAT = "/v1/chat/completions"
V1_EMBEDDINGS = "/v1/embeddings"


# Readable text: B21 -------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_b21_non_ascii_is_stored_as_utf8_text(
    scripted_gateway: Start, backend: ScriptedBackend, stream: bool
) -> None:
    answer = (DATA / "B21.response.json").read_bytes().strip()
    chunks = chat_chunks("반갑", "습니다") if stream else [answer]
    backend.reply(Reply(chunks) if stream else Reply(chunks, headers=JSON))
    gw = scripted_gateway()
    body = (DATA / "B21.request.json").read_bytes()
    if stream:
        body = body.replace(b'{"model"', b'{"stream":true,"model"')

    response = gw.post(V1_CHAT, body)

    assert response.content == b"".join(chunks)
    sent = backend.seen[0].body
    assert "안녕하세요, 你好 👋".encode() in sent
    assert b"\\u" not in sent
    if not stream:
        assert sent == body
    row, _ = gw.logged()
    prompt = gw.messages(row["CorrelationId"], "RequestMessages")
    assert prompt == [{"role": "user", "content": "안녕하세요, 你好 👋"}]
    assert gw.messages(row["CorrelationId"], "ResponseMessages")[0]["content"] == (
        "반갑습니다"
    )
    matches = gw.rows(
        "SELECT CorrelationId FROM ApiManagementGatewayLlmLog"
        " WHERE ResponseMessages LIKE '%반갑%'"
        " OR RequestMessages LIKE '%你好 👋%'"
    )
    assert len(matches) == 2
    raw = gw.rows(
        "SELECT CAST(RequestMessages AS BLOB) AS raw FROM ApiManagementGatewayLlmLog"
        " WHERE RequestMessages IS NOT NULL"
    )
    assert "안녕하세요, 你好 👋".encode() in raw[0]["raw"]


# Large prompts and images: B22, B23 ---------------------------------------------


def small_messages(config: ApiConfig) -> ApiConfig:
    return dataclasses.replace(
        config, diagnostics=DiagnosticsConfig(max_message_bytes=64 * 1024)
    )


def test_b22_a_huge_prompt_is_forwarded_whole_and_logged_cut(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    text = "a" * 2_000_000
    body = json.dumps(
        {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}
    ).encode()
    answer = chat_body("Hello", (500012, 5, 500017))
    backend.reply(Reply([answer], headers=JSON))
    gw = scripted_gateway(api=small_messages)

    response = gw.post(AZURE_CHAT, body)

    assert response.status_code == 200
    assert response.content == answer
    assert backend.seen[0].body == body
    row, usage = gw.logged()
    assert (row["ResponseCode"], row["RequestSize"]) == (200, len(body))
    expected = {
        "PromptTokens": 500012,
        "CompletionTokens": 5,
        "TotalTokens": 500017,
        "TokenCountSource": "backend",
        "RequestMessagesTruncated": 1,
        "ResponseMessagesTruncated": 0,
    }
    assert pick(usage, expected) == expected
    [message] = gw.messages(row["CorrelationId"], "RequestMessages")
    kept = re.fullmatch(
        r"(a+)…\[truncated by Tollhouse: kept (\d+) of 2000000 bytes,"
        r" sha256=([0-9a-f]{64})\]",
        message["content"],
    )
    assert kept is not None
    assert len(kept[1]) == int(kept[2])
    assert kept[3] == hashlib.sha256(text.encode()).hexdigest()
    stored = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    assert len(stored.encode()) <= 64 * 1024


B23_URI = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42"
    "mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
B23_PLACEHOLDER = (
    "<redacted data:image/png;base64 bytes=70"
    " sha256=c414cd0e204de974f73753c7e28d7638e7b3691bb8b1a2bab6b25bb7fed7ce77>"
)


@pytest.mark.parametrize("stream", [False, True])
def test_b23_an_inline_image_is_forwarded_and_logged_as_a_placeholder(
    scripted_gateway: Start, backend: ScriptedBackend, stream: bool
) -> None:
    chunks = chat_chunks("A red pixel.") if stream else [chat_body("A red pixel.")]
    backend.reply(Reply(chunks) if stream else Reply(chunks, headers=JSON))
    gw = scripted_gateway()
    body = (DATA / "B23.request.json").read_bytes()
    if stream:
        body = body.replace(b'{"model"', b'{"stream":true,"model"', 1)

    response = gw.post(AZURE_CHAT, body)

    assert response.status_code == 200
    sent = backend.seen[0].body
    assert B23_URI.encode() in sent
    if not stream:
        assert sent == body
    row, _ = gw.logged()
    assert gw.messages(row["CorrelationId"], "RequestMessages") == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {
                    "type": "image_url",
                    "image_url": {"url": B23_PLACEHOLDER, "detail": "low"},
                },
            ],
        }
    ]
    assert b"iVBORw0KGgo" not in data_bytes(gw)


def data_bytes(gw: RunningGateway) -> bytes:
    """Every file of the gateway's data directory (database, WAL, spool)."""
    files = sorted(Path(gw.config.data_dir).iterdir())
    return b"".join(path.read_bytes() for path in files if path.is_file())


# No key in any sink: B41 ---------------------------------------------------------

UPSTREAM_KEY = "upstream-key-0f1e2d3c4b5a69788796a5b4"
FOREIGN_KEY = "sk-test-ABCDEFGHIJKLMNOPQRSTUVWX1234"


@pytest.fixture
def team_key(tmp_path: Path) -> Iterator[str]:
    """A subscription made with the gateway's store before the gateway starts."""
    data_dir = tmp_path / "data"
    conn = connect(data_dir / "tollhouse.db")
    try:
        store = SubscriptionStore(conn, KeySecrets.load_or_create(data_dir))
        store.create("team-a", "Team A", "/apis")
        yield store.key("team-a")
    finally:
        conn.close()


CLIENT_LOGGERS = ("urllib3", "requests", "openai", "httpx", "httpcore")


def gateway_log(caplog: pytest.LogCaptureFixture) -> str:
    """What the gateway process logged; the test's own clients left out."""
    lines = [
        f"{record.name} {record.getMessage()} {record.exc_text or ''}"
        for record in caplog.records
        if not record.name.startswith(CLIENT_LOGGERS)
    ]
    return "\n".join(lines)


def keyed(config: BackendConfig) -> BackendConfig:
    credentials = CredentialsConfig(
        type="header", header="api-key", value="{{upstream-key}}"
    )
    return dataclasses.replace(config, credentials=credentials)


def key_forms(key: str) -> list[tuple[str, dict[str, str | None]]]:
    """(path, headers) for the key in a header, as a bearer, in the query."""
    return [
        (AZURE_CHAT, {"api-key": key}),
        (V1_CHAT, {"api-key": None, "Authorization": f"Bearer {key}"}),
        (AZURE_CHAT + f"&subscription-key={key}", {"api-key": None}),
    ]


def test_b41_no_key_in_any_sink(
    scripted_gateway: Start,
    backend: ScriptedBackend,
    team_key: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = json.dumps(
        {"error": {"message": f"Incorrect API key provided: {UPSTREAM_KEY}"}}
    ).encode()
    backend.reply(
        Reply([chat_body("Hello")], headers=JSON),  # success, header
        Reply(chat_chunks("Hel", "lo")),  # success, bearer
        Reply([echo], status=401, headers=JSON),  # backend error, query
        Reply([b'{"error":{"message":"boom"}}'], status=500, headers=JSON),
        Reply(chat_chunks("Hel", "lo")[:1], drop=True),  # broken stream
    )
    gw = scripted_gateway(
        backend=keyed,
        named_values={
            "upstream-key": NamedValueConfig(value=UPSTREAM_KEY, secret=True)
        },
    )
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    calls: list[tuple[str, dict[str, str | None], dict[str, Any]]] = [
        *(
            (path, headers, {**body, "stream": path == V1_CHAT})
            for path, headers in key_forms(team_key)
        ),
        (AZURE_CHAT, {"api-key": team_key}, body),
        (
            V1_CHAT,
            {"api-key": None, "Authorization": f"Bearer {team_key}"},
            {**body, "stream": True},
        ),
        ("/openai/deployments/gpt-4o/chat/completions", {"api-key": team_key}, body),
        *((path, headers, body) for path, headers in key_forms(FOREIGN_KEY)),
    ]

    responses: list[requests.Response | None] = []
    for path, headers, payload in calls:
        try:
            responses.append(gw.post(path, payload, headers=headers))
        except requests.exceptions.ChunkedEncodingError:
            responses.append(None)
    rows = gw.wait_rows(
        "SELECT * FROM ApiManagementGatewayLogs ORDER BY rowid", count=len(calls)
    )

    statuses = [r.status_code if r is not None else None for r in responses]
    assert statuses == [200, 200, 401, 500, None, 400, 401, 401, 401]
    assert [r["ApimSubscriptionId"] for r in rows][:6] == ["team-a"] * 6
    client_side = b"".join(
        r.content + repr(r.headers).encode() for r in responses if r is not None
    )
    sinks = {
        "data directory": data_bytes(gw),
        "process log": gateway_log(caplog).encode(),
        "gateway output": gw.output.getvalue().encode(),
        "client responses": client_side,
        "backend requests": repr(
            [(s.path_qs, s.headers, s.body) for s in backend.seen]
        ).encode(),
    }
    for sink, content in sinks.items():
        for secret in (team_key, "ABCDEFGHIJKLMNOPQRSTUVWX"):
            assert secret.encode() not in content, (sink, secret)
        if sink != "backend requests":
            assert UPSTREAM_KEY.encode() not in content, sink
    assert [s for s in backend.seen if UPSTREAM_KEY in dict(s.headers)["api-key"]]


# One row per request: B47 -------------------------------------------------------


def test_b47_one_gateway_row_per_request_one_usage_row_per_llm_call(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    backend.reply(
        Reply([(DATA / "B47.response.json").read_bytes()], headers=JSON),
        Reply(chat_chunks("Hel", "lo")),
        Reply([(DATA / "B31.response.json").read_bytes()], headers=JSON),
        Reply([case_bytes("B51.sse")]),
        Reply([(DATA / "B53.response.json").read_bytes()], headers=JSON),
        Reply([b'{"error":{"message":"slow down"}}'], status=429, headers=JSON),
        Reply(chat_chunks("Hel", "lo")[:1], drop=True),
    )
    gw = scripted_gateway()
    chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    calls: list[tuple[str, dict[str, Any], dict[str, str | None]]] = [
        (AZURE_CHAT, chat, {}),
        (V1_CHAT, {**chat, "stream": True}, {}),
        ("/v1/responses", {"model": "gpt-4o", "input": "Say hello"}, {}),
        ("/v1/responses", json.loads((DATA / "B51.request.json").read_bytes()), {}),
        (V1_EMBEDDINGS, json.loads((DATA / "B53.request.json").read_bytes()), {}),
        (AZURE_CHAT, chat, {}),
        (V1_CHAT, {**chat, "stream": True}, {}),
        (AZURE_CHAT, chat, {"api-key": None}),
        ("/nowhere", chat, {}),
    ]

    for path, payload, headers in calls:
        with contextlib.suppress(requests.exceptions.ChunkedEncodingError):
            gw.post(path, payload, headers=headers).close()
    rows = gw.wait_rows("SELECT * FROM ApiManagementGatewayLogs", count=len(calls))
    time.sleep(0.5)  # anything written twice would have arrived by now

    assert gw.gateway.runtime.writer.stats.submitted == len(calls)
    rows = gw.rows("SELECT * FROM ApiManagementGatewayLogs ORDER BY rowid")
    assert [r["ResponseCode"] for r in rows] == [
        200,
        200,
        200,
        200,
        200,
        429,
        200,
        401,
        404,
    ]
    ids = [r["CorrelationId"] for r in rows]
    assert len(set(ids)) == len(calls)
    usage_rows = gw.rows(
        "SELECT CorrelationId, PromptTokens, CompletionTokens"
        " FROM ApiManagementGatewayLlmLog WHERE SequenceNumber = 0 ORDER BY rowid"
    )
    assert [r["CorrelationId"] for r in usage_rows] == ids[:7]
    assert (usage_rows[0]["PromptTokens"], usage_rows[0]["CompletionTokens"]) == (
        12,
        5,
    )
    for correlation_id in ids[:7]:
        numbers = [r["SequenceNumber"] for r in gw.llm_rows(correlation_id)]
        assert numbers == list(range(len(numbers)))


# Embeddings: B53, B54 -------------------------------------------------------------


@pytest.mark.parametrize("reported", [True, False])
def test_b53_embedding_counts_not_vectors(
    scripted_gateway: Start, backend: ScriptedBackend, reported: bool
) -> None:
    answer = (DATA / "B53.response.json").read_bytes().strip()
    if not reported:
        answer = answer.replace(b',"usage":{"total_tokens":7}', b"")
    backend.reply(Reply([answer], headers=JSON))
    gw = scripted_gateway()

    response = gw.post(V1_EMBEDDINGS, (DATA / "B53.request.json").read_bytes())

    assert response.content == answer
    row, usage = gw.logged()
    expected = {
        "ModelName": "bge-m3",
        "PromptTokens": 7 if reported else 4,  # 2 + 2 in cl100k_base
        "CompletionTokens": 0,
        "TotalTokens": 7 if reported else 4,
        "TokenCountSource": "backend" if reported else "estimated",
        "EmbeddingInputCount": 2,
        "EmbeddingDimensions": 3,
        "EncodingFormat": None,
    }
    assert pick(usage, expected) == expected
    assert gw.messages(row["CorrelationId"], "ResponseMessages") is None
    assert gw.messages(row["CorrelationId"], "RequestMessages") == [
        {"role": "user", "content": "hello world"},
        {"role": "user", "content": "second text"},
    ]
    stored = data_bytes(gw)
    assert b"0.1,0.2,0.3" not in stored and b"0.4,0.5,0.6" not in stored


FLOAT_ANSWER = (
    b'{"object":"list","model":"text-embedding-3-small","data":[{"object":'
    b'"embedding","index":0,"embedding":[0.0,1.0]}],'
    b'"usage":{"prompt_tokens":1,"total_tokens":1}}'
)


@pytest.mark.parametrize(
    ("body", "answer", "encoding"),
    [
        (
            (DATA / "B54.request.json").read_bytes().strip(),
            (DATA / "B54.response.json").read_bytes().strip(),
            "base64",
        ),
        (b'{"model":"text-embedding-3-small","input":"hello"}', FLOAT_ANSWER, None),
    ],
    ids=["base64", "absent"],
)
def test_b54_encoding_format_is_forwarded_as_sent(
    scripted_gateway: Start,
    backend: ScriptedBackend,
    body: bytes,
    answer: bytes,
    encoding: str | None,
) -> None:
    backend.reply(Reply([answer], headers=JSON))
    gw = scripted_gateway()

    response = gw.post(V1_EMBEDDINGS, body)

    assert backend.seen[0].body == body
    assert response.content == answer
    _, usage = gw.logged()
    expected = {
        "PromptTokens": 1,
        "TotalTokens": 1,
        "EncodingFormat": encoding,
        "EmbeddingDimensions": 2,
    }
    assert pick(usage, expected) == expected
    assert b"AAAAAAAAgD8=" not in data_bytes(gw)


@pytest.mark.parametrize(("asked", "sent"), [(None, "base64"), ("float", "float")])
def test_b54_the_sdks_encoding_format_reaches_the_backend(
    scripted_gateway: Start, backend: ScriptedBackend, asked: str | None, sent: str
) -> None:
    answer = (DATA / "B54.response.json").read_bytes().strip()
    backend.reply(Reply([answer if sent == "base64" else FLOAT_ANSWER], headers=JSON))
    gw = scripted_gateway()
    client = OpenAI(base_url=gw.url + "/v1", api_key=gw.key, max_retries=0)

    if asked is None:
        result = client.embeddings.create(model="text-embedding-3-small", input="hello")
    else:
        result = client.embeddings.create(
            model="text-embedding-3-small", input="hello", encoding_format="float"
        )

    assert json.loads(backend.seen[0].body)["encoding_format"] == sent
    assert list(result.data[0].embedding) == [0.0, 1.0]
    _, usage = gw.logged()
    assert (usage["EncodingFormat"], usage["EmbeddingDimensions"]) == (sent, 2)
