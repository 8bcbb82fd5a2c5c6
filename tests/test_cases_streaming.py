"""End to end: streamed usage, SSE framing and the end of a stream.

Each test drives a real gateway on loopback with a real client against a
`ScriptedBackend` that replays the case's bytes, cut where the case cuts
them, then checks what the client got and what the log tables hold.
Cases of the gateway-failures catalogue: B01-B04 and B10 (usage in
streams), B07 and B08 (framing), B11 and B12 (the end of a stream), and a
backend that breaks off mid-stream.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from openai import AzureOpenAI, OpenAI
from openai.types.chat import ChatCompletionMessageParam

from tests.support import (
    AZURE_CHAT,
    DATA,
    V1_CHAT,
    V1_COMPLETIONS,
    V1_RESPONSES,
    Reply,
    RunningGateway,
    ScriptedBackend,
    case_bytes,
    case_chunks,
    completion,
    per_event,
    pick,
    without_event,
)
from tollhouse.config import ApiConfig, BackendConfig, DeploymentConfig

Start = Callable[..., RunningGateway]

SAY_HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello"}]


def openai_backend(config: BackendConfig) -> BackendConfig:
    return BackendConfig(url=config.url[: -len("/openai")] + "/v1", kind="openai")


def backend_json(backend: ScriptedBackend, index: int = -1) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(backend.seen[index].body)
    return body


# Streaming usage: B01-B04, B10 ---------------------------------------------


def test_b01_azure_usage_chunk_reaches_the_client_and_the_log(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    stream = case_bytes("B01.sse")
    backend.reply(Reply(per_event(stream)), Reply(per_event(stream)))
    gw = scripted_gateway()

    response = gw.post(AZURE_CHAT, (DATA / "B01.request.json").read_bytes())
    sdk = AzureOpenAI(
        azure_endpoint=gw.url, api_key=gw.key, api_version="2024-10-21", max_retries=0
    )
    chunks = list(
        sdk.chat.completions.create(
            model="gpt-4o",
            messages=SAY_HELLO,
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    assert response.content == stream
    assert len(chunks) == 5
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.total_tokens) == (12, 17)
    row, usage = gw.logged()
    assert (row["ResponseCode"], row["ErrorKind"]) == (200, None)
    expected = {
        "PromptTokens": 12,
        "CompletionTokens": 5,
        "TotalTokens": 17,
        "TokenCountSource": "backend",
        "FinishReason": "stop",
        "RequestId": "chatcmpl-A1",
        "ModelName": "gpt-4o-2024-08-06",
        "IsStreamCompletion": 1,
        "ErrorKind": None,
    }
    assert pick(usage, expected) == expected
    assert completion(gw, row) == [
        {"role": "assistant", "content": "Hello", "finish_reason": "stop", "index": 0}
    ]


B02_USAGE = (
    b'data: {"id":"cmpl-1","object":"text_completion","created":1,'
    b'"model":"llama-3-8b","choices":[],"usage":{"prompt_tokens":12,'
    b'"completion_tokens":5,"total_tokens":17}}\n\n'
)
B02_BODY = b'{"model":"llama-3-8b","prompt":"Say hello","max_tokens":8,"stream":true}'
B02_SENT = (
    b'{"model":"llama-3-8b","prompt":"Say hello","max_tokens":8,"stream":true,'
    b'"stream_options":{"include_usage":true}}'
)


def with_usage_frame(stream: bytes, frame: bytes) -> bytes:
    done = b"data: [DONE]\n\n"
    assert stream.endswith(done)
    return stream[: -len(done)] + frame + done


def with_messages(body: bytes) -> bytes:
    return body.replace(b'"prompt":"Say hello"', b'"messages":[]')


def mapped_deployment(config: ApiConfig) -> ApiConfig:
    deployments = {"vllm-small": DeploymentConfig(model="llama-3-8b")}
    return dataclasses.replace(config, deployments=deployments)


@pytest.mark.parametrize(
    ("path", "body", "backend_path", "sent"),
    [
        (V1_COMPLETIONS, B02_BODY, "/v1/completions", B02_SENT),
        (
            V1_CHAT,
            with_messages(B02_BODY),
            "/v1/chat/completions",
            with_messages(B02_SENT),
        ),
        # Two rewrites of one body: the deployment's model, then the flag.
        (
            "/openai/deployments/vllm-small/completions?api-version=2024-10-21",
            b'{"prompt":"Say hello","max_tokens":8,"stream":true}',
            "/v1/completions",
            b'{"prompt":"Say hello","max_tokens":8,"stream":true,'
            b'"model":"llama-3-8b","stream_options":{"include_usage":true}}',
        ),
    ],
    ids=["completions", "chat", "deployment"],
)
def test_b02_include_usage_reaches_an_openai_backend(
    scripted_gateway: Start,
    backend: ScriptedBackend,
    path: str,
    body: bytes,
    backend_path: str,
    sent: bytes,
) -> None:
    stream = case_bytes("B02.sse")
    backend.reply(Reply(per_event(with_usage_frame(stream, B02_USAGE))))
    api = mapped_deployment if "vllm-small" in path else None
    gw = scripted_gateway(backend=openai_backend, api=api)

    response = gw.post(path, body)

    assert response.status_code == 200
    assert backend.seen[0].path_qs == backend_path
    assert backend.seen[0].body == sent
    # The client did not ask for usage: it gets the stream it would have got.
    assert response.content == stream
    _, usage = gw.logged()
    expected = {
        "PromptTokens": 12,
        "CompletionTokens": 5,
        "TotalTokens": 17,
        "TokenCountSource": "backend",
    }
    assert pick(usage, expected) == expected


@pytest.mark.parametrize(
    ("path", "options", "merged"),
    [
        (
            "/openai/deployments/llama/completions?api-version=2024-10-21",
            None,
            {"include_usage": True},
        ),
        (AZURE_CHAT, {"include_obfuscation": False}, None),
        (V1_COMPLETIONS, {"include_obfuscation": False}, None),
    ],
)
def test_b02_include_usage_merges_into_the_azure_body(
    scripted_gateway: Start,
    backend: ScriptedBackend,
    path: str,
    options: dict[str, Any] | None,
    merged: dict[str, Any] | None,
) -> None:
    backend.reply(Reply(per_event(with_usage_frame(case_bytes("B02.sse"), B02_USAGE))))
    gw = scripted_gateway()
    body: dict[str, Any] = json.loads(B02_BODY)
    if options is not None:
        body["stream_options"] = options

    response = gw.post(path, body)

    assert response.status_code == 200
    sent = backend_json(backend)
    assert sent == {
        **body,
        "stream_options": merged
        or {"include_obfuscation": False, "include_usage": True},
    }
    assert response.content == case_bytes("B02.sse")
    _, usage = gw.logged()
    assert (usage["PromptTokens"], usage["TokenCountSource"]) == (12, "backend")


def test_b02_a_backend_without_usage_is_estimated_never_zero(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    stream = case_bytes("B02.sse")
    backend.reply(Reply(per_event(stream)))
    gw = scripted_gateway(backend=openai_backend)

    response = gw.post(V1_COMPLETIONS, B02_BODY)

    assert response.content == stream
    _, usage = gw.logged()
    expected = {
        "PromptTokens": 2,  # "Say hello" in cl100k_base
        "CompletionTokens": 1,  # "Hello"
        "TotalTokens": 3,
        "TokenCountSource": "estimated",
    }
    assert pick(usage, expected) == expected


def b03_spaced(stream: bytes) -> bytes:
    """B03 as a server using Python's default JSON separators writes it."""
    out = []
    for event in per_event(stream):
        data = event[len(b"data: ") : -2]
        if data == b"[DONE]":
            out.append(event)
        else:
            out.append(b"data: " + json.dumps(json.loads(data)).encode() + b"\n\n")
    return b"".join(out)


B03_CLIENT = (
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,'
    b'"model":"o3-mini","choices":[{"index":0,"delta":{"role":"assistant",'
    b'"content":"4"},"finish_reason":null}]}\n\n'
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,'
    b'"model":"o3-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}'
    b"\n\n"
    b"data: [DONE]\n\n"
)


@pytest.mark.parametrize(
    ("options", "spaced", "expected"),
    [
        (None, False, B03_CLIENT),
        ({"include_usage": False}, False, B03_CLIENT),
        ({"include_usage": True}, False, case_bytes("B03.sse")),
        (None, True, b03_spaced(B03_CLIENT)),
    ],
    ids=["not-asked", "false", "true", "spaced-json"],
)
def test_b03_injected_usage_stays_with_the_gateway(
    scripted_gateway: Start,
    backend: ScriptedBackend,
    options: dict[str, Any] | None,
    spaced: bool,
    expected: bytes,
) -> None:
    stream = case_bytes("B03.sse")
    backend.reply(Reply(per_event(b03_spaced(stream) if spaced else stream)))
    gw = scripted_gateway()
    body: dict[str, Any] = {
        "model": "o3-mini",
        "messages": [{"role": "user", "content": "2+2?"}],
        "stream": True,
    }
    if options is not None:
        body["stream_options"] = options

    response = gw.post(V1_CHAT, body)

    assert backend_json(backend)["stream_options"]["include_usage"] is True
    assert response.content == expected
    _, usage = gw.logged()
    counts = {
        "PromptTokens": 12,
        "CompletionTokens": 205,
        "TotalTokens": 217,
        "ReasoningTokens": 192,
        "TokenCountSource": "backend",
    }
    assert pick(usage, counts) == counts


def test_b03_sdk_that_did_not_ask_sees_no_usage(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    backend.reply(Reply(per_event(case_bytes("B03.sse"))))
    gw = scripted_gateway()
    client = OpenAI(base_url=gw.url + "/v1", api_key=gw.key, max_retries=0)

    chunks = list(
        client.chat.completions.create(
            model="o3-mini",
            messages=[{"role": "user", "content": "2+2?"}],
            stream=True,
        )
    )

    assert [chunk.usage for chunk in chunks] == [None, None]
    assert [chunk.choices[0].finish_reason for chunk in chunks] == [None, "stop"]
    _, usage = gw.logged()
    assert (usage["CompletionTokens"], usage["ReasoningTokens"]) == (205, 192)


def test_b04_usage_on_every_chunk_is_a_snapshot(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    stream = case_bytes("B04.sse")
    backend.reply(Reply(per_event(stream)))
    gw = scripted_gateway()

    response = gw.post(V1_CHAT, {"model": "m", "messages": SAY_HELLO, "stream": True})

    assert response.content == stream
    row, usage = gw.logged()
    expected = {"PromptTokens": 12, "CompletionTokens": 5, "TotalTokens": 17}
    assert pick(usage, expected) == expected
    assert completion(gw, row)[0]["content"] == "Hello"


def test_b10_done_is_a_sentinel_usage_comes_from_the_last_json_event(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    text = (
        b'data: {"id":"6","object":"chat.completion.chunk","created":1,"model":"m",'
        b'"choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":"stop"}]}'
        b"\n\n"
    )
    stream = text + case_bytes("B10.sse")
    backend.reply(Reply(per_event(stream)))
    gw = scripted_gateway()

    response = gw.post(AZURE_CHAT, (DATA / "B01.request.json").read_bytes())

    assert response.content == stream
    assert response.content.endswith(b"data: [DONE]\n\n")
    row, usage = gw.logged()
    assert (usage["PromptTokens"], usage["CompletionTokens"]) == (12, 5)
    assert (row["ErrorKind"], usage["ErrorKind"]) == (None, None)


# SSE framing and the end of a stream: B07, B08, B11, B12 -------------------


def test_b07_events_split_across_reads(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    chunks = case_chunks("B07.sse")
    assert len(chunks) == 5
    backend.reply(Reply(chunks, delay=0.05))
    gw = scripted_gateway()

    response = gw.post(AZURE_CHAT, (DATA / "B01.request.json").read_bytes())

    assert response.content == b"".join(chunks)
    row, usage = gw.logged()
    expected = {
        "PromptTokens": 12,
        "CompletionTokens": 5,
        "TotalTokens": 17,
        "FinishReason": "stop",
        "ErrorKind": None,
    }
    assert pick(usage, expected) == expected
    assert row["ErrorKind"] is None
    assert completion(gw, row)[0]["content"] == "Hello"


def test_b08_crlf_and_data_without_a_space(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    stream = case_bytes("B08.sse")
    assert b"\r\n" in stream
    backend.reply(Reply(per_event(stream)))
    gw = scripted_gateway()

    response = gw.post(
        V1_RESPONSES, {"model": "gpt-4o-mini", "input": "Say hello", "stream": True}
    )

    assert response.content == stream
    row, usage = gw.logged()
    expected = {
        "RequestId": "resp_1",
        "ModelName": "gpt-4o-mini-2024-07-18",
        "PromptTokens": 12,
        "CompletionTokens": 5,
        "TotalTokens": 17,
        "TokenCountSource": "backend",
    }
    assert pick(usage, expected) == expected
    assert completion(gw, row)[0]["content"] == "Hello"


def test_b11_a_non_json_event_is_held_back_and_logged(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    stream = case_bytes("B11.sse")
    backend.reply(Reply(per_event(stream)))
    gw = scripted_gateway()

    response = gw.post(AZURE_CHAT, (DATA / "B01.request.json").read_bytes())

    assert response.status_code == 200
    assert response.content == without_event(stream, b"upstream overloaded")
    assert response.content.endswith(b"data: [DONE]\n\n")
    row, usage = gw.logged()
    assert usage["ErrorKind"] == "upstream_malformed_event"
    assert pick(row, {"ResponseCode": 0, "ErrorKind": 0, "LastErrorReason": 0}) == {
        "ResponseCode": 200,
        "ErrorKind": "upstream_malformed_event",
        "LastErrorReason": "upstream_malformed_event",
    }
    assert "upstream overloaded, please retry" in row["LastErrorMessage"]
    assert completion(gw, row)[0]["content"] == "Hello"


def test_b12_a_terminal_event_then_eof_is_success(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    stream = case_bytes("B12.sse")
    backend.reply(Reply(per_event(stream)))
    gw = scripted_gateway()

    response = gw.post(
        V1_CHAT, {"model": "DeepSeek-V3", "messages": SAY_HELLO, "stream": True}
    )

    assert response.status_code == 200
    assert response.content == stream
    row, usage = gw.logged()
    assert (row["ResponseCode"], row["ErrorKind"], row["IsRequestSuccess"]) == (
        200,
        None,
        1,
    )
    expected = {
        "FinishReason": "content_filter",
        "PromptTokens": 12,
        "CompletionTokens": 5,
        "ErrorKind": None,
    }
    assert pick(usage, expected) == expected
    assert completion(gw, row)[0]["content"] == "Hello"


@pytest.mark.parametrize("drop", [True, False], ids=["killed", "clean-eof"])
def test_a_backend_that_breaks_off_breaks_the_client_stream(
    scripted_gateway: Start, backend: ScriptedBackend, drop: bool
) -> None:
    stream = case_bytes("B36.sse")  # three content chunks, no finish_reason
    backend.reply(
        Reply(per_event(stream), drop=drop),
        Reply(per_event(case_bytes("B01.sse"))),
    )
    gw = scripted_gateway()

    response = gw.post(
        V1_CHAT,
        {"model": "gpt-4o-mini", "messages": SAY_HELLO, "stream": True},
        stream=True,
    )
    received = bytearray()
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for piece in response.iter_content(None):
            received += piece
    row, usage = gw.logged()
    after = gw.post(AZURE_CHAT, (DATA / "B01.request.json").read_bytes())

    assert bytes(received) == stream
    expected_row = {
        "ResponseCode": 200,
        "ErrorKind": "upstream_truncated",
        "LastErrorReason": "BackendConnectionFailure",
        "IsRequestSuccess": 0,
    }
    assert pick(row, expected_row) == expected_row
    expected = {
        "ErrorKind": "upstream_truncated",
        "FinishReason": None,
        "TokenCountSource": "estimated",
        "CompletionTokens": 3,  # "The keeper woke" in o200k_base
    }
    assert pick(usage, expected) == expected
    assert completion(gw, row)[0]["content"] == "The keeper woke"
    assert after.status_code == 200
    assert after.content == case_bytes("B01.sse")
