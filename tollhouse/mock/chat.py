"""Chat completions and legacy completions, whole or streamed.

Both echo the prompt (or ``x-mock-reply``) and report usage counted with
the offline tokenizer.  Azure-shaped answers carry the content-filter
verdicts Azure OpenAI adds: ``prompt_filter_results`` on the completion
(in a stream, on a first event with no choices) and
``content_filter_results`` on every choice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, Final

import orjson

from tollhouse.mock.errors import RequestRejected
from tollhouse.mock.exchange import FINGERPRINT, Answer, Exchange, answer, new_id, now
from tollhouse.mock.replies import DONE, Reply, Stream, data_event, json_body
from tollhouse.mock.text import (
    content_text,
    conversation_tokens,
    last_user_text,
    pieces,
    tokens,
)

logger = logging.getLogger(__name__)

_SAFE: Final = {"filtered": False, "severity": "safe"}
_UNDETECTED: Final = {"filtered": False, "detected": False}
# Serialized once; every Azure-shaped chunk embeds them as they are.
_CHOICE_FILTERS: Final = orjson.Fragment(
    orjson.dumps(
        {
            "hate": _SAFE,
            "protected_material_code": _UNDETECTED,
            "protected_material_text": _UNDETECTED,
            "self_harm": _SAFE,
            "sexual": _SAFE,
            "violence": _SAFE,
        }
    )
)
_NO_FILTERS: Final = orjson.Fragment(b"{}")
_PROMPT_FILTERS: Final = orjson.Fragment(
    orjson.dumps(
        [
            {
                "prompt_index": 0,
                "content_filter_results": {
                    "hate": _SAFE,
                    "jailbreak": _UNDETECTED,
                    "self_harm": _SAFE,
                    "sexual": _SAFE,
                    "violence": _SAFE,
                },
            }
        ]
    )
)


def chat_completions(exchange: Exchange) -> Reply:
    """Answer a chat completion by echoing the last user message."""
    messages = exchange.body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestRejected(
            "Missing required parameter: 'messages'.",
            param="messages",
            code="missing_required_parameter",
        )

    texts = (
        content_text(message.get("content"))
        for message in messages
        if isinstance(message, dict)
    )
    prompt_tokens = conversation_tokens(texts, exchange.model)
    limit = exchange.token_limit("max_completion_tokens", "max_tokens")
    reply = answer(exchange, last_user_text(messages), prompt_tokens, limit)

    n = exchange.choices()
    if exchange.stream:
        return Stream(_chat_events(exchange, reply, n))
    return json_body(_chat_document(exchange, reply, n))


def completions(exchange: Exchange) -> Reply:
    """Answer a legacy completion by echoing the prompt."""
    prompt = _prompt(exchange.body)
    prompt_tokens = tokens(prompt, exchange.model)
    limit = exchange.token_limit("max_tokens")
    reply = answer(exchange, prompt, prompt_tokens, limit)

    n = exchange.choices()
    if exchange.stream:
        return Stream(_completion_events(exchange, reply, n))
    return json_body(_completion_document(exchange, reply, n))


def chat_usage(reply: Answer, n: int) -> dict[str, Any]:
    """Chat usage as OpenAI reports it, details included."""
    completion = reply.completion_tokens * n
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": reply.prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _completion_usage(reply: Answer, n: int) -> dict[str, Any]:
    completion = reply.completion_tokens * n
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": reply.prompt_tokens + completion,
    }


def _prompt(body: dict[str, Any]) -> str:
    """The prompt to echo: a string, or the last string of a list of them."""
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and prompt:
        texts = [item for item in prompt if isinstance(item, str)]
        return texts[-1] if texts else ""  # token arrays echo nothing
    raise RequestRejected(
        "Missing required parameter: 'prompt'.",
        param="prompt",
        code="missing_required_parameter",
    )


# Whole answers


def _chat_document(exchange: Exchange, reply: Answer, n: int) -> dict[str, Any]:
    choices = []
    for index in range(n):
        choice = {
            "index": index,
            "message": _message(reply),
            "logprobs": None,
            "finish_reason": reply.finish_reason,
        }
        if exchange.azure:
            choice["content_filter_results"] = _CHOICE_FILTERS
        choices.append(choice)

    document = {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": now(),
        "model": exchange.model,
        "choices": choices,
        "system_fingerprint": FINGERPRINT,
    }
    return _finish_document(exchange, document, chat_usage(reply, n))


def _message(reply: Answer) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.tool is not None:
        function = {"name": reply.tool, "arguments": reply.text}
        call = {"id": reply.call_id, "type": "function", "function": function}
        message["content"] = None
        message["tool_calls"] = [call]
    message["refusal"] = None
    message["annotations"] = []
    return message


def _completion_document(exchange: Exchange, reply: Answer, n: int) -> dict[str, Any]:
    choices = []
    for index in range(n):
        choice = {
            "text": reply.text,
            "index": index,
            "logprobs": None,
            "finish_reason": reply.finish_reason,
        }
        if exchange.azure:
            choice["content_filter_results"] = _CHOICE_FILTERS
        choices.append(choice)

    document = {
        "id": new_id("cmpl-"),
        "object": "text_completion",
        "created": now(),
        "model": exchange.model,
        "choices": choices,
    }
    return _finish_document(exchange, document, _completion_usage(reply, n))


def _finish_document(
    exchange: Exchange, document: dict[str, Any], usage: dict[str, Any]
) -> dict[str, Any]:
    if exchange.azure:
        document["prompt_filter_results"] = _PROMPT_FILTERS
    if exchange.usage:
        document["usage"] = usage
    return document


# Streams


class _Chunks:
    """Frames the chunks of one stream with the fields each of them repeats."""

    def __init__(self, exchange: Exchange, kind: str, prefix: str) -> None:
        self._azure = exchange.azure
        self._base: dict[str, Any] = {
            "id": new_id(prefix),
            "object": kind,
            "created": now(),
            "model": exchange.model,
            "system_fingerprint": FINGERPRINT,
        }
        # With include_usage, OpenAI marks every chunk but the last usage-less.
        self._usage: dict[str, Any] = {"usage": None} if exchange.stream_usage else {}

    def prompt_filters(self) -> bytes:
        """Azure's first event: the prompt's filter verdicts and nothing else."""
        return data_event(
            {
                "choices": [],
                "created": 0,
                "id": "",
                "model": "",
                "object": "",
                "prompt_filter_results": _PROMPT_FILTERS,
                **self._usage,
            }
        )

    def choice(self, choice: dict[str, Any], *, filtered: bool) -> bytes:
        """A chunk for one choice; ``filtered`` marks one carrying new text."""
        if self._azure:
            choice["content_filter_results"] = (
                _CHOICE_FILTERS if filtered else _NO_FILTERS
            )
        return data_event({**self._base, "choices": [choice], **self._usage})

    def usage(self, usage: dict[str, Any]) -> bytes:
        """The closing chunk of ``include_usage``: no choices, only usage."""
        return data_event({**self._base, "choices": [], "usage": usage})


def _chat_events(exchange: Exchange, reply: Answer, n: int) -> Iterator[bytes]:
    chunks = _Chunks(exchange, "chat.completion.chunk", "chatcmpl-")
    if exchange.azure:
        yield chunks.prompt_filters()

    deltas = _chat_deltas(reply, exchange.settings.chunk_chars)
    for step, delta in enumerate(deltas):
        for index in range(n):
            choice = _delta_choice(index, delta, None)
            yield chunks.choice(choice, filtered=step > 0)
    for index in range(n):
        choice = _delta_choice(index, {}, reply.finish_reason)
        yield chunks.choice(choice, filtered=False)

    if exchange.stream_usage:
        yield chunks.usage(chat_usage(reply, n))
    yield DONE


def _delta_choice(
    index: int, delta: dict[str, Any], finish_reason: str | None
) -> dict[str, Any]:
    return {
        "index": index,
        "delta": delta,
        "logprobs": None,
        "finish_reason": finish_reason,
    }


def _chat_deltas(reply: Answer, size: int) -> Iterator[dict[str, Any]]:
    """The deltas of one choice: the role first, then the text piece by piece."""
    if reply.tool is None:
        yield {"role": "assistant", "content": "", "refusal": None}
        for piece in pieces(reply.text, size):
            yield {"content": piece}
        return

    function = {"name": reply.tool, "arguments": ""}
    call = {"index": 0, "id": reply.call_id, "type": "function", "function": function}
    yield {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None}
    for piece in pieces(reply.text, size):
        yield {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}


def _completion_events(exchange: Exchange, reply: Answer, n: int) -> Iterator[bytes]:
    chunks = _Chunks(exchange, "text_completion", "cmpl-")
    if exchange.azure:
        yield chunks.prompt_filters()

    for piece in pieces(reply.text, exchange.settings.chunk_chars):
        for index in range(n):
            choice = _text_choice(index, piece, None)
            yield chunks.choice(choice, filtered=True)
    for index in range(n):
        choice = _text_choice(index, "", reply.finish_reason)
        yield chunks.choice(choice, filtered=False)

    if exchange.stream_usage:
        yield chunks.usage(_completion_usage(reply, n))
    yield DONE


def _text_choice(index: int, text: str, finish_reason: str | None) -> dict[str, Any]:
    return {
        "text": text,
        "index": index,
        "logprobs": None,
        "finish_reason": finish_reason,
    }
