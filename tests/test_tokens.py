"""Offline token estimates."""

from __future__ import annotations

import pytest

from tollhouse.tokens import count_tokens, encoding_name_for


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-2024-11-20", "o200k_base"),
        ("gpt-4o-deployment", "o200k_base"),
        ("gpt-4.1-mini", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("gpt-35-turbo", "cl100k_base"),
        ("gemma", "cl100k_base"),
        (None, "cl100k_base"),
    ],
)
def test_encoding_by_model(model: str | None, encoding: str) -> None:
    assert encoding_name_for(model) == encoding


@pytest.mark.parametrize(
    ("text", "model", "tokens"),
    [
        ("", "gpt-4o", 0),
        ("안녕하세요, 반갑습니다. Hello world!", "gpt-4o", 10),
        ("안녕하세요, 반갑습니다. Hello world!", None, 14),
        ("hi <|endoftext|>", "gpt-4o", 8),
    ],
)
def test_counts(text: str, model: str | None, tokens: int) -> None:
    assert count_tokens(text, model) == tokens


def test_texts_over_a_million_characters_are_counted() -> None:
    text = "hello " * 400_000  # 2.4 million characters
    # "hello", then " hello" 399,999 times, then the final " ": as if uncut.
    assert count_tokens(text, "gpt-4o") == 400_001
