"""End to end: clients that go away and backends that go quiet.

Cases of the gateway-failures catalogue: B36 (a client that hangs up
mid-stream still leaves its log rows; one that hangs up after ``[DONE]`` is
no disconnect) and B38 (keep-alive comments while the backend is silent,
and the idle and total timeouts that end a started stream).
"""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Callable

import pytest
import requests
from openai import OpenAI

from tests.support import (
    Reply,
    RunningGateway,
    ScriptedBackend,
    case_bytes,
    chat_body,
    chat_chunks,
    per_event,
    pick,
)
from tollhouse.config import BackendConfig, TimeoutsConfig

Start = Callable[..., RunningGateway]

AZURE_CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
V1_CHAT = "/v1/chat/completions"
JSON = (("Content-Type", "application/json"),)
KEEPALIVE = b": keep-alive\n\n"


# A client that goes away: B36 ----------------------------------------------------


def with_timeouts(**timeouts: float) -> Callable[[BackendConfig], BackendConfig]:
    return lambda config: dataclasses.replace(
        config, timeouts=TimeoutsConfig(**timeouts)
    )


def read_events_then_close(gw: RunningGateway, body: bytes, events: int) -> bytes:
    """Send a streamed request on a raw socket, read ``events`` events, hang up."""
    head = (
        f"POST {V1_CHAT} HTTP/1.1\r\nHost: 127.0.0.1\r\napi-key: {gw.key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    received = b""
    with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as sock:
        sock.sendall(head + body)
        while received.count(b"\n\n") < events:
            data = sock.recv(65536)
            assert data, "the gateway closed the connection first"
            received += data
        sock.shutdown(socket.SHUT_RDWR)
    return received


def test_b36_a_client_that_hangs_up_still_leaves_its_row(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    events = case_bytes("B36.sse").split(b"\n\n")[:3]
    chunks = [event + b"\n\n" for event in events]
    backend.reply(
        Reply([*chunks, *chat_chunks(" at", " dawn.")], delays=(0.02, 0.02, 1.0)),
        Reply([chat_body("Hello")], headers=JSON),
    )
    gw = scripted_gateway(backend=with_timeouts(keepalive=0.05))
    body = json.dumps(
        {
            "model": "gpt-4o-mini",
            "stream": True,
            "messages": [
                {
                    "role": "user",
                    "content": "Write a 3000 word story about a lighthouse.",
                }
            ],
        }
    ).encode()

    received = read_events_then_close(gw, body, 3)
    row, usage = gw.logged()
    after = gw.post(AZURE_CHAT, {"messages": []})

    assert all(chunk in received for chunk in chunks)
    expected_row = {
        "ResponseCode": 499,
        "ClientDisconnected": 1,
        "ErrorKind": "client_disconnected",
        "LastErrorReason": "ClientConnectionFailure",
    }
    assert pick(row, expected_row) == expected_row
    expected = {
        "ClientDisconnected": 1,
        "FinishReason": None,
        "TokenCountSource": "estimated",
        "PromptTokens": 17,  # 3 + 11 for the message, 3 for the reply
        "CompletionTokens": 3,  # "The keeper woke"
        "TotalTokens": 20,
    }
    assert pick(usage, expected) == expected
    completion = gw.messages(row["CorrelationId"], "ResponseMessages")
    assert completion[0]["content"] == "The keeper woke"
    assert after.status_code == 200


def test_b36_a_client_that_hangs_up_after_done_had_it_all(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    # The openai package closes the connection once it has read [DONE]; this
    # backend ends its body only later.
    events = per_event(case_bytes("B01.sse"))
    backend.reply(Reply(events, delays=[0.0] * (len(events) - 1) + [0.5]))
    gw = scripted_gateway()
    client = OpenAI(base_url=gw.url + "/v1", api_key=gw.key, max_retries=0)

    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "Say hello"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    assert chunks[-1].usage is not None
    row, usage = gw.logged()
    expected = {"ResponseCode": 200, "ClientDisconnected": 0, "ErrorKind": None}
    assert pick(row, expected) == expected
    assert (usage["TotalTokens"], usage["ClientDisconnected"]) == (17, 0)


# Quiet streams: B38 -----------------------------------------------------------------


def test_b38_keep_alive_comments_while_the_backend_is_silent(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    chunks = [b"", *chat_chunks("", "Hello", model="o3")]
    backend.reply(Reply(chunks, delays=(0.6, 0.6, 0.0)))
    gw = scripted_gateway(backend=with_timeouts(keepalive=0.2, idle=5.0))

    response = gw.post(
        V1_CHAT,
        {"model": "o3", "stream": True, "stream_options": {"include_usage": True}},
    )

    events = per_event(response.content)
    assert events.count(KEEPALIVE) >= 2
    assert [e for e in events if e != KEEPALIVE] == per_event(b"".join(chunks))
    row, usage = gw.logged()
    assert (row["ResponseCode"], row["ErrorKind"]) == (200, None)
    assert row["TimeToFirstByte"] >= 600
    completion = gw.messages(row["CorrelationId"], "ResponseMessages")
    assert completion[0]["content"] == "Hello"
    assert "keep-alive" not in json.dumps(completion)
    assert usage["FinishReason"] == "stop"


def test_b38_the_idle_timeout_ends_a_started_stream(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    chunks = chat_chunks("Hel", "lo")
    backend.reply(Reply(chunks, delays=(1.0,)))
    gw = scripted_gateway(backend=with_timeouts(keepalive=0.1, idle=0.4))

    response = gw.post(V1_CHAT, {"model": "gpt-4o", "stream": True}, stream=True)
    received = bytearray()
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for piece in response.iter_content(None):
            received += piece

    assert response.status_code == 200
    events = per_event(bytes(received))
    assert [e for e in events if e != KEEPALIVE] == [chunks[0]]
    row, usage = gw.logged()
    expected = {
        "ResponseCode": 200,
        "ErrorKind": "upstream_idle_timeout",
        "LastErrorReason": "Timeout",
        "IsRequestSuccess": 0,
    }
    assert pick(row, expected) == expected
    completion = gw.messages(row["CorrelationId"], "ResponseMessages")
    assert completion[0]["content"] == "Hel"
    assert usage["TokenCountSource"] == "estimated"


def test_b38_the_total_timeout_is_its_own(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    chunks = chat_chunks(*"abcdefgh")
    backend.reply(Reply(chunks, delay=0.15))
    gw = scripted_gateway(backend=with_timeouts(keepalive=0.1, idle=5.0, total=0.5))

    response = gw.post(V1_CHAT, {"model": "gpt-4o", "stream": True}, stream=True)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for _ in response.iter_content(None):
            pass

    row, _ = gw.logged()
    expected = {"ErrorKind": "upstream_total_timeout", "LastErrorReason": "Timeout"}
    assert pick(row, expected) == expected
    text = gw.messages(row["CorrelationId"], "ResponseMessages")[0]["content"]
    assert "abcdefgh".startswith(text) and text != "abcdefgh"
