"""Tests for chat completions: stream reassembly, bodies, estimates."""

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
BOUNDARY = "‖".encode()  # marks a read boundary in the case files


def chunks_of(name: str) -> list[bytes]:
    """A case file's bytes, cut where the case shows a read boundary."""
    return (DATA / name).read_bytes().split(BOUNDARY)


def run(chunks: list[bytes]) -> tuple[list[EventKind], LlmResult]:
    """Relay ``chunks`` through a parser and a chat accumulator."""
    parser = SseParser()
    accumulator = stream_accumulator("chat")
    events = [event for chunk in chunks for event in parser.feed(chunk)]
    kinds = [accumulator.feed(event) for event in events + parser.flush()]
    return kinds, accumulator.result()


def usage_of(result: LlmResult) -> tuple[int | None, ...] | None:
    usage = result.usage
    if usage is None:
        return None
    return (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)


def function(name: str, arguments: str) -> dict[str, str]:
    return {"name": name, "arguments": arguments}


def data_event(payload: Any) -> SseEvent:
    data = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
    return SseEvent(raw=f"data: {data}\n\n".encode(), data=data)


# case file, event kinds, (request_id, model, usage, text, finish_reason)
STREAM_CASES = [
    (
        "B01.sse",
        ["chunk", "chunk", "chunk", "chunk", "usage_only", "done"],
        ("chatcmpl-A1", "gpt-4o-2024-08-06", (12, 5, 17), "Hello", "stop"),
    ),
    (
        "B03.sse",
        ["chunk", "chunk", "usage_only", "done"],
        ("c1", "o3-mini", (12, 205, 217), "4", "stop"),
    ),
    (
        "B04.sse",
        ["chunk", "chunk", "chunk", "done"],
        ("1", "m", (12, 5, 17), "Hello", "stop"),
    ),
    (
        "B07.sse",
        ["chunk", "usage_only", "done"],
        ("4", "m", (12, 5, 17), "Hello", "stop"),
    ),
    (
        "B10.sse",
        ["usage_only", "done"],
        ("6", "m", (12, 5, 17), "", None),
    ),
    (
        "B11.sse",
        ["chunk", "malformed", "done"],
        ("7", "m", None, "Hello", None),
    ),
    (
        "B12.sse",
        ["chunk", "chunk"],
        ("8", "DeepSeek-V3", (12, 5, 17), "Hello", "content_filter"),
    ),
    (
        "B13.sse",
        ["chunk", "chunk", "chunk", "chunk", "chunk", "usage_only", "done"],
        ("9", "gpt-4o-mini", (40, 18, 58), "Checking.", "tool_calls"),
    ),
    (
        "B17.sse",
        ["chunk"] * 6 + ["usage_only", "done"],
        ("11", "gpt-4o-mini", (12, 4, 16), "Azure.", "stop"),
    ),
    (
        "B19.sse",
        ["chunk", "chunk", "done"],
        ("12", "gpt-4.1", None, "무엇을 도와드릴까요?", "stop"),
    ),
    (
        "B26.sse",
        ["chunk", "chunk", "chunk", "done"],
        ("chatcmpl-A2", "gpt-4o", None, "Hello", "stop"),
    ),
]


@pytest.mark.parametrize(("name", "kinds", "row"), STREAM_CASES)
def test_stream_cases(name: str, kinds: list[str], row: tuple[Any, ...]) -> None:
    got_kinds, result = run(chunks_of(name))

    assert got_kinds == kinds
    assert (
        result.request_id,
        result.model,
        usage_of(result),
        result.response_text,
        result.finish_reason,
    ) == row
    assert result.terminal_seen is True
    if result.usage is not None:
        assert result.usage.source == "backend"


@pytest.mark.parametrize(("name", "kinds", "row"), STREAM_CASES)
def test_stream_cases_read_one_byte_at_a_time(
    name: str, kinds: list[str], row: tuple[Any, ...]
) -> None:
    stream = b"".join(chunks_of(name))

    _, whole = run([stream])
    _, bytewise = run([stream[i : i + 1] for i in range(len(stream))])

    assert bytewise == whole


def test_b01_azure_usage_chunk_and_prompt_filters() -> None:
    _, result = run(chunks_of("B01.sse"))

    assert result.error_kind is None
    assert result.prompt_filter_results == [
        {
            "prompt_index": 0,
            "content_filter_results": {
                "hate": {"filtered": False, "severity": "safe"},
                "self_harm": {"filtered": False, "severity": "safe"},
                "sexual": {"filtered": False, "severity": "safe"},
                "violence": {"filtered": False, "severity": "safe"},
            },
        }
    ]
    assert result.choices[0].content_filter_results == {
        "hate": {"filtered": False, "severity": "safe"}
    }
    assert result.content_filter_results == []
    assert result.response_messages() == [
        {"role": "assistant", "content": "Hello", "finish_reason": "stop", "index": 0}
    ]


def test_b03_reasoning_tokens_from_usage_details() -> None:
    _, result = run(chunks_of("B03.sse"))

    assert result.usage == Usage(
        prompt_tokens=12,
        completion_tokens=205,
        total_tokens=217,
        reasoning_tokens=192,
        cached_tokens=None,
        source="backend",
    )


def test_b04_last_usage_wins_and_is_never_added() -> None:
    _, result = run(chunks_of("B04.sse"))

    assert usage_of(result) == (12, 5, 17)


def test_b11_malformed_event_is_reported_and_kept() -> None:
    _, result = run(chunks_of("B11.sse"))

    assert result.error_kind == "upstream_malformed_event"
    assert result.malformed_events == ["upstream overloaded, please retry"]
    assert result.response_text == "Hello"


def test_malformed_events_are_truncated_and_bounded() -> None:
    accumulator = stream_accumulator("chat")

    kinds = {accumulator.feed(data_event("x" * 5000)) for _ in range(30)}
    result = accumulator.result()

    assert kinds == {"malformed"}
    assert len(result.malformed_events) == 20
    assert result.malformed_events[0] == "x" * 1000


def test_b12_finish_reason_then_eof_is_success() -> None:
    _, result = run(chunks_of("B12.sse"))

    assert result.terminal_seen is True
    assert result.error_kind is None


def test_b13_tool_call_fragments_grouped_by_index() -> None:
    _, result = run(chunks_of("B13.sse"))

    assert result.choices[0].tool_calls == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        }
    ]
    assert result.response_messages() == [
        {
            "role": "assistant",
            "content": "Checking.",
            "finish_reason": "tool_calls",
            "index": 0,
            "tool_calls": result.choices[0].tool_calls,
        }
    ]


def test_two_parallel_tool_calls_and_repeated_names() -> None:
    accumulator = stream_accumulator("chat")
    fragments = [
        {"index": 0, "id": "call_a", "function": {"name": "f", "arguments": ""}},
        {"index": 1, "id": "call_b", "function": {"name": "g", "arguments": "{"}},
        {"index": 0, "function": {"name": "f", "arguments": '{"x":'}},
        {"index": 0, "function": {"arguments": "1}"}},
        {"index": 1, "function": {"arguments": "}"}},
    ]
    for fragment in fragments:
        choice = {"index": 0, "delta": {"tool_calls": [fragment]}}
        accumulator.feed(data_event({"id": "t", "choices": [choice]}))

    calls = accumulator.result().choices[0].tool_calls

    assert calls == [
        {"id": "call_a", "type": "function", "function": function("f", '{"x":1}')},
        {"id": "call_b", "type": "function", "function": function("g", "{}")},
    ]


def test_legacy_function_call_and_refusal_deltas() -> None:
    accumulator = stream_accumulator("chat")
    deltas: list[dict[str, Any]] = [
        {"role": "assistant", "function_call": {"name": "lookup", "arguments": ""}},
        {"function_call": {"arguments": '{"q":'}},
        {"function_call": {"arguments": '"tea"}'}},
        {"refusal": "I can"},
        {"refusal": "not."},
    ]
    for delta in deltas:
        choice = {"index": 0, "delta": delta, "finish_reason": None}
        accumulator.feed(data_event({"choices": [choice]}))
    accumulator.feed(data_event({"choices": [{"index": 0, "finish_reason": "stop"}]}))

    result = accumulator.result()

    assert result.response_messages() == [
        {
            "role": "assistant",
            "content": None,
            "finish_reason": "stop",
            "index": 0,
            "function_call": {"name": "lookup", "arguments": '{"q":"tea"}'},
            "refusal": "I cannot.",
        }
    ]
    assert result.terminal_seen is True


def test_b17_choices_kept_apart_by_index() -> None:
    _, result = run(chunks_of("B17.sse"))

    assert [(c.index, c.text, c.finish_reason) for c in result.choices] == [
        (0, "Azure.", "stop"),
        (1, "Blue.", "stop"),
    ]
    assert [m["content"] for m in result.response_messages()] == ["Azure.", "Blue."]


def test_b17_terminal_needs_a_finish_reason_on_every_choice() -> None:
    events = (DATA / "B17.sse").read_bytes().split(b"\n\n")

    _, result = run([b"\n\n".join(events[:5]) + b"\n\n"])

    assert [c.finish_reason for c in result.choices] == ["stop", None]
    assert result.terminal_seen is False
    assert result.error_kind == "upstream_truncated"


def test_b19_korean_text_exact() -> None:
    _, result = run(chunks_of("B19.sse"))

    assert result.response_text == "무엇을 도와드릴까요?"
    assert "\ufffd" not in result.response_text
    assert "을".encode() == b"\xec\x9d\x84"


def test_b24_azure_empty_first_chunk_then_normal_chunks() -> None:
    first = (DATA / "B01.sse").read_bytes().split(b"\n\n")[0] + b"\n\n"
    stream = first + (DATA / "B36.sse").read_bytes() + b"data: [DONE]\n\n"

    kinds, result = run([stream])

    assert kinds == ["chunk", "chunk", "chunk", "chunk", "done"]
    assert result.prompt_filter_results is not None
    assert result.prompt_filter_results[0]["prompt_index"] == 0
    assert result.request_id == "15"
    assert result.model == "gpt-4o-mini"
    assert result.response_text == "The keeper woke"


def test_b26_annotation_chunks_add_verdicts_not_text() -> None:
    _, result = run(chunks_of("B26.sse"))

    assert len(result.choices) == 1
    assert result.content_filter_results == [
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
    assert result.choices[0].content_filter_results is None


def test_b36_truncated_stream_keeps_partial_text() -> None:
    parser = SseParser()
    accumulator = stream_accumulator("chat")
    texts = []
    for event in parser.feed((DATA / "B36.sse").read_bytes()):
        accumulator.feed(event)
        texts.append(accumulator.result().response_text)

    result = accumulator.result()

    assert texts == ["The", "The keeper", "The keeper woke"]
    assert result.error_kind == "upstream_truncated"
    assert result.terminal_seen is False
    assert result.finish_reason is None
    assert result.usage is None


@pytest.mark.parametrize(
    "data",
    [
        "{}",
        "[]",
        "42",
        "null",
        '"text"',
        "",
        "{bad json",
        '{"choices":null,"usage":"lots","id":5,"model":[]}',
        '{"choices":[null,1,"x",[]]}',
        '{"choices":[{"delta":null}]}',
        '{"choices":[{"index":"0","delta":{"content":5,"role":7}}]}',
        '{"choices":[{"index":true,"delta":{"content":"a"}}]}',
        '{"choices":[{"delta":{"tool_calls":"x","function_call":[]}}]}',
        '{"choices":[{"delta":{"tool_calls":[null,{"index":0,"function":null}]}}]}',
        '{"choices":[{"delta":{"tool_calls":[{"index":-3,"function":{}}]}}]}',
        '{"choices":[{"finish_reason":3,"content_filter_results":[]}]}',
        '{"choices":[],"usage":{"prompt_tokens":"12","total_tokens":1e400}}',
        '{"choices":[],"usage":{"completion_tokens_details":"x"}}',
        '{"prompt_filter_results":{"not":"a list"},"error":"boom"}',
        '{"choices":[{"index":99999999999999999999,"delta":{"content":"a"}}]}',
        "[" * 5000 + "]" * 5000,
    ],
)
def test_odd_events_never_raise(data: str) -> None:
    accumulator = stream_accumulator("chat")

    accumulator.feed(data_event(data))
    accumulator.feed(SseEvent(raw=b": ping\n\n"))
    result = accumulator.result()

    assert result.kind == "chat"
    result.response_messages()


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        (SseEvent(raw=b": keep-alive\n\n"), "comment"),
        (SseEvent(raw=b"data: [DONE]\n\n", data="[DONE]"), "done"),
        (SseEvent(raw=b"data:  [DONE] \n\n", data=" [DONE] "), "done"),
        (data_event("upstream overloaded"), "malformed"),
        (data_event({"choices": [], "usage": {"total_tokens": 1}}), "usage_only"),
        (data_event({"choices": [], "usage": None}), "chunk"),
        (data_event({"choices": [{"index": 0, "delta": {}}], "usage": {}}), "chunk"),
        (data_event({"error": {"message": "overloaded"}}), "chunk"),
    ],
)
def test_event_kinds(event: SseEvent, kind: str) -> None:
    assert stream_accumulator("chat").feed(event) == kind


def test_error_event_in_chat_stream() -> None:
    accumulator = stream_accumulator("chat")

    accumulator.feed(data_event({"error": {"message": "overloaded", "code": 529}}))
    result = accumulator.result()

    assert result.error_kind == "upstream_error_event"
    assert result.error_message == "overloaded"


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (
            {"prompt_tokens": 12, "completion_tokens": 5},
            Usage(12, 5, 17),
        ),
        (
            {
                "prompt_tokens": 2006,
                "completion_tokens": 300,
                "total_tokens": 2306,
                "prompt_tokens_details": {"cached_tokens": 1920},
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
            Usage(2006, 300, 2306, reasoning_tokens=0, cached_tokens=1920),
        ),
        ({"total_tokens": 9}, Usage(None, None, 9)),
        ({}, None),
    ],
)
def test_usage_fields(usage: dict[str, Any], expected: Usage | None) -> None:
    accumulator = stream_accumulator("chat")

    accumulator.feed(data_event({"choices": [], "usage": usage}))

    assert accumulator.result().usage == expected


def test_b21_non_streamed_korean_body() -> None:
    result = parse_response("chat", (DATA / "B21.response.json").read_bytes())

    assert result.request_id == "c14"
    assert result.response_text == "반갑습니다"
    assert usage_of(result) == (12, 5, 17)
    assert result.finish_reason == "stop"
    assert result.terminal_seen is True
    assert result.error_kind is None


def test_non_streamed_body_with_everything() -> None:
    body = {
        "id": "chatcmpl-B",
        "model": "gpt-4o-2024-08-06",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
        "choices": [
            {
                "index": 1,
                "message": {"role": "assistant", "content": None, "refusal": "No."},
                "finish_reason": "stop",
            },
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                    "function_call": {"name": "f", "arguments": "{}"},
                },
                "finish_reason": "tool_calls",
                "content_filter_results": {"hate": {"filtered": False}},
            },
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    }

    result = parse_response("chat", orjson.dumps(body))

    assert result.request_id == "chatcmpl-B"
    assert result.model == "gpt-4o-2024-08-06"
    assert result.prompt_filter_results == body["prompt_filter_results"]
    assert result.response_messages() == [
        {
            "role": "assistant",
            "content": "Checking.",
            "finish_reason": "tool_calls",
            "index": 0,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "f", "arguments": "{}"},
                }
            ],
            "function_call": {"name": "f", "arguments": "{}"},
        },
        {
            "role": "assistant",
            "content": None,
            "finish_reason": "stop",
            "index": 1,
            "refusal": "No.",
        },
    ]
    assert result.choices[0].content_filter_results == {"hate": {"filtered": False}}


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[1,2]", b'"text"', b"\xff\xfe", b'{"choices":'],
)
def test_malformed_bodies(body: bytes) -> None:
    result = parse_response("chat", body)

    assert result.error_kind == "upstream_malformed_body"
    assert result.malformed_events == [body.decode("utf-8", "replace")]
    assert result.usage is None


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b'{"choices":"x","usage":[],"id":1}',
        b'{"choices":[{"message":"x"},{"message":{"content":[{"text":"a"},5]}}]}',
        b'{"choices":[{"message":{"tool_calls":"x","function_call":1}}]}',
        b'{"error":{"message":"bad request","type":"invalid_request_error"}}',
    ],
)
def test_odd_bodies_never_raise(body: bytes) -> None:
    result = parse_response("chat", body)

    assert result.error_kind is None
    result.response_messages()


def test_body_error_message_kept() -> None:
    body = b'{"error":{"message":"bad request","type":"invalid_request_error"}}'

    assert parse_response("chat", body).error_message == "bad request"


def test_estimate_when_backend_sent_no_usage() -> None:
    request = orjson.loads((DATA / "B13.request.json").read_bytes())
    _, result = run(chunks_of("B13.sse"))
    result.usage = None

    usage = estimate_usage("chat", request, result, "gpt-4o-mini")

    # prompt: 3 + 4 ("Weather in Paris?") + 3 priming; completion:
    # 2 ("Checking.") + 2 ("get_weather") + 5 ('{"city":"Paris"}').
    assert usage == Usage(10, 9, 19, source="estimated")


def test_estimate_b21_cjk_and_list_content() -> None:
    request = orjson.loads((DATA / "B21.request.json").read_bytes())
    request["messages"].append(
        {"role": "user", "content": [{"type": "text", "text": "안녕하세요, 你好 👋"}]}
    )
    result = parse_response("chat", (DATA / "B21.response.json").read_bytes())

    usage = estimate_usage("chat", request, result, None)

    # 2 x (3 + 7) + 3 priming; "반갑습니다" is 3 tokens.
    assert usage == Usage(23, 3, 26, source="estimated")


@pytest.mark.parametrize("request_body", [None, [], "x", {"messages": "x"}])
def test_estimate_odd_requests(request_body: Any) -> None:
    result = LlmResult(kind="chat")

    usage = estimate_usage("chat", request_body, result, None)

    assert usage == Usage(0, 0, 0, source="estimated")


def test_b47_bridged_body_read_once() -> None:
    result = parse_response("chat", (DATA / "B47.response.json").read_bytes())

    assert (result.request_id, usage_of(result)) == ("c18", (12, 5, 17))
    assert result.response_messages() == [
        {"role": "assistant", "content": "Hello", "finish_reason": "stop", "index": 0}
    ]
