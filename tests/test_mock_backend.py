"""The built-in mock backend, over real sockets on loopback."""

from __future__ import annotations

import asyncio
import base64
import gzip
import os
import signal
import struct
import subprocess
import sys
import time
import unicodedata
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import brotli
import orjson
import pytest
from aiohttp import web

from tollhouse.mock_backend import (
    LAST_REQUESTS,
    MockSettings,
    ReceivedRequest,
    create_mock_app,
    start_mock,
)
from tollhouse.tokens import count_tokens

AZURE = "/openai/deployments/gpt-4o/{}?api-version=2024-10-21"
CHAT_BODY: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello there, mock"},
    ],
}
KOREAN = "안녕하세요, 세계! 모의 백엔드가 한국어를 온전히 돌려줍니다."


@dataclass
class Mock:
    url: str
    app: web.Application
    session: aiohttp.ClientSession

    async def post(
        self, path: str, body: Any = None, **headers: str
    ) -> tuple[aiohttp.ClientResponse, bytes]:
        """POST ``body`` as JSON; header names use ``_`` for ``-``."""
        sent = {name.replace("_", "-"): value for name, value in headers.items()}
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        sent.setdefault("content-type", "application/json")
        async with self.session.post(self.url + path, data=data, headers=sent) as r:
            return r, await r.read()

    async def json(self, path: str, body: Any = None, **headers: str) -> Any:
        response, raw = await self.post(path, body, **headers)
        assert response.status == 200, raw
        return orjson.loads(raw)

    async def events(self, path: str, body: Any, **headers: str) -> list[Any]:
        """The ``data:`` documents of a stream, ``[DONE]`` as the string."""
        response, raw = await self.post(path, {**body, "stream": True}, **headers)
        assert response.status == 200, raw
        assert response.content_type == "text/event-stream"
        return [_data(event) for event in parse_sse(raw)]


@pytest.fixture
async def mock() -> AsyncIterator[Mock]:
    runner, port = await start_mock("127.0.0.1", 0, MockSettings(chunk_chars=4))
    async with aiohttp.ClientSession() as session:
        yield Mock(f"http://127.0.0.1:{port}", runner.app, session)
    await runner.cleanup()


def parse_sse(raw: bytes) -> list[tuple[str | None, str]]:
    """The (event type, data) pairs of a server-sent event stream."""
    assert raw.endswith(b"\n\n")
    events = []
    for block in raw.decode().split("\n\n")[:-1]:
        kind = None
        data = ""
        for line in block.split("\n"):
            field, _, value = line.partition(": ")
            if field == "event":
                kind = value
            else:
                assert field == "data"
                data = value
        events.append((kind, data))
    return events


def _data(event: tuple[str | None, str]) -> Any:
    return event[1] if event[1] == "[DONE]" else orjson.loads(event[1])


def chat_prompt_tokens(texts: list[str], model: str) -> int:
    return sum(3 + count_tokens(text, model) for text in texts) + 3


def streamed_text(events: list[Any], index: int = 0) -> str:
    return "".join(
        choice["delta"].get("content") or ""
        for event in events
        if isinstance(event, dict)
        for choice in event["choices"]
        if choice["index"] == index
    )


# Routes and families


@pytest.mark.parametrize(
    ("path", "body", "kind"),
    [
        (AZURE.format("chat/completions"), CHAT_BODY, "chat.completion"),
        ("/v1/chat/completions", CHAT_BODY, "chat.completion"),
        ("/openai/v1/chat/completions", CHAT_BODY, "chat.completion"),
        (AZURE.format("completions"), {"prompt": "Hi"}, "text_completion"),
        ("/v1/completions", {"model": "m", "prompt": "Hi"}, "text_completion"),
        ("/openai/v1/completions", {"model": "m", "prompt": "Hi"}, "text_completion"),
        (AZURE.format("embeddings"), {"input": "Hi"}, "list"),
        ("/v1/embeddings", {"model": "e", "input": "Hi"}, "list"),
        ("/openai/v1/embeddings", {"model": "e", "input": "Hi"}, "list"),
        (AZURE.format("responses"), {"input": "Hi"}, "response"),
        ("/v1/responses", {"model": "gpt-4o", "input": "Hi"}, "response"),
        ("/openai/v1/responses", {"model": "gpt-4o", "input": "Hi"}, "response"),
    ],
)
async def test_each_route_answers_its_object(
    mock: Mock, path: str, body: Any, kind: str
) -> None:
    document = await mock.json(path, body)

    assert document["object"] == kind
    assert document["usage"]["total_tokens"] > 0


@pytest.mark.parametrize(
    "operation",
    [
        "chat/completions",
        "completions",
        "embeddings",
        "responses",
        "images/generations",
        "audio/transcriptions",
        "audio/speech",
    ],
)
async def test_azure_routes_need_api_version(mock: Mock, operation: str) -> None:
    response, raw = await mock.post(f"/openai/deployments/gpt-4o/{operation}", {})

    assert response.status == 404
    assert orjson.loads(raw) == {
        "error": {"code": "404", "message": "Resource not found"}
    }


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        (
            "POST",
            "/v1/nothing",
            {
                "error": {
                    "message": "Invalid URL (POST /v1/nothing)",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
        ),
        (
            "GET",
            "/v1/chat/completions",
            {
                "error": {
                    "message": "Invalid URL (GET /v1/chat/completions)",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
        ),
        (
            "POST",
            "/openai/deployments/gpt-4o/nothing?api-version=1",
            {"error": {"code": "404", "message": "Resource not found"}},
        ),
    ],
)
async def test_unknown_paths_are_404_in_their_family_shape(
    mock: Mock, method: str, path: str, expected: Any
) -> None:
    async with mock.session.request(method, mock.url + path, json={}) as response:
        assert response.status == 404
        assert await response.json() == expected


@pytest.mark.parametrize("path", [AZURE.format("chat/completions"), "/v1/responses"])
async def test_malformed_json_is_400_invalid_request(mock: Mock, path: str) -> None:
    response, raw = await mock.post(path, b'{"model": "gpt-4o", ')

    assert response.status == 400
    error = orjson.loads(raw)["error"]
    assert error["type"] == "invalid_request_error"
    assert (error["param"], error["code"]) == (None, None)
    assert error["message"].startswith("We could not parse the JSON body")


async def test_openai_routes_need_a_model(mock: Mock) -> None:
    body = {"messages": CHAT_BODY["messages"]}
    response, raw = await mock.post("/v1/chat/completions", body)

    assert response.status == 400
    assert orjson.loads(raw) == {
        "error": {
            "message": "you must provide a model parameter",
            "type": "invalid_request_error",
            "param": "model",
            "code": None,
        }
    }


@pytest.mark.parametrize(
    ("deployment", "model"),
    [
        ("gpt-4o", "gpt-4o-2024-11-20"),
        ("prod-gpt-4o-eastus", "gpt-4o-2024-11-20"),
        ("gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
        ("my-llama", "my-llama"),
    ],
)
async def test_azure_model_names_the_deployments_version(
    mock: Mock, deployment: str, model: str
) -> None:
    path = f"/openai/deployments/{deployment}/chat/completions?api-version=1"
    document = await mock.json(path, CHAT_BODY)

    assert document["model"] == model


async def test_models_list(mock: Mock) -> None:
    async with mock.session.get(mock.url + "/v1/models") as response:
        document = await response.json()

    assert document["object"] == "list"
    assert {"id": "gpt-4o", "object": "model"}.items() <= document["data"][0].items()


# Chat completions


async def test_azure_chat_carries_filter_results_and_usage(mock: Mock) -> None:
    document = await mock.json(AZURE.format("chat/completions"), CHAT_BODY)

    choice = document["choices"][0]
    assert choice["message"]["content"] == "Hello there, mock"
    assert choice["finish_reason"] == "stop"
    assert choice["content_filter_results"]["hate"] == {
        "filtered": False,
        "severity": "safe",
    }
    assert document["prompt_filter_results"][0]["prompt_index"] == 0
    model = "gpt-4o-2024-11-20"
    prompt = chat_prompt_tokens(["Be brief.", "Hello there, mock"], model)
    completion = count_tokens("Hello there, mock", model)
    assert document["usage"]["prompt_tokens"] == prompt
    assert document["usage"]["completion_tokens"] == completion
    assert document["usage"]["total_tokens"] == prompt + completion


async def test_openai_chat_has_no_filter_results(mock: Mock) -> None:
    document = await mock.json("/v1/chat/completions", CHAT_BODY)

    assert document["model"] == "gpt-4o"
    assert "prompt_filter_results" not in document
    assert "content_filter_results" not in document["choices"][0]


async def test_list_content_echoes_its_text_parts(mock: Mock) -> None:
    parts = [
        {"type": "text", "text": "first"},
        {"type": "image_url", "image_url": {"url": "data:,"}},
        {"type": "text", "text": "second"},
    ]
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": parts}]}
    document = await mock.json("/v1/chat/completions", body)

    assert document["choices"][0]["message"]["content"] == "first\nsecond"


async def test_n_choices_say_the_same_and_cost_n_times(mock: Mock) -> None:
    document = await mock.json("/v1/chat/completions", {**CHAT_BODY, "n": 3})

    assert [c["index"] for c in document["choices"]] == [0, 1, 2]
    assert {c["message"]["content"] for c in document["choices"]} == {
        "Hello there, mock"
    }
    one = count_tokens("Hello there, mock", "gpt-4o")
    assert document["usage"]["completion_tokens"] == 3 * one


async def test_reply_header_replaces_the_echo(mock: Mock) -> None:
    document = await mock.json(
        "/v1/chat/completions", CHAT_BODY, x_mock_reply=quote(KOREAN)
    )

    text = document["choices"][0]["message"]["content"]
    assert text == KOREAN
    assert document["usage"]["completion_tokens"] == count_tokens(KOREAN, "gpt-4o")


async def test_max_tokens_is_ignored_unless_asked(mock: Mock) -> None:
    text = "one two three four five six seven eight nine ten"
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": text}],
        "max_tokens": 3,
    }

    whole = await mock.json("/v1/chat/completions", body)
    cut = await mock.json("/v1/chat/completions", body, x_mock_honour_max_tokens="1")

    assert whole["choices"][0]["message"]["content"] == text
    assert cut["choices"][0]["message"]["content"] == "one two three"
    assert cut["choices"][0]["finish_reason"] == "length"
    assert cut["usage"]["completion_tokens"] == 3


async def test_tool_call_reply(mock: Mock) -> None:
    body = {**CHAT_BODY, "tools": [{"type": "function", "function": {"name": "f"}}]}
    document = await mock.json("/v1/chat/completions", body, x_mock_tool_call="lookup")

    choice = document["choices"][0]
    call = choice["message"]["tool_calls"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert call["id"].startswith("call_")
    assert call["function"]["name"] == "lookup"
    assert orjson.loads(call["function"]["arguments"]) == {"input": "Hello there, mock"}


async def test_tool_call_header_needs_tools(mock: Mock) -> None:
    document = await mock.json(
        "/v1/chat/completions", CHAT_BODY, x_mock_tool_call="lookup"
    )

    assert document["choices"][0]["message"]["content"] == "Hello there, mock"


# Chat streams


async def test_openai_stream_without_include_usage(mock: Mock) -> None:
    events = await mock.events("/v1/chat/completions", CHAT_BODY)

    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all("usage" not in chunk for chunk in chunks)
    assert chunks[0]["choices"][0]["delta"] == {
        "role": "assistant",
        "content": "",
        "refusal": None,
    }
    assert all("role" not in c["choices"][0]["delta"] for c in chunks[1:])
    assert [c["choices"][0]["finish_reason"] for c in chunks][-2:] == [None, "stop"]
    assert streamed_text(events) == "Hello there, mock"
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1


async def test_openai_stream_with_include_usage(mock: Mock) -> None:
    body = {**CHAT_BODY, "stream_options": {"include_usage": True}}
    events = await mock.events("/v1/chat/completions", body)

    *chunks, last, done = events
    assert done == "[DONE]"
    assert all(chunk["usage"] is None for chunk in chunks)
    assert last["choices"] == []
    prompt = chat_prompt_tokens(["Be brief.", "Hello there, mock"], "gpt-4o")
    assert last["usage"]["prompt_tokens"] == prompt
    assert last["usage"]["completion_tokens"] == count_tokens(
        "Hello there, mock", "gpt-4o"
    )


async def test_azure_stream_carries_filter_results(mock: Mock) -> None:
    body = {**CHAT_BODY, "stream_options": {"include_usage": True}}
    events = await mock.events(AZURE.format("chat/completions"), body)

    first, *chunks, last, done = events
    assert first["choices"] == []
    assert (first["id"], first["model"], first["object"]) == ("", "", "")
    assert first["prompt_filter_results"][0]["content_filter_results"]
    assert all("content_filter_results" in c["choices"][0] for c in chunks)
    assert chunks[1]["choices"][0]["content_filter_results"]["violence"] == {
        "filtered": False,
        "severity": "safe",
    }
    assert {c["model"] for c in chunks} == {"gpt-4o-2024-11-20"}
    assert last["choices"] == [] and last["usage"]["total_tokens"] > 0
    assert done == "[DONE]"


async def test_korean_stays_intact_across_chunks(mock: Mock) -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": KOREAN}]}
    response, raw = await mock.post("/v1/chat/completions", {**body, "stream": True})

    events = [_data(event) for event in parse_sse(raw)]
    deltas = [c["choices"][0]["delta"]["content"] for c in events[1:-2]]
    assert all(0 < len(delta) <= 4 for delta in deltas)
    assert "".join(deltas) == KOREAN
    # UTF-8 on the wire, not \u escapes
    assert b"\\u" not in raw
    assert all(f'"content":"{delta}"'.encode() in raw for delta in deltas)


async def test_decomposed_korean_is_never_cut_inside_a_syllable(mock: Mock) -> None:
    text = unicodedata.normalize("NFD", KOREAN)
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}
    events = await mock.events("/v1/chat/completions", body)

    deltas = [c["choices"][0]["delta"]["content"] for c in events[1:-2]]
    assert "".join(deltas) == text
    assert not any("\u1160" <= delta[0] <= "\u11ff" for delta in deltas)


async def test_stream_of_n_choices(mock: Mock) -> None:
    events = await mock.events("/v1/chat/completions", {**CHAT_BODY, "n": 2})

    assert streamed_text(events, 0) == streamed_text(events, 1) == "Hello there, mock"


async def test_streamed_tool_call(mock: Mock) -> None:
    body = {**CHAT_BODY, "tools": [{"type": "function", "function": {"name": "f"}}]}
    events = await mock.events("/v1/chat/completions", body, x_mock_tool_call="look")

    deltas = [event["choices"][0]["delta"] for event in events[:-1]]
    first = deltas[0]["tool_calls"][0]
    assert first["index"] == 0 and first["id"].startswith("call_")
    assert first["function"] == {"name": "look", "arguments": ""}
    fragments = [d["tool_calls"][0] for d in deltas[1:-1]]
    assert all(set(f) == {"index", "function"} for f in fragments)
    arguments = "".join(f["function"]["arguments"] for f in fragments)
    assert orjson.loads(arguments) == {"input": "Hello there, mock"}
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"


# Completions


async def test_completion_echoes_the_prompt(mock: Mock) -> None:
    document = await mock.json(AZURE.format("completions"), {"prompt": "Once upon"})

    choice = document["choices"][0]
    assert choice["text"] == "Once upon"
    assert "content_filter_results" in choice
    assert "prompt_filter_results" in document
    tokens = count_tokens("Once upon", "gpt-4o-2024-11-20")
    assert document["usage"] == {
        "prompt_tokens": tokens,
        "completion_tokens": tokens,
        "total_tokens": 2 * tokens,
    }


async def test_completion_stream(mock: Mock) -> None:
    body = {"model": "m", "prompt": "Once upon a time"}
    events = await mock.events("/v1/completions", body)

    *chunks, done = events
    assert done == "[DONE]"
    assert "".join(c["choices"][0]["text"] for c in chunks) == "Once upon a time"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert {c["object"] for c in chunks} == {"text_completion"}


# Responses API


RESPONSE_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


async def test_responses_stream_sequence(mock: Mock) -> None:
    body = {"model": "gpt-4o", "input": "Ping pong", "stream": True}
    response, raw = await mock.post("/v1/responses", body)

    events = parse_sse(raw)
    assert [kind for kind, _ in events] == RESPONSE_EVENTS
    documents = [orjson.loads(data) for _, data in events]
    assert [d["type"] for d in documents] == RESPONSE_EVENTS
    assert [d["sequence_number"] for d in documents] == list(range(len(events)))
    assert b"[DONE]" not in raw
    deltas = [d["delta"] for d in documents if d["type"].endswith(".delta")]
    assert deltas == ["Ping", " pon", "g"]

    completed = documents[-1]["response"]
    assert completed["status"] == "completed"
    text = completed["output"][0]["content"][0]["text"]
    assert text == "Ping pong"
    prompt = chat_prompt_tokens(["Ping pong"], "gpt-4o")
    output = count_tokens("Ping pong", "gpt-4o")
    assert completed["usage"] == {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + output,
    }


async def test_responses_echo_the_last_user_input(mock: Mock) -> None:
    body = {
        "model": "gpt-4o",
        "instructions": "Be kind.",
        "input": [
            {"role": "user", "content": "earlier"},
            {"role": "assistant", "content": "answer"},
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "latest"}],
            },
        ],
    }
    document = await mock.json("/v1/responses", body)

    assert document["output"][0]["content"][0]["text"] == "latest"
    texts = ["earlier", "answer", "latest", "Be kind."]
    assert document["usage"]["input_tokens"] == chat_prompt_tokens(texts, "gpt-4o")
    assert document["instructions"] == "Be kind."


async def test_responses_tool_call_stream(mock: Mock) -> None:
    body = {"model": "gpt-4o", "input": "Hi", "tools": [{"type": "function"}]}
    events = await mock.events("/v1/responses", body, x_mock_tool_call="f")

    kinds = [event["type"] for event in events]
    assert "response.function_call_arguments.done" in kinds
    item = events[-1]["response"]["output"][0]
    assert (item["type"], item["name"]) == ("function_call", "f")
    assert orjson.loads(item["arguments"]) == {"input": "Hi"}


# Embeddings


async def test_embeddings_are_deterministic_unit_vectors(mock: Mock) -> None:
    body = {"model": "text-embedding-3-small", "input": ["alpha", "beta", "alpha"]}
    document = await mock.json("/v1/embeddings", body)

    vectors = [item["embedding"] for item in document["data"]]
    assert [item["index"] for item in document["data"]] == [0, 1, 2]
    assert all(len(vector) == 8 for vector in vectors)
    assert vectors[0] == vectors[2] != vectors[1]
    assert sum(value * value for value in vectors[0]) == pytest.approx(1.0, abs=1e-5)
    tokens = 2 * count_tokens("alpha", "x") + count_tokens("beta", "x")
    assert document["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}


async def test_base64_embeddings_decode_to_the_float32_vector(mock: Mock) -> None:
    body = {"model": "e", "input": "alpha", "dimensions": 16}
    floats = await mock.json("/v1/embeddings", body)
    packed = await mock.json("/v1/embeddings", {**body, "encoding_format": "base64"})

    raw = base64.b64decode(packed["data"][0]["embedding"])
    assert list(struct.unpack("<16f", raw)) == floats["data"][0]["embedding"]


# Images and audio


async def test_images_generations(mock: Mock) -> None:
    body = {"prompt": "a cat", "n": 2, "response_format": "b64_json"}
    document = await mock.json(AZURE.format("images/generations"), body)

    assert len(document["data"]) == 2
    png = base64.b64decode(document["data"][0]["b64_json"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


async def test_audio_transcriptions_read_the_form(mock: Mock) -> None:
    form = aiohttp.FormData()
    form.add_field("file", b"RIFF....", filename="a.wav", content_type="audio/wav")
    form.add_field("response_format", "text")
    url = mock.url + AZURE.format("audio/transcriptions")
    headers = {"x-mock-reply": "spoken words"}
    async with mock.session.post(url, data=form, headers=headers) as response:
        assert response.status == 200
        assert await response.text() == "spoken words"


async def test_audio_speech_is_a_wav(mock: Mock) -> None:
    body = {"model": "tts-1", "input": "Hello", "voice": "alloy"}
    response, raw = await mock.post(AZURE.format("audio/speech"), body)

    assert response.status == 200
    assert response.content_type == "audio/wav"
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE"


# Headers and recorded requests


async def test_every_answer_carries_azure_headers(mock: Mock) -> None:
    ok, _ = await mock.post(AZURE.format("chat/completions"), CHAT_BODY)
    missing, _ = await mock.post("/v1/nothing", {})

    for response in (ok, missing):
        headers = response.headers
        assert headers["x-ms-region"] == "Mock Region"
        assert len(headers["apim-request-id"]) == 36
        assert headers["x-request-id"].startswith("req_")
        for name in ("requests", "tokens"):
            assert int(headers[f"x-ratelimit-limit-{name}"]) > 0
            assert int(headers[f"x-ratelimit-remaining-{name}"]) > 0
    assert ok.headers["x-ms-deployment-name"] == "gpt-4o"
    assert "x-ms-deployment-name" not in missing.headers


async def test_last_requests_records_what_arrived(mock: Mock) -> None:
    body = orjson.dumps(CHAT_BODY)
    await mock.post(AZURE.format("chat/completions"), body, x_custom="yes")

    recorded = mock.app[LAST_REQUESTS][-1]
    assert isinstance(recorded, ReceivedRequest)
    assert recorded.method == "POST"
    assert recorded.path == "/openai/deployments/gpt-4o/chat/completions"
    assert recorded.query_string == "api-version=2024-10-21"
    assert ("x-custom", "yes") in recorded.headers
    assert recorded.body == body


def test_last_requests_keeps_the_last_hundred() -> None:
    app = create_mock_app()

    assert app[LAST_REQUESTS].maxlen == 100


async def test_echo_headers_replies_with_the_request(mock: Mock) -> None:
    body = orjson.dumps({**CHAT_BODY, "extra": "한"})
    path = "/openai/deployments/gpt-4o/chat/completions?api-version=1&a=%20b"
    document = await mock.json(path, body, x_mock_echo_headers="1", x_trace="t1")

    echoed = orjson.loads(document["choices"][0]["message"]["content"])
    assert echoed["query"] == "api-version=1&a=%20b"
    assert echoed["headers"]["x-trace"] == "t1"
    assert echoed["body"] == body.decode()
    assert echoed["method"] == "POST"


# Faults


async def test_status_fault_with_retry_after_azure(mock: Mock) -> None:
    response, raw = await mock.post(
        AZURE.format("chat/completions"),
        CHAT_BODY,
        x_mock_status="429",
        x_mock_retry_after="30",
    )

    assert response.status == 429
    assert orjson.loads(raw) == {
        "error": {
            "code": "429",
            "message": "Rate limit reached for this deployment. "
            "Try again in 30 seconds.",
        }
    }
    headers = response.headers
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("30", "30000")
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-remaining-tokens"] == "0"
    assert headers["x-ms-region"] == "Mock Region"


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(400, "invalid_request_error"), (500, "server_error"), (503, "server_error")],
)
async def test_status_fault_openai_shape(
    mock: Mock, status: int, error_type: str
) -> None:
    body = {**CHAT_BODY, "stream": True}
    response, raw = await mock.post(
        "/v1/chat/completions", body, x_mock_status=str(status)
    )

    assert response.status == status
    error = orjson.loads(raw)["error"]
    assert error["type"] == error_type
    assert error["message"]
    assert "retry-after" not in response.headers


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x_mock_status", "200"),
        ("x_mock_status", "abc"),
        ("x_mock_latency_ms", "-5"),
        ("x_mock_encoding", "zstd"),
    ],
)
async def test_bad_directive_is_400(mock: Mock, header: str, value: str) -> None:
    response, raw = await mock.post(
        "/v1/chat/completions", CHAT_BODY, **{header: value}
    )

    assert response.status == 400
    assert orjson.loads(raw)["error"]["type"] == "invalid_request_error"


async def test_latency_delays_the_head(mock: Mock) -> None:
    started = time.perf_counter()
    await mock.json("/v1/chat/completions", CHAT_BODY, x_mock_latency_ms="150")

    assert time.perf_counter() - started >= 0.14


async def test_settings_latency_delays_the_head() -> None:
    runner, port = await start_mock("127.0.0.1", 0, MockSettings(latency_ms=120))
    try:
        async with aiohttp.ClientSession() as session:
            started = time.perf_counter()
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            async with session.post(url, json=CHAT_BODY) as response:
                assert response.status == 200
            assert time.perf_counter() - started >= 0.11
    finally:
        await runner.cleanup()


async def test_chunk_delay_paces_events_as_they_are_made(mock: Mock) -> None:
    body = {**CHAT_BODY, "stream": True}
    headers = {"x-mock-chunk-delay-ms": "60"}
    url = mock.url + "/v1/chat/completions"
    arrivals = []
    async with mock.session.post(url, json=body, headers=headers) as response:
        started = time.perf_counter()
        async for line in response.content:
            if line.startswith(b"data: "):
                arrivals.append(time.perf_counter() - started)

    assert len(arrivals) == 8  # role, 5 pieces, finish, [DONE]
    # Paced one by one, not written at the end in one go.
    assert arrivals[-1] - arrivals[0] >= 7 * 0.06 * 0.9


async def test_drop_after_resets_a_stream(mock: Mock) -> None:
    body = {**CHAT_BODY, "stream": True}
    headers = {"x-mock-drop-after": "3", "x-mock-chunk-delay-ms": "10"}
    url = mock.url + "/v1/chat/completions"
    received = []
    with pytest.raises(aiohttp.ClientPayloadError):
        async with mock.session.post(url, json=body, headers=headers) as response:
            async for line in response.content:
                if line.startswith(b"data: "):
                    received.append(line)

    assert len(received) == 3
    assert all(b"[DONE]" not in line and b'"stop"' not in line for line in received)


async def test_drop_after_cuts_a_body(mock: Mock) -> None:
    url = mock.url + "/v1/chat/completions"
    headers = {"x-mock-drop-after": "0"}
    with pytest.raises(aiohttp.ClientPayloadError):
        async with mock.session.post(url, json=CHAT_BODY, headers=headers) as r:
            assert r.status == 200
            await r.read()


async def test_no_usage_anywhere(mock: Mock) -> None:
    chat = await mock.json("/v1/chat/completions", CHAT_BODY, x_mock_no_usage="1")
    events = await mock.events(
        "/v1/chat/completions",
        {**CHAT_BODY, "stream_options": {"include_usage": True}},
        x_mock_no_usage="1",
    )
    responses = await mock.events(
        "/v1/responses", {"model": "m", "input": "x"}, x_mock_no_usage="1"
    )
    vectors = await mock.json(
        "/v1/embeddings", {"model": "e", "input": "x"}, x_mock_no_usage="1"
    )

    assert "usage" not in chat
    assert all("usage" not in event for event in events[:-1])
    assert all(event["choices"] for event in events[:-1])
    assert responses[-1]["response"]["usage"] is None
    assert "usage" not in vectors


def _decompress(coding: str, data: bytes) -> bytes:
    if coding == "gzip":
        return gzip.decompress(data)
    if coding == "deflate":
        return zlib.decompress(data)
    result: bytes = brotli.decompress(data)
    return result


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
@pytest.mark.parametrize("stream", [False, True])
async def test_encoding_compresses_bodies_and_streams(
    mock: Mock, coding: str, stream: bool
) -> None:
    body = {**CHAT_BODY, "stream": stream}
    headers = {"x-mock-encoding": coding}
    url = mock.url + "/v1/chat/completions"
    async with (
        aiohttp.ClientSession(auto_decompress=False) as raw_session,
        raw_session.post(url, json=body, headers=headers) as response,
    ):
        assert response.headers["content-encoding"] == coding
        raw = await response.read()

    plain = _decompress(coding, raw)
    if stream:
        events = [_data(event) for event in parse_sse(plain)]
        assert streamed_text(events) == "Hello there, mock"
    else:
        document = orjson.loads(plain)
        assert document["choices"][0]["message"]["content"] == "Hello there, mock"


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
async def test_compressed_stream_events_arrive_one_by_one(
    mock: Mock, coding: str
) -> None:
    body = {**CHAT_BODY, "stream": True}
    # Seven 3 s pauses: a mock that compressed the stream whole would hold the
    # first event back for 21 s; one that flushes each event sends it at once.
    headers = {"x-mock-encoding": coding, "x-mock-chunk-delay-ms": "3000"}
    url = mock.url + "/v1/chat/completions"
    async with mock.session.post(url, json=body, headers=headers) as response:
        first = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 10)
        response.close()

    assert first.startswith(b"data: {")


# Running as a command


def test_run_mock_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    script = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stdout)\n"
        "from tollhouse.mock_backend import MockSettings, run_mock\n"
        "run_mock('127.0.0.1', 0, MockSettings())\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "mock backend listening on http://127.0.0.1:" in line
        port = int(line.rsplit(":", 1)[1])
        asyncio.run(_ask_models(port))
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def _ask_models(port: int) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/v1/models") as response,
    ):
        assert response.status == 200


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="chunk_chars"):
        MockSettings(chunk_chars=0)
