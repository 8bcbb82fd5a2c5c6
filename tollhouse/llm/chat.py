"""Chat completions: reassembling a stream of chunks, reading a whole body.

The stream side also serves the legacy completions API, whose chunks have the
same envelope with ``text`` in place of ``delta``.  Chunks are folded in as
they come: text and tool-call fragments per choice index, usage as a snapshot
(the last non-null one wins), Azure's content-filter verdicts kept apart.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from tollhouse.llm.result import (
    Choice,
    EventKind,
    LlmKind,
    LlmResult,
    StreamAccumulator,
    TextBudget,
    index_of,
    read_usage,
    text_or_none,
)
from tollhouse.sse import SseEvent

logger = logging.getLogger(__name__)


class ChatStream(StreamAccumulator):
    """Reassembles a streamed chat (or legacy completions) response."""

    def __init__(self, kind: LlmKind = "chat") -> None:
        super().__init__(kind)
        self._request_id: str | None = None
        self._model: str | None = None
        self._usage: dict[str, Any] | None = None
        self._choices: dict[int, _ChoiceState] = {}
        self._prompt_filters: list[Any] | None = None
        self._annotations: list[Any] = []

    @property
    def finished(self) -> bool:
        """``[DONE]``, or a finish reason on every choice (B12)."""
        states = self._choices.values()
        return self._done or (bool(states) and all(s.finish_reason for s in states))

    def result(self) -> LlmResult:
        """What has been reassembled so far; see `StreamAccumulator`."""
        choices = [state.as_choice(i) for i, state in sorted(self._choices.items())]
        terminal = self.finished
        result = LlmResult(
            kind=self.kind,
            request_id=self._request_id,
            model=self._model,
            usage=read_usage(self._usage),
            choices=choices,
            prompt_filter_results=(
                None if self._prompt_filters is None else list(self._prompt_filters)
            ),
            content_filter_results=list(self._annotations),
        )
        return self._finish(result, terminal)

    def _apply(self, obj: dict[str, Any], event: SseEvent) -> EventKind:
        # Azure's first chunk and its annotation chunks carry an empty id and
        # model: only the first non-empty ones name the completion (B26).
        if self._request_id is None:
            self._request_id = text_or_none(obj.get("id"))
        if self._model is None:
            self._model = text_or_none(obj.get("model"))
        filters = obj.get("prompt_filter_results") or obj.get("prompt_annotations")
        if isinstance(filters, list):
            self._prompt_filters = (self._prompt_filters or []) + filters
        usage = obj.get("usage")
        if isinstance(usage, dict):
            self._usage = usage
        error = obj.get("error")
        if error:
            self._note_error(error)

        choices = obj.get("choices")
        if not isinstance(choices, list):
            return "chunk"
        for choice in choices:
            if isinstance(choice, dict):
                self._apply_choice(choice)
        return "usage_only" if not choices and usage is not None else "chunk"

    def _apply_choice(self, choice: dict[str, Any]) -> None:
        delta = choice.get("delta")
        text = choice.get("text")
        finish_reason = choice.get("finish_reason")
        annotation = not isinstance(delta, dict) and not isinstance(text, str)
        if annotation and finish_reason is None:
            self._annotate(choice)
            return

        index = index_of(choice, "index")
        state = self._choices.get(index)
        if state is None:
            state = self._choices[index] = _ChoiceState(self._budget)
        if isinstance(delta, dict):
            state.apply_delta(delta)
        if isinstance(text, str) and text and self._budget.take(len(text)):
            state.text.append(text)
        if isinstance(finish_reason, str) and finish_reason:
            state.finish_reason = finish_reason
        verdicts = choice.get("content_filter_results")
        if isinstance(verdicts, dict) and verdicts:
            state.filters = verdicts

    def _annotate(self, choice: dict[str, Any]) -> None:
        """Keep the verdicts of an Azure annotation chunk: it has no text (B26)."""
        verdicts = choice.get("content_filter_results")
        if not verdicts:
            return
        annotation = {
            "index": index_of(choice, "index"),
            "content_filter_results": verdicts,
        }
        offsets = choice.get("content_filter_offsets")
        if offsets is not None:
            annotation["content_filter_offsets"] = offsets
        self._annotations.append(annotation)


class _ToolCall:
    """The fragments of one streamed tool call; only the first has id and name."""

    __slots__ = ("id", "type", "name", "arguments", "budget")

    def __init__(self, budget: TextBudget) -> None:
        self.budget = budget
        self.id: str | None = None
        self.type: str | None = None
        self.name: str | None = None
        self.arguments: list[str] = []

    def merge(self, fragment: dict[str, Any]) -> None:
        # Some backends repeat id and name on every fragment: keep the first.
        self.id = self.id or text_or_none(fragment.get("id"))
        self.type = self.type or text_or_none(fragment.get("type"))
        function = fragment.get("function")
        if not isinstance(function, dict):
            return
        self.name = self.name or text_or_none(function.get("name"))
        arguments = function.get("arguments")
        if (
            isinstance(arguments, str)
            and arguments
            and self.budget.take(len(arguments))
        ):
            self.arguments.append(arguments)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type or "function",
            "function": {"name": self.name, "arguments": "".join(self.arguments)},
        }


class _ChoiceState:
    """One choice of a stream, kept apart from the others by its index (B17)."""

    __slots__ = (
        "role",
        "text",
        "refusal",
        "finish_reason",
        "tool_calls",
        "function_name",
        "function_arguments",
        "filters",
        "budget",
    )

    def __init__(self, budget: TextBudget) -> None:
        self.budget = budget
        self.role: str | None = None
        self.text: list[str] = []
        self.refusal: list[str] | None = None
        self.finish_reason: str | None = None
        self.tool_calls: dict[int, _ToolCall] = {}
        self.function_name: str | None = None
        self.function_arguments: list[str] | None = None
        self.filters: dict[str, Any] | None = None

    def apply_delta(self, delta: dict[str, Any]) -> None:
        role = delta.get("role")
        if self.role is None and isinstance(role, str) and role:
            self.role = role
        content = delta.get("content")
        if isinstance(content, str) and content and self.budget.take(len(content)):
            self.text.append(content)
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal and self.budget.take(len(refusal)):
            if self.refusal is None:
                self.refusal = []
            self.refusal.append(refusal)
        tool_calls = delta.get("tool_calls")
        if isinstance(tool_calls, list):
            for fragment in tool_calls:
                if isinstance(fragment, dict):
                    self._tool_call(fragment).merge(fragment)
        function_call = delta.get("function_call")
        if isinstance(function_call, dict):
            self._merge_function_call(function_call)

    def _tool_call(self, fragment: dict[str, Any]) -> _ToolCall:
        calls = self.tool_calls
        last = max(calls, default=-1)
        index = index_of(fragment, "index", -1)
        if index < 0:
            # No index: a fragment with an id opens a new call, others extend
            # the latest one.
            index = last + 1 if fragment.get("id") or last < 0 else last
        call = calls.get(index)
        if call is None:
            call = calls[index] = _ToolCall(self.budget)
        return call

    def _merge_function_call(self, function_call: dict[str, Any]) -> None:
        self.function_name = self.function_name or text_or_none(
            function_call.get("name")
        )
        arguments = function_call.get("arguments")
        if self.function_arguments is None:
            self.function_arguments = []
        if isinstance(arguments, str) and arguments:
            self.function_arguments.append(arguments)

    def as_choice(self, index: int) -> Choice:
        function_call = None
        if self.function_arguments is not None:
            arguments = "".join(self.function_arguments)
            function_call = {"name": self.function_name, "arguments": arguments}
        return Choice(
            index=index,
            role=self.role,
            text="".join(self.text),
            refusal=None if self.refusal is None else "".join(self.refusal),
            finish_reason=self.finish_reason,
            tool_calls=[call.as_dict() for _, call in sorted(self.tool_calls.items())],
            function_call=function_call,
            content_filter_results=self.filters,
        )


def parse_chat(obj: dict[str, Any]) -> LlmResult:
    """Read a whole (non-streamed) chat completion body."""
    result = body_result("chat", obj)
    choices = [_message_choice(i, choice) for i, choice in dicts(obj.get("choices"))]
    result.choices = sorted(choices, key=lambda choice: choice.index)
    return result


def body_result(kind: LlmKind, obj: dict[str, Any]) -> LlmResult:
    """The fields chat and completions bodies share: id, model, usage, filters."""
    filters = obj.get("prompt_filter_results") or obj.get("prompt_annotations")
    result = LlmResult(
        kind=kind,
        request_id=text_or_none(obj.get("id")),
        model=text_or_none(obj.get("model")),
        usage=read_usage(obj.get("usage")),
        prompt_filter_results=filters if isinstance(filters, list) else None,
        terminal_seen=True,
    )
    error = obj.get("error")
    if isinstance(error, dict):
        result.error_message = text_or_none(error.get("message"))
    return result


def dicts(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """The dict items of ``value`` with their positions, if it is a list."""
    if isinstance(value, list):
        for position, item in enumerate(value):
            if isinstance(item, dict):
                yield position, item


def _message_choice(position: int, choice: dict[str, Any]) -> Choice:
    message = choice.get("message")
    if not isinstance(message, dict):
        message = {}
    tool_calls = message.get("tool_calls")
    function_call = message.get("function_call")
    verdicts = choice.get("content_filter_results")
    return Choice(
        index=index_of(choice, "index", position),
        role=text_or_none(message.get("role")),
        text=_content_text(message.get("content")),
        refusal=text_or_none(message.get("refusal")),
        finish_reason=text_or_none(choice.get("finish_reason")),
        tool_calls=[call for _, call in dicts(tool_calls)],
        function_call=function_call if isinstance(function_call, dict) else None,
        content_filter_results=verdicts if isinstance(verdicts, dict) else None,
    )


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = (part.get("text") for _, part in dicts(content))
    return "".join(part for part in parts if isinstance(part, str))
