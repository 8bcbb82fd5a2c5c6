"""The Responses API (``/responses``): reassembling its typed event stream.

Text arrives as ``response.output_text.delta`` events keyed by output item
and content part; function calls as ``response.output_item.added`` plus
argument deltas.  Some models send no deltas at all and give the final text
or arguments only in ``.done`` events, ``response.output_item.done`` or the
terminal response's ``output``: those fill a part only when no delta did, so
nothing is counted twice (B15).  Usage and the finish reason come from the
terminal event, ``response.completed``, ``.incomplete`` or ``.failed`` (B51).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

from tollhouse.llm.chat import dicts
from tollhouse.llm.result import (
    Choice,
    EventKind,
    LlmResult,
    StreamAccumulator,
    index_of,
    read_usage,
    text_or_none,
)
from tollhouse.sse import SseEvent

logger = logging.getLogger(__name__)

_Part = tuple[int, int]  # (output_index, content_index)


class _FunctionCall:
    """One function call item; arguments from deltas, else from a final copy."""

    __slots__ = ("call_id", "name", "deltas", "final")

    def __init__(self) -> None:
        self.call_id: str | None = None
        self.name: str | None = None
        self.deltas: list[str] = []
        self.final: str | None = None

    def take_item(self, item: dict[str, Any]) -> None:
        self.call_id = self.call_id or text_or_none(item.get("call_id"))
        self.name = self.name or text_or_none(item.get("name"))
        arguments = item.get("arguments")
        if isinstance(arguments, str):
            self.final = arguments

    def as_dict(self) -> dict[str, Any]:
        arguments = "".join(self.deltas) if self.deltas else self.final or ""
        return {"call_id": self.call_id, "name": self.name, "arguments": arguments}


class ResponsesStream(StreamAccumulator):
    """Reassembles a streamed Responses API response."""

    def __init__(self) -> None:
        super().__init__("responses")
        self._request_id: str | None = None
        self._model: str | None = None
        self._status: str | None = None
        self._reason: str | None = None
        self._usage: dict[str, Any] | None = None
        self._terminal = False
        self._text: dict[_Part, list[str]] = {}
        self._text_done: dict[_Part, str] = {}
        self._refusal: dict[_Part, list[str]] = {}
        self._refusal_done: dict[_Part, str] = {}
        self._calls: dict[int, _FunctionCall] = {}
        self._items: dict[str, int] = {}  # output item id -> output_index

    @property
    def finished(self) -> bool:
        """A ``response.completed``, ``.incomplete`` or ``.failed`` event came."""
        return self._terminal

    def result(self) -> LlmResult:
        """What has been reassembled so far; see `StreamAccumulator`."""
        text = _joined(self._text, self._text_done)
        refusal = _joined(self._refusal, self._refusal_done) or None
        tool_calls = [call.as_dict() for _, call in sorted(self._calls.items())]
        # incomplete_details.reason says more than the status (B51).
        finish_reason = (self._reason or self._status) if self._terminal else None
        choices = []
        if text or refusal or tool_calls or finish_reason:
            choice = Choice(0, "assistant", text, refusal, finish_reason, tool_calls)
            choices.append(choice)
        result = LlmResult(
            kind="responses",
            request_id=self._request_id,
            model=self._model,
            usage=read_usage(self._usage),
            choices=choices,
            status=self._status,
        )
        return self._finish(result, self._terminal)

    def load_body(self, body: dict[str, Any]) -> None:
        """Take a whole (non-streamed) response object."""
        self._terminal = True
        self._take_response(body)

    def _apply(self, obj: dict[str, Any], event: SseEvent) -> EventKind:
        kind = obj.get("type")
        if not isinstance(kind, str):
            kind = event.event or ""
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, obj)
        return "chunk"

    def _on_snapshot(self, obj: dict[str, Any]) -> None:
        self._take_response(obj.get("response"))

    def _on_terminal(self, obj: dict[str, Any]) -> None:
        self._terminal = True
        response = obj.get("response")
        self._take_response(response)
        if obj.get("type") == "response.failed" and self._error_kind is None:
            self._note_error(None)

    def _on_error(self, obj: dict[str, Any]) -> None:
        self._note_error(obj.get("error") or obj)

    def _on_item(self, obj: dict[str, Any]) -> None:
        item = obj.get("item")
        if not isinstance(item, dict):
            return
        index = index_of(obj, "output_index", -1)
        if index < 0:
            item_id = item.get("id")
            known = self._items.get(item_id) if isinstance(item_id, str) else None
            index = len(self._items) if known is None else known
        self._take_item(index, item)

    def _on_text_delta(self, obj: dict[str, Any]) -> None:
        delta = obj.get("delta")
        if isinstance(delta, str) and delta and self._budget.take(len(delta)):
            self._text.setdefault(self._part(obj), []).append(delta)

    def _on_text_done(self, obj: dict[str, Any]) -> None:
        text = obj.get("text")
        if isinstance(text, str):
            self._text_done[self._part(obj)] = text

    def _on_part_done(self, obj: dict[str, Any]) -> None:
        part = obj.get("part")
        if isinstance(part, dict):
            self._take_part(self._part(obj), part)

    def _on_refusal_delta(self, obj: dict[str, Any]) -> None:
        delta = obj.get("delta")
        if isinstance(delta, str) and delta and self._budget.take(len(delta)):
            self._refusal.setdefault(self._part(obj), []).append(delta)

    def _on_refusal_done(self, obj: dict[str, Any]) -> None:
        refusal = obj.get("refusal")
        if isinstance(refusal, str):
            self._refusal_done[self._part(obj)] = refusal

    def _on_arguments_delta(self, obj: dict[str, Any]) -> None:
        delta = obj.get("delta")
        # An empty delta is a no-op (B16).
        if isinstance(delta, str) and delta and self._budget.take(len(delta)):
            self._call(self._output_index(obj)).deltas.append(delta)

    def _on_arguments_done(self, obj: dict[str, Any]) -> None:
        arguments = obj.get("arguments")
        if isinstance(arguments, str):
            self._call(self._output_index(obj)).final = arguments

    def _take_response(self, response: Any) -> None:
        if not isinstance(response, dict):
            return
        if self._request_id is None:
            self._request_id = text_or_none(response.get("id"))
        self._model = text_or_none(response.get("model")) or self._model
        self._status = text_or_none(response.get("status")) or self._status
        usage = response.get("usage")
        if isinstance(usage, dict):
            self._usage = usage
        details = response.get("incomplete_details")
        if isinstance(details, dict):
            self._reason = text_or_none(details.get("reason")) or self._reason
        error = response.get("error")
        if error:
            self._note_error(error)
        for index, item in dicts(response.get("output")):
            self._take_item(index, item)

    def _take_item(self, index: int, item: dict[str, Any]) -> None:
        item_id = text_or_none(item.get("id"))
        if item_id is not None:
            self._items[item_id] = index
        kind = item.get("type")
        if kind == "function_call":
            self._call(index).take_item(item)
        elif kind == "message":
            for position, part in dicts(item.get("content")):
                self._take_part((index, position), part)

    def _take_part(self, key: _Part, part: dict[str, Any]) -> None:
        kind = part.get("type")
        if kind == "output_text":
            text = part.get("text")
            if isinstance(text, str):
                self._text_done[key] = text
        elif kind == "refusal":
            refusal = part.get("refusal")
            if isinstance(refusal, str):
                self._refusal_done[key] = refusal

    def _call(self, index: int) -> _FunctionCall:
        call = self._calls.get(index)
        if call is None:
            call = self._calls[index] = _FunctionCall()
        return call

    def _output_index(self, obj: dict[str, Any]) -> int:
        index = index_of(obj, "output_index", -1)
        if index >= 0:
            return index
        item_id = obj.get("item_id")
        return self._items.get(item_id, 0) if isinstance(item_id, str) else 0

    def _part(self, obj: dict[str, Any]) -> _Part:
        return self._output_index(obj), index_of(obj, "content_index")


_Handler = Callable[[ResponsesStream, dict[str, Any]], None]

_HANDLERS: Final[Mapping[str, _Handler]] = MappingProxyType(
    {
        "response.created": ResponsesStream._on_snapshot,
        "response.queued": ResponsesStream._on_snapshot,
        "response.in_progress": ResponsesStream._on_snapshot,
        "response.completed": ResponsesStream._on_terminal,
        "response.incomplete": ResponsesStream._on_terminal,
        "response.failed": ResponsesStream._on_terminal,
        "error": ResponsesStream._on_error,
        "response.output_item.added": ResponsesStream._on_item,
        "response.output_item.done": ResponsesStream._on_item,
        "response.content_part.done": ResponsesStream._on_part_done,
        "response.output_text.delta": ResponsesStream._on_text_delta,
        "response.output_text.done": ResponsesStream._on_text_done,
        "response.refusal.delta": ResponsesStream._on_refusal_delta,
        "response.refusal.done": ResponsesStream._on_refusal_done,
        "response.function_call_arguments.delta": ResponsesStream._on_arguments_delta,
        "response.function_call_arguments.done": ResponsesStream._on_arguments_done,
    }
)


def parse_responses(obj: dict[str, Any]) -> LlmResult:
    """Read a whole (non-streamed) Responses API body."""
    stream = ResponsesStream()
    stream.load_body(obj)
    result = stream.result()
    # A failed body is not an event stream: the HTTP status tells the gateway.
    if result.error_kind == "upstream_error_event":
        result.error_kind = None
    return result


def _joined(deltas: dict[_Part, list[str]], done: dict[_Part, str]) -> str:
    """All parts in order, each from its deltas if any came, else its final copy."""
    keys = sorted(deltas.keys() | done.keys())
    return "".join("".join(deltas[k]) if k in deltas else done.get(k, "") for k in keys)
