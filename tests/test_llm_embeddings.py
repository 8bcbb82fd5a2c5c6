"""Tests for embeddings: counts from bodies, never the vectors."""

from __future__ import annotations

import base64
import struct
from pathlib import Path
from typing import Any

import orjson
import pytest

from tollhouse.llm import (
    LlmResult,
    Usage,
    estimate_usage,
    parse_response,
    request_messages,
)

DATA = Path(__file__).parent / "data"


def test_b53_total_only_usage_and_counts() -> None:
    result = parse_response("embeddings", (DATA / "B53.response.json").read_bytes())

    assert result.usage == Usage(7, 0, 7, source="backend")
    assert result.model == "bge-m3"
    assert result.input_count == 2
    assert result.embedding_dims == 3
    assert result.response_messages() == []
    assert result.error_kind is None


def test_b53_request_messages_are_the_inputs() -> None:
    request = orjson.loads((DATA / "B53.request.json").read_bytes())

    assert request_messages("embeddings", request) == [
        {"role": "user", "content": "hello world"},
        {"role": "user", "content": "second text"},
    ]


def test_b54_base64_vector_dims() -> None:
    result = parse_response("embeddings", (DATA / "B54.response.json").read_bytes())

    assert result.usage == Usage(1, 0, 1, source="backend")
    assert result.input_count == 1
    assert result.embedding_dims == 2
    assert base64.b64decode("AAAAAAAAgD8=") == struct.pack("<2f", 0.0, 1.0)


@pytest.mark.parametrize("dims", [1, 2, 3, 256, 1536, 3072])
def test_base64_dims_match_the_decoded_size(dims: int) -> None:
    vector = base64.b64encode(struct.pack(f"<{dims}f", *range(dims))).decode()
    body = {"data": [{"index": 0, "embedding": vector}], "usage": {"prompt_tokens": 3}}

    result = parse_response("embeddings", orjson.dumps(body))

    assert result.embedding_dims == dims
    assert result.usage == Usage(3, 0, 3)


@pytest.mark.parametrize(
    ("body", "count", "dims"),
    [
        ({"data": []}, 0, None),
        ({"data": [{"embedding": None}]}, 1, None),
        ({"data": "x"}, None, None),
        ({"data": [5, {"embedding": [1.0]}]}, 2, None),
        ({}, None, None),
    ],
)
def test_odd_bodies(body: dict[str, Any], count: int | None, dims: int | None) -> None:
    result = parse_response("embeddings", orjson.dumps(body))

    assert (result.input_count, result.embedding_dims) == (count, dims)
    assert result.usage is None
    assert result.error_kind is None


def test_malformed_body() -> None:
    result = parse_response("embeddings", b"upstream connect error")

    assert result.error_kind == "upstream_malformed_body"
    assert result.malformed_events == ["upstream connect error"]


@pytest.mark.parametrize(
    ("request_body", "prompt_tokens"),
    [
        ({"model": "bge-m3", "input": ["hello world", "second text"]}, 4),
        ({"input": "hello"}, 1),
        ({"input": [15339, 1917, 0]}, 3),
        ({"input": [[15339], [1917, 0]]}, 3),
        ({"input": 5}, 0),
    ],
)
def test_estimate_when_usage_missing(
    request_body: dict[str, Any], prompt_tokens: int
) -> None:
    result = LlmResult(kind="embeddings", input_count=2, embedding_dims=3)

    usage = estimate_usage("embeddings", request_body, result, "bge-m3")

    assert usage == Usage(prompt_tokens, 0, prompt_tokens, source="estimated")


@pytest.mark.parametrize(
    ("value", "messages"),
    [
        ("hello", [{"role": "user", "content": "hello"}]),
        ([1, 2, 3], [{"role": "user", "content": "<3 tokens>"}]),
        (
            [[1, 2], [3]],
            [
                {"role": "user", "content": "<2 tokens>"},
                {"role": "user", "content": "<1 tokens>"},
            ],
        ),
        (None, []),
        ({"a": 1}, []),
    ],
)
def test_request_messages_shapes(value: Any, messages: list[Any]) -> None:
    assert request_messages("embeddings", {"input": value}) == messages
