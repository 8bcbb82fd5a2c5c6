"""Legacy completions (``/completions``): reading a whole body.

Streamed completions share the chat stream reader (`ChatStream`), whose
choices also accept the ``text`` field these chunks carry.
"""

from __future__ import annotations

import logging
from typing import Any

from tollhouse.llm.chat import body_result, dicts
from tollhouse.llm.result import Choice, LlmResult, index_of, text_or_none

logger = logging.getLogger(__name__)


def parse_completions(obj: dict[str, Any]) -> LlmResult:
    """Read a whole (non-streamed) completions body."""
    result = body_result("completions", obj)
    choices = [_text_choice(i, choice) for i, choice in dicts(obj.get("choices"))]
    result.choices = sorted(choices, key=lambda choice: choice.index)
    return result


def _text_choice(position: int, choice: dict[str, Any]) -> Choice:
    text = choice.get("text")
    verdicts = choice.get("content_filter_results")
    return Choice(
        index=index_of(choice, "index", position),
        text=text if isinstance(text, str) else "",
        finish_reason=text_or_none(choice.get("finish_reason")),
        content_filter_results=verdicts if isinstance(verdicts, dict) else None,
    )
