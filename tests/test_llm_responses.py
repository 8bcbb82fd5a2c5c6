"""Tests for the Responses API: event stream reassembly, bodies, estimates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tollhouse.llm import (
    EventKind,
    LlmResult,
    Usage,
    estimate_usage,
    parse_response,
    stream_accumulator,
)
from tollhouse.sse import SseEvent, SseParser

DATA = Path(__file__).parent / "data"


def run(stream: bytes) -> tuple[list[EventKind], LlmResult]:
    parser = SseParser()
    accumulator = stream_accumulator("responses")
    kinds = [accumulator.feed(event) for event in parser.feed(stream)]
    kinds += [accumulator.feed(event) for event in parser.flush()]
    return kinds, accumulator.result()


def events(*payloads: dict[str, Any]) -> bytes:
    """An SSE stream of typed events, as the Responses API sends them."""
    return b"".join(
        b"event: %s\ndata: %s\n\n" % (p["type"].encode(), orjson.dumps(p))
        for p in payloads
    )


def test_b08_crlf_stream_without_deltas() -> None:
    kinds, result = run((DATA / "B08.sse").read_bytes())

    assert kinds == ["chunk", "chunk"]
    assert result.request_id == "resp_1"
    assert result.model == "gpt-4o-mini-2024-07-18"
    assert result.usage == Usage(12, 5, 17)
    assert result.response_text == "Hello"
    assert result.status == "completed"
    assert result.finish_reason == "completed"
    assert result.terminal_seen is True
    assert result.error_kind is None


def test_b15_arguments_only_in_done_events_counted_once() -> None:
    _, result = run((DATA / "B15.sse").read_bytes())

    assert result.choices[0].tool_calls == [
        {"call_id": "call_1", "name": "simple_add", "arguments": '{"a":5,"b":7}'}
    ]
    assert result.usage == Usage(30, 9, 39)
    assert result.response_messages() == [
        {
            "role": "assistant",
            "content": None,
            "finish_reason": "completed",
            "index": 0,
            "tool_calls": [
                {
                    "call_id": "call_1",
                    "name": "simple_add",
                    "arguments": '{"a":5,"b":7}',
                }
            ],
        }
    ]


def test_b15_deltas_are_not_doubled_by_done_events() -> None:
    stream = events(
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_1",
                "name": "simple_add",
                "arguments": "",
            },
        },
        {
            "type": "response.function_call_arguments.delta",
            "item_id": "fc_1",
            "delta": '{"a":5,',
        },
        {
            "type": "response.function_call_arguments.delta",
            "item_id": "fc_1",
            "delta": '"b":7}',
        },
        {
            "type": "response.function_call_arguments.done",
            "item_id": "fc_1",
            "arguments": '{"a":5,"b":7}',
        },
        {
            "type": "response.completed",
            "response": {
                "id": "resp_2",
                "status": "completed",
                "output": [
                    {
                        "type": "function_call",
                        "id": "fc_1",
                        "call_id": "call_1",
                        "name": "simple_add",
                        "arguments": '{"a":5,"b":7}',
                    }
                ],
            },
        },
    )

    _, result = run(stream)

    assert result.choices[0].tool_calls == [
        {"call_id": "call_1", "name": "simple_add", "arguments": '{"a":5,"b":7}'}
    ]


def test_b16_empty_argument_delta_is_a_no_op() -> None:
    kinds, result = run((DATA / "B16.sse").read_bytes())

    assert kinds == ["chunk"] * 4
    assert result.choices[0].tool_calls == [
        {"call_id": "call_9", "name": "lookup", "arguments": '{"city":"Paris, France"}'}
    ]
    assert result.usage == Usage(20, 7, 27)
    assert result.error_kind is None
    assert result.terminal_seen is True


def test_b51_usage_and_reason_from_response_incomplete() -> None:
    _, result = run((DATA / "B51.sse").read_bytes())

    assert result.request_id == "resp_5"
    assert result.model == "gpt-4o-mini-2024-07-18"
    assert result.usage == Usage(
        prompt_tokens=12,
        completion_tokens=16,
        total_tokens=28,
        reasoning_tokens=0,
        cached_tokens=0,
    )
    assert result.response_text == "1, 2, 3"
    assert result.finish_reason == "max_output_tokens"
    assert result.status == "incomplete"
    assert result.terminal_seen is True
    assert result.error_kind is None


def test_b51_response_failed_without_usage() -> None:
    stream = (DATA / "B51.sse").read_bytes().split(b"event: response.incomplete")[0]
    stream += events(
        {
            "type": "response.failed",
            "response": {
                "id": "resp_5",
                "status": "failed",
                "error": {"code": "server_error", "message": "The model failed."},
                "usage": None,
            },
        }
    )

    _, result = run(stream)

    assert result.usage is None
    assert result.response_text == "1, 2, 3"
    assert result.finish_reason == "failed"
    assert result.terminal_seen is True
    assert result.error_kind == "upstream_error_event"
    assert result.error_message == "The model failed."


def test_b51_estimate_when_terminal_event_has_no_usage() -> None:
    request = orjson.loads((DATA / "B51.request.json").read_bytes())
    stream = (DATA / "B51.sse").read_bytes().replace(b',"usage":{', b',"x":{')
    _, result = run(stream)

    usage = estimate_usage("responses", request, result, None)

    # "Count to 100" is 4 tokens, "1, 2, 3" 7.
    assert result.usage is None
    assert usage == Usage(4, 7, 11, source="estimated")


def test_model_of_the_terminal_event_wins() -> None:
    stream = events(
        {"type": "response.created", "response": {"id": "r", "model": "gpt-4o"}},
        {"type": "response.in_progress", "response": {"id": "", "model": ""}},
        {"type": "response.completed", "response": {"id": "x", "model": "gpt-4o-1"}},
    )

    _, result = run(stream)

    assert (result.request_id, result.model) == ("r", "gpt-4o-1")


def test_text_joined_per_output_item_in_order() -> None:
    stream = events(
        {"type": "response.output_text.delta", "output_index": 2, "delta": "C"},
        {"type": "response.output_text.delta", "output_index": 0, "delta": "A"},
        {"type": "response.output_text.delta", "output_index": 2, "delta": "c"},
        {"type": "response.output_text.delta", "output_index": 0, "delta": "a"},
        {"type": "response.output_text.done", "output_index": 1, "text": "B"},
        {"type": "response.output_text.done", "output_index": 0, "text": "Aa"},
        {"type": "response.refusal.delta", "output_index": 3, "delta": "No"},
        {"type": "response.refusal.delta", "output_index": 3, "delta": "pe"},
        {"type": "response.completed", "response": {"status": "completed"}},
    )

    _, result = run(stream)

    assert result.response_text == "AaBCc"
    assert result.choices[0].refusal == "Nope"


def test_text_from_done_events_when_no_deltas_came() -> None:
    stream = events(
        {
            "type": "response.content_part.done",
            "output_index": 0,
            "content_index": 0,
            "part": {"type": "output_text", "text": "Hello "},
        },
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {
                "type": "message",
                "content": [
                    {"type": "output_text", "text": "Hello "},
                    {"type": "output_text", "text": "world"},
                ],
            },
        },
    )

    _, result = run(stream)

    assert result.response_text == "Hello world"
    assert result.terminal_seen is False
    assert result.error_kind == "upstream_truncated"
    assert result.finish_reason is None


def test_error_event() -> None:
    stream = events(
        {"type": "response.created", "response": {"id": "resp_e"}},
        {"type": "error", "code": "rate_limit_exceeded", "message": "Slow down."},
    )

    _, result = run(stream)

    assert result.error_kind == "upstream_error_event"
    assert result.error_message == "Slow down."
    assert result.terminal_seen is False


def test_event_type_taken_from_the_event_field_when_data_lacks_it() -> None:
    accumulator = stream_accumulator("responses")
    data = '{"output_index":0,"delta":"Hi"}'
    event = SseEvent(raw=b"", event="response.output_text.delta", data=data)

    accumulator.feed(event)

    assert accumulator.result().response_text == "Hi"


@pytest.mark.parametrize(
    "data",
    [
        "{}",
        '{"type":5}',
        '{"type":"response.completed","response":"x"}',
        '{"type":"response.completed","response":{"output":"x","usage":[]}}',
        '{"type":"response.completed","response":{"output":[1,{"type":"message",'
        '"content":"x"},{"type":"function_call","arguments":5}]}}',
        '{"type":"response.output_item.added","item":null}',
        '{"type":"response.output_item.added","item":{"type":"function_call"}}',
        '{"type":"response.output_text.delta","delta":null,"output_index":"1"}',
        '{"type":"response.function_call_arguments.delta","item_id":5,"delta":"x"}',
        '{"type":"response.function_call_arguments.done","arguments":{}}',
        '{"type":"response.incomplete","response":{"incomplete_details":"x"}}',
        '{"type":"error","error":"text"}',
        "[DONE]",
        "not json",
    ],
)
def test_odd_events_never_raise(data: str) -> None:
    accumulator = stream_accumulator("responses")

    accumulator.feed(SseEvent(raw=b"", data=data))
    result = accumulator.result()

    assert result.kind == "responses"
    result.response_messages()


def test_b31_non_streamed_body() -> None:
    result = parse_response("responses", (DATA / "B31.response.json").read_bytes())

    assert result.request_id == "resp_3"
    assert result.model == "gpt-4o"
    assert result.usage == Usage(12, 5, 17)
    assert result.response_text == "Hello"
    assert result.status == "completed"
    assert result.terminal_seen is True
    assert result.error_kind is None


def test_non_streamed_body_with_function_call_and_refusal() -> None:
    body = {
        "id": "resp_7",
        "status": "completed",
        "model": "gpt-4.1",
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "refusal", "refusal": "I can't."}],
            },
            {
                "type": "function_call",
                "call_id": "call_3",
                "name": "get_weather",
                "arguments": '{"city":"서울"}',
            },
        ],
        "usage": {
            "input_tokens": 50,
            "output_tokens": 20,
            "total_tokens": 70,
            "input_tokens_details": {"cached_tokens": 32},
            "output_tokens_details": {"reasoning_tokens": 12},
        },
    }

    result = parse_response("responses", orjson.dumps(body))

    assert result.usage == Usage(50, 20, 70, reasoning_tokens=12, cached_tokens=32)
    assert result.response_messages() == [
        {
            "role": "assistant",
            "content": None,
            "finish_reason": "completed",
            "index": 0,
            "tool_calls": [
                {
                    "call_id": "call_3",
                    "name": "get_weather",
                    "arguments": '{"city":"서울"}',
                }
            ],
            "refusal": "I can't.",
        }
    ]


def test_non_streamed_failed_body_keeps_message() -> None:
    body = b'{"id":"r","status":"failed","error":{"message":"Boom."},"output":[]}'

    result = parse_response("responses", body)

    assert result.status == "failed"
    assert result.finish_reason == "failed"
    assert result.error_message == "Boom."
    assert result.error_kind is None


def test_estimate_instructions_and_input_items() -> None:
    request = {
        "model": "gpt-4o",
        "instructions": "lookup",
        "input": [
            {"role": "user", "content": "lookup"},
            {"role": "user", "content": [{"type": "input_text", "text": "lookup"}]},
            {"type": "function_call_output", "call_id": "c", "output": "lookup"},
            "lookup",
        ],
    }
    _, result = run((DATA / "B16.sse").read_bytes())

    usage = estimate_usage("responses", request, result, "gpt-4o")

    # "lookup" is 1 token, five times; the reply is the call: 1 + 7.
    assert usage == Usage(5, 8, 13, source="estimated")
