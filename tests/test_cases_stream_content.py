"""End to end: what a stream carries besides plain text, and how it is stored.

Cases of the gateway-failures catalogue, each replayed by a `ScriptedBackend`
through a real gateway: B13, B15 and B16 (tool-call fragments), B17 (n>1
choices), B19 (Korean cut inside its characters), B24 and B26 (Azure's
filter chunks), B51 (the Responses API's terminal events).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from openai import AzureOpenAI
from openai.types.chat import ChatCompletionMessageParam

from tests.support import (
    AZURE_CHAT,
    DATA,
    V1_CHAT,
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
from tollhouse.llm.chat import ChatStream

Start = Callable[..., RunningGateway]

SAY_HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello"}]


# Tool calls and choices: B13, B15, B16, B17 ---------------------------------


def test_b13_streamed_tool_calls_are_stored(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    stream = case_bytes("B13.sse")
    backend.reply(Reply(per_event(stream)))
    gw = scripted_gateway()

    response = gw.post(V1_CHAT, (DATA / "B13.request.json").read_bytes())

    # The client did not ask for usage: the gateway's usage event is held back.
    assert response.content == without_event(stream, b'"usage"')
    row, usage = gw.logged()
    expected = {
        "FinishReason": "tool_calls",
        "PromptTokens": 40,
        "CompletionTokens": 18,
        "TotalTokens": 58,
    }
    assert pick(usage, expected) == expected
    assert completion(gw, row) == [
        {
            "role": "assistant",
            "content": "Checking.",
            "finish_reason": "tool_calls",
            "index": 0,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "arguments": '{"city":"Paris"}',
                    },
                }
            ],
        }
    ]


@pytest.mark.parametrize(
    ("case", "call", "counts"),
    [
        (
            "B15.sse",
            {"call_id": "call_1", "name": "simple_add", "arguments": '{"a":5,"b":7}'},
            (30, 9, 39),
        ),
        (
            "B16.sse",
            {
                "call_id": "call_9",
                "name": "lookup",
                "arguments": '{"city":"Paris, France"}',
            },
            (20, 7, 27),
        ),
    ],
)
def test_b15_b16_responses_function_call_arguments(
    scripted_gateway: Start,
    backend: ScriptedBackend,
    case: str,
    call: dict[str, str],
    counts: tuple[int, int, int],
) -> None:
    stream = case_bytes(case)
    backend.reply(Reply(per_event(stream)))
    gw = scripted_gateway()

    response = gw.post(
        V1_RESPONSES, {"model": "gpt-4o", "input": "Add 5 and 7", "stream": True}
    )

    assert response.status_code == 200
    assert response.content == stream
    row, usage = gw.logged()
    assert (row["ErrorKind"], usage["ErrorKind"]) == (None, None)
    assert (
        usage["PromptTokens"],
        usage["CompletionTokens"],
        usage["TotalTokens"],
    ) == counts
    assert completion(gw, row) == [
        {
            "role": "assistant",
            "content": None,
            "finish_reason": "completed",
            "index": 0,
            "tool_calls": [call],
        }
    ]


def test_b17_n_choices_are_stored_apart(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    stream = case_bytes("B17.sse")
    backend.reply(Reply(per_event(stream)))
    gw = scripted_gateway()

    response = gw.post(V1_CHAT, (DATA / "B17.request.json").read_bytes())

    assert response.content == stream
    row, usage = gw.logged()
    expected = {"PromptTokens": 12, "CompletionTokens": 4, "FinishReason": "stop"}
    assert pick(usage, expected) == expected
    assert completion(gw, row) == [
        {"role": "assistant", "content": "Azure.", "finish_reason": "stop", "index": 0},
        {"role": "assistant", "content": "Blue.", "finish_reason": "stop", "index": 1},
    ]


# Non-ASCII: B19 ---------------------------------------------------------------


def test_b19_korean_split_inside_characters(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    chunks = case_chunks("B19.sse")
    assert chunks[0].endswith(b"\xec") and chunks[1].startswith(b"\x9d\x84")
    backend.reply(Reply(chunks, delay=0.05))
    gw = scripted_gateway()

    response = gw.post(V1_CHAT, (DATA / "B19.request.json").read_bytes())

    assert response.content == b"".join(chunks)
    row, _ = gw.logged()
    assert completion(gw, row)[0]["content"] == "무엇을 도와드릴까요?"
    pieces = gw.rows(
        "SELECT CAST(ResponseMessages AS BLOB) AS raw FROM ApiManagementGatewayLlmLog"
        " WHERE CorrelationId = ? AND ResponseMessages IS NOT NULL"
        " ORDER BY SequenceNumber",
        (row["CorrelationId"],),
    )
    stored = b"".join(piece["raw"] for piece in pieces)
    assert "무엇을 도와드릴까요?".encode() in stored
    assert b"\xec\x9d\x84" in stored  # 을
    assert "\ufffd".encode() not in stored


# Azure specifics: B24, B26 ----------------------------------------------------


def b24_stream() -> bytes:
    events = per_event(case_bytes("B01.sse"))
    return b"".join(events[:4]) + events[-1]  # no usage event


def test_b24_a_first_chunk_without_choices(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    backend.reply(Reply(per_event(b24_stream())))
    gw = scripted_gateway()
    sdk = AzureOpenAI(
        azure_endpoint=gw.url, api_key=gw.key, api_version="2024-02-15-preview"
    )

    chunks = list(
        sdk.chat.completions.create(
            model="gpt-4o",
            messages=SAY_HELLO,
            stream=True,
        )
    )

    assert chunks[0].choices == []
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello"
    row, usage = gw.logged()
    assert usage["ModelName"] == "gpt-4o-2024-08-06"
    assert usage["RequestId"] == "chatcmpl-A1"
    filters = json.loads(usage["PromptFilterResults"])
    assert [f["prompt_index"] for f in filters] == [0]
    assert filters[0]["content_filter_results"]["violence"] == {
        "filtered": False,
        "severity": "safe",
    }
    assert completion(gw, row)[0]["content"] == "Hello"


@pytest.mark.parametrize("broken", ["_apply", "result"])
def test_b24_a_failing_log_reader_never_ends_the_stream(
    scripted_gateway: Start,
    backend: ScriptedBackend,
    monkeypatch: pytest.MonkeyPatch,
    broken: str,
) -> None:
    def fail(*args: Any) -> Any:
        raise ValueError("a bug in the stream reader")

    monkeypatch.setattr(ChatStream, broken, fail)
    stream = b24_stream()
    backend.reply(Reply(per_event(stream)))
    gw = scripted_gateway()

    response = gw.post(AZURE_CHAT, (DATA / "B01.request.json").read_bytes())

    assert response.status_code == 200
    assert response.content == stream
    row = gw.gateway_row()
    assert row["ResponseCode"] == 200


def test_b26_filter_annotations_without_a_delta(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    stream = case_bytes("B26.sse")
    backend.reply(Reply(per_event(stream)))
    gw = scripted_gateway()

    response = gw.post(AZURE_CHAT, (DATA / "B01.request.json").read_bytes())

    assert response.content == stream
    row, usage = gw.logged()
    expected = {"FinishReason": "stop", "RequestId": "chatcmpl-A2"}
    assert pick(usage, expected) == expected
    assert json.loads(usage["ContentFilterResults"]) == [
        {
            "index": 0,
            "content_filter_results": {
                "hate": {"filtered": False, "severity": "safe"},
                "violence": {"filtered": False, "severity": "safe"},
            },
            "content_filter_offsets": {
                "check_offset": 0,
                "start_offset": 0,
                "end_offset": 5,
            },
        }
    ]
    assert completion(gw, row) == [
        {"role": "assistant", "content": "Hello", "finish_reason": "stop", "index": 0}
    ]


# The Responses API's terminal events: B51 --------------------------------------


def test_b51_usage_from_response_incomplete(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    stream = case_bytes("B51.sse")
    backend.reply(Reply(per_event(stream)))
    gw = scripted_gateway()

    response = gw.post(V1_RESPONSES, (DATA / "B51.request.json").read_bytes())

    assert response.content == stream
    row, usage = gw.logged()
    expected = {
        "RequestId": "resp_5",
        "ModelName": "gpt-4o-mini-2024-07-18",
        "PromptTokens": 12,
        "CompletionTokens": 16,
        "TotalTokens": 28,
        "ReasoningTokens": 0,
        "CachedTokens": 0,
        "TokenCountSource": "backend",
        "FinishReason": "max_output_tokens",
        "ErrorKind": None,
    }
    assert pick(usage, expected) == expected
    assert completion(gw, row)[0]["content"] == "1, 2, 3"


B51_FAILED = (
    b"event: response.created\n"
    b'data: {"type":"response.created","sequence_number":0,"response":'
    b'{"id":"resp_6","status":"in_progress","model":"gpt-4o-mini-2024-07-18"}}\n\n'
    b"event: response.output_text.delta\n"
    b'data: {"type":"response.output_text.delta","sequence_number":1,'
    b'"item_id":"msg_6","output_index":0,"content_index":0,"delta":"1, 2"}\n\n'
    b"event: response.failed\n"
    b'data: {"type":"response.failed","sequence_number":2,"response":'
    b'{"id":"resp_6","status":"failed","error":{"code":"server_error",'
    b'"message":"The model stopped unexpectedly."}}}\n\n'
)


def test_b51_response_failed_without_usage(
    scripted_gateway: Start, backend: ScriptedBackend
) -> None:
    backend.reply(Reply(per_event(B51_FAILED)))
    gw = scripted_gateway()

    response = gw.post(V1_RESPONSES, (DATA / "B51.request.json").read_bytes())

    assert response.status_code == 200
    assert response.content == B51_FAILED
    row, usage = gw.logged()
    expected = {
        "RequestId": "resp_6",
        "PromptTokens": None,
        "CompletionTokens": None,
        "TotalTokens": None,
        "TokenCountSource": "none",
        "FinishReason": "failed",
        "ErrorKind": "upstream_error_event",
    }
    assert pick(usage, expected) == expected
    assert row["ErrorKind"] == "upstream_error_event"
    assert row["LastErrorMessage"] == "The model stopped unexpectedly."
