"""Tests for legacy completions: stream reassembly, bodies, estimates."""

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
from tollhouse.sse import SseParser

DATA = Path(__file__).parent / "data"

B02_USAGE_FRAME = (
    b'data: {"id":"cmpl-1","object":"text_completion","created":1,'
    b'"model":"llama-3-8b","choices":[],"usage":{"prompt_tokens":12,'
    b'"completion_tokens":5,"total_tokens":17}}\n\n'
)


def run(stream: bytes) -> tuple[list[EventKind], LlmResult]:
    parser = SseParser()
    accumulator = stream_accumulator("completions")
    kinds = [accumulator.feed(event) for event in parser.feed(stream)]
    kinds += [accumulator.feed(event) for event in parser.flush()]
    return kinds, accumulator.result()


def test_b02_stream_without_usage_frame() -> None:
    kinds, result = run((DATA / "B02.sse").read_bytes())

    assert kinds == ["chunk", "chunk", "done"]
    assert result.kind == "completions"
    assert result.request_id == "cmpl-1"
    assert result.model == "llama-3-8b"
    assert result.usage is None
    assert result.response_text == "Hello"
    assert result.finish_reason == "stop"
    assert result.terminal_seen is True
    assert result.error_kind is None


def test_b02_stream_with_the_usage_frame_vllm_adds() -> None:
    stream = (DATA / "B02.sse").read_bytes()
    done = stream.index(b"data: [DONE]")

    kinds, result = run(stream[:done] + B02_USAGE_FRAME + stream[done:])

    assert kinds == ["chunk", "chunk", "usage_only", "done"]
    assert result.usage == Usage(12, 5, 17, source="backend")
    assert result.response_text == "Hello"


def test_b02_missing_usage_is_estimated_never_zero() -> None:
    request = {"model": "llama-3-8b", "prompt": "Say hello", "max_tokens": 8}
    _, result = run((DATA / "B02.sse").read_bytes())

    usage = estimate_usage("completions", request, result, None)

    # "Say hello" is 2 tokens and "Hello" 1 with cl100k_base.
    assert usage == Usage(2, 1, 3, source="estimated")


@pytest.mark.parametrize(
    ("prompt", "tokens"),
    [
        ("Say hello", 2),
        (["Say hello", "Say hello"], 4),
        ([15339, 1917], 2),
        ([[15339], [15339, 1917, 0]], 4),
        (None, 0),
        ({"text": "x"}, 0),
    ],
)
def test_estimate_prompt_shapes(prompt: Any, tokens: int) -> None:
    usage = estimate_usage(
        "completions", {"prompt": prompt}, LlmResult(kind="completions"), "x"
    )

    assert usage == Usage(tokens, 0, tokens, source="estimated")


def test_n2_stream_keeps_choices_apart() -> None:
    choices = [
        {"index": 0, "text": "Az"},
        {"index": 1, "text": "Bl"},
        {"index": 1, "text": "ue", "finish_reason": "stop"},
        {"index": 0, "text": "ure", "finish_reason": "length"},
    ]
    stream = b"".join(
        b"data: " + orjson.dumps({"id": "cmpl-2", "choices": [choice]}) + b"\n\n"
        for choice in choices
    )

    _, result = run(stream)

    assert [(c.index, c.text, c.finish_reason) for c in result.choices] == [
        (0, "Azure", "length"),
        (1, "Blue", "stop"),
    ]
    assert result.terminal_seen is True


def test_non_streamed_body() -> None:
    body = {
        "id": "cmpl-3",
        "object": "text_completion",
        "model": "gpt-3.5-turbo-instruct",
        "choices": [
            {"index": 1, "text": " two", "finish_reason": "stop"},
            {"index": 0, "text": "안녕", "finish_reason": "length", "logprobs": None},
        ],
        "usage": {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10},
    }

    result = parse_response("completions", orjson.dumps(body))

    assert result.request_id == "cmpl-3"
    assert result.model == "gpt-3.5-turbo-instruct"
    assert result.usage == Usage(4, 6, 10)
    assert result.response_messages() == [
        {"role": "assistant", "content": "안녕", "finish_reason": "length", "index": 0},
        {"role": "assistant", "content": " two", "finish_reason": "stop", "index": 1},
    ]


@pytest.mark.parametrize(
    "body",
    [b"{}", b'{"choices":[{"text":5},null,{"index":"x"}]}', b'{"choices":{}}'],
)
def test_odd_bodies_never_raise(body: bytes) -> None:
    result = parse_response("completions", body)

    assert result.error_kind is None
    result.response_messages()


def test_malformed_body() -> None:
    result = parse_response("completions", b"<html>502 Bad Gateway</html>")

    assert result.error_kind == "upstream_malformed_body"
    assert result.malformed_events == ["<html>502 Bad Gateway</html>"]
