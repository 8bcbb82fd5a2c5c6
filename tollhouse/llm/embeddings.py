"""Embeddings (``/embeddings``): counts from a body, never the vectors.

The LLM log keeps how many inputs were embedded and the vector size; the
vectors themselves are dropped.  Some backends report only ``total_tokens``
(B53), which then stands for the prompt tokens: embeddings produce no
completion tokens.
"""

from __future__ import annotations

import logging
from typing import Any

from tollhouse.llm.result import LlmResult, Usage, read_usage, text_or_none

logger = logging.getLogger(__name__)


def parse_embeddings(obj: dict[str, Any]) -> LlmResult:
    """Read an embeddings body: model, usage, input count and dimensions."""
    data = obj.get("data")
    items = data if isinstance(data, list) else []
    first = items[0] if items and isinstance(items[0], dict) else {}
    return LlmResult(
        kind="embeddings",
        request_id=text_or_none(obj.get("id")),
        model=text_or_none(obj.get("model")),
        usage=embedding_usage(obj.get("usage")),
        terminal_seen=True,
        input_count=len(items) if isinstance(data, list) else None,
        embedding_dims=vector_dims(first.get("embedding")),
    )


def embedding_usage(obj: Any) -> Usage | None:
    """Usage with the prompt falling back to the total, completion 0 (B53)."""
    usage = read_usage(obj)
    if usage is None:
        return None
    if usage.prompt_tokens is None:
        usage.prompt_tokens = usage.total_tokens
    if usage.total_tokens is None:
        usage.total_tokens = usage.prompt_tokens
    if usage.completion_tokens is None:
        usage.completion_tokens = 0
    return usage


def vector_dims(embedding: Any) -> int | None:
    """The length of a float list, or of a base64 float32 string (B54).

    A base64 vector is little-endian float32, so its decoded size over 4;
    the size is computed from the text length, without decoding.
    """
    if isinstance(embedding, list):
        return len(embedding)
    if isinstance(embedding, str):
        digits = len(embedding.strip().rstrip("="))
        return digits * 3 // 4 // 4
    return None
