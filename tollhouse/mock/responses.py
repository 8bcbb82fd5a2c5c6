"""The Responses API, whole or as its stream of typed events.

The reply echoes the last user input text.  A stream walks through the
events OpenAI sends, each numbered by ``sequence_number``, and ends with
``response.completed`` (``response.incomplete`` when a token limit cut the
text), which carries the usage; there is no ``[DONE]``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from tollhouse.mock.exchange import Answer, Exchange, answer, new_id, now
from tollhouse.mock.replies import Reply, Stream, json_body, named_event
from tollhouse.mock.text import (
    content_text,
    conversation_tokens,
    last_user_text,
    pieces,
)

logger = logging.getLogger(__name__)


def responses(exchange: Exchange) -> Reply:
    """Answer a Responses API request by echoing the last user input."""
    items = _input_items(exchange.body.get("input"))
    texts = [_item_text(item) for item in items]
    instructions = exchange.body.get("instructions")
    if isinstance(instructions, str):
        texts.append(instructions)

    prompt_tokens = conversation_tokens(texts, exchange.model)
    limit = exchange.token_limit("max_output_tokens")
    reply = answer(exchange, last_user_text(items), prompt_tokens, limit)

    shape = _Shape(exchange, reply)
    if exchange.stream:
        return Stream(_events(exchange, reply, shape))
    return json_body(shape.response(shape.status, [shape.item(shape.status)]))


def _input_items(value: Any) -> list[Any]:
    """The input as a list of items; a bare string is one user message."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return value if isinstance(value, list) else []


def _item_text(item: Any) -> str:
    """What an input item contributes to the prompt's token count."""
    if not isinstance(item, dict):
        return ""
    if "content" in item:
        return content_text(item["content"])
    for key in ("output", "arguments"):  # tool results and earlier tool calls
        if isinstance(item.get(key), str):
            return str(item[key])
    return ""


class _Shape:
    """Builds the response object and its output item at any stage."""

    def __init__(self, exchange: Exchange, reply: Answer) -> None:
        self.exchange = exchange
        self.reply = reply
        self.id = new_id("resp_")
        self.item_id = new_id("fc_" if reply.tool else "msg_")
        self.created = now()
        self.status = "incomplete" if reply.truncated else "completed"

    def usage(self) -> dict[str, Any] | None:
        """Usage as the Responses API reports it, unless usage is suppressed."""
        if not self.exchange.usage:
            return None
        prompt, completion = self.reply.prompt_tokens, self.reply.completion_tokens
        return {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + completion,
        }

    def text_part(self, text: str) -> dict[str, Any]:
        """An ``output_text`` content part holding ``text``."""
        return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}

    def item(self, status: str) -> dict[str, Any]:
        """The output item: a message, or a function call; empty in progress."""
        done = status != "in_progress"
        if self.reply.tool is not None:
            return {
                "id": self.item_id,
                "type": "function_call",
                "status": status,
                "arguments": self.reply.text if done else "",
                "call_id": self.reply.call_id,
                "name": self.reply.tool,
            }
        content = [self.text_part(self.reply.text)] if done else []
        return {
            "id": self.item_id,
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }

    def response(self, status: str, output: list[Any]) -> dict[str, Any]:
        """The response object; usage only once it has finished."""
        body = self.exchange.body
        incomplete = {"reason": "max_output_tokens"} if status == "incomplete" else None
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": incomplete,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": self.exchange.model,
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": None, "summary": None},
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools", []),
            "top_p": body.get("top_p", 1.0),
            "truncation": "disabled",
            "usage": None if status == "in_progress" else self.usage(),
            "user": None,
            "metadata": body.get("metadata") or {},
        }


class _Events:
    """Frames Responses API events, numbering them in order."""

    def __init__(self) -> None:
        self._sequence = 0

    def __call__(self, event_type: str, **fields: Any) -> bytes:
        document = {"type": event_type, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return named_event(event_type, document)


def _events(exchange: Exchange, reply: Answer, shape: _Shape) -> Iterator[bytes]:
    event = _Events()
    started = shape.response("in_progress", [])
    yield event("response.created", response=started)
    yield event("response.in_progress", response=started)

    added = shape.item("in_progress")
    yield event("response.output_item.added", output_index=0, item=added)
    size = exchange.settings.chunk_chars
    if reply.tool is None:
        yield from _text_events(event, shape, pieces(reply.text, size))
    else:
        yield from _call_events(event, shape, pieces(reply.text, size))

    item = shape.item(shape.status)
    yield event("response.output_item.done", output_index=0, item=item)
    finished = shape.response(shape.status, [item])
    yield event(f"response.{shape.status}", response=finished)


def _text_events(event: _Events, shape: _Shape, texts: list[str]) -> Iterator[bytes]:
    where = {"item_id": shape.item_id, "output_index": 0, "content_index": 0}
    yield event("response.content_part.added", **where, part=shape.text_part(""))
    for text in texts:
        yield event("response.output_text.delta", **where, delta=text, logprobs=[])

    text = shape.reply.text
    yield event("response.output_text.done", **where, text=text, logprobs=[])
    yield event("response.content_part.done", **where, part=shape.text_part(text))


def _call_events(event: _Events, shape: _Shape, texts: list[str]) -> Iterator[bytes]:
    where = {"item_id": shape.item_id, "output_index": 0}
    for text in texts:
        yield event("response.function_call_arguments.delta", **where, delta=text)
    arguments = shape.reply.text
    yield event("response.function_call_arguments.done", **where, arguments=arguments)
