"""Offline token estimates for responses whose backend reported no usage.

The LLM log marks these counts as estimated: they cannot see hidden
reasoning tokens and are only as good as the tokenizer guess for the model.
Chat prompts follow OpenAI's published recipe: 3 tokens per message plus its
content, and 3 more that prime the reply.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from tollhouse.llm.result import Choice, LlmKind, LlmResult, Usage
from tollhouse.tokens import count_tokens

logger = logging.getLogger(__name__)

TOKENS_PER_MESSAGE = 3
TOKENS_REPLY_PRIMING = 3


def estimate_usage(
    kind: LlmKind, request_body: Any, result: LlmResult, model: str | None
) -> Usage:
    """Estimate prompt and completion tokens with the offline tokenizer.

    ``model`` picks the tokenizer (falling back to the response's and the
    request's model).  Tool calls count their name and arguments, on both
    sides.  The usage has ``source="estimated"``, or ``"none"``
    with no counts if the estimate itself failed.
    """
    body = request_body if isinstance(request_body, dict) else {}
    if model is None:
        model = result.model or _str(body.get("model"))
    try:
        prompt = _prompt_tokens(kind, body, model)
        completion = sum(_choice_tokens(choice, model) for choice in result.choices)
    except Exception:
        logger.warning("could not estimate %s token usage", kind, exc_info=True)
        return Usage(None, None, None, source="none")
    if kind == "embeddings":
        completion = 0
    return Usage(prompt, completion, prompt + completion, source="estimated")


def _prompt_tokens(kind: LlmKind, body: dict[str, Any], model: str | None) -> int:
    if kind == "chat":
        messages = body.get("messages")
        if not isinstance(messages, list):
            return 0
        counted = (_tokens(_message_texts(m), model) for m in _dicts(messages))
        return sum(TOKENS_PER_MESSAGE + n for n in counted) + TOKENS_REPLY_PRIMING
    if kind == "responses":
        texts: list[str | None] = [_str(body.get("instructions"))]
        items = body.get("input")
        if isinstance(items, str):
            texts.append(items)
        elif isinstance(items, list):
            texts.extend(_item_texts(items))
        return _tokens(texts, model)
    field = "prompt" if kind == "completions" else "input"
    return _input_tokens(body.get(field), model)


def _input_tokens(value: Any, model: str | None) -> int:
    """Tokens of a prompt or input: text, texts, or token id arrays."""
    if isinstance(value, str):
        return count_tokens(value, model)
    if not isinstance(value, list) or not value:
        return 0
    if isinstance(value[0], int):
        return len(value)
    total = 0
    for item in value:
        if isinstance(item, str):
            total += count_tokens(item, model)
        elif isinstance(item, list):
            total += len(item)
    return total


def _choice_tokens(choice: Choice, model: str | None) -> int:
    texts: list[str | None] = [choice.text, choice.refusal]
    for call in [*choice.tool_calls, choice.function_call or {}]:
        function = call.get("function", call)  # chat nests name and arguments
        if isinstance(function, dict):
            texts += [_str(function.get("name")), _str(function.get("arguments"))]
    return _tokens(texts, model)


def _message_texts(message: dict[str, Any]) -> Iterator[str | None]:
    """The texts of a chat message: its content and any tool-call arguments."""
    yield from _content_texts(message.get("content"))
    for call in _dicts(message.get("tool_calls")):
        function = call.get("function")
        if isinstance(function, dict):
            yield _str(function.get("name"))
            yield _str(function.get("arguments"))


def _item_texts(items: list[Any]) -> Iterator[str | None]:
    """The texts of Responses API input items."""
    for item in items:
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            yield from _content_texts(item.get("content"))
            yield _str(item.get("output"))  # function_call_output
            yield _str(item.get("arguments"))  # function_call


def _content_texts(content: Any) -> Iterator[str | None]:
    if isinstance(content, str):
        yield content
    for part in _dicts(content):
        yield _str(part.get("text"))


def _tokens(texts: Iterable[str | None], model: str | None) -> int:
    return sum(count_tokens(text, model) for text in texts if text)


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
