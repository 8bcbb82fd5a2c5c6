"""What Tollhouse learns from one LLM response: text, tool calls, usage.

`LlmResult` is the same whether the response was streamed or not, and
whichever of the four APIs produced it; the LLM log is written from it.  A
`StreamAccumulator` builds one event by event while the relay forwards the
stream; `tollhouse.llm.parse_response` builds one from a whole body.
"""

from __future__ import annotations

import abc
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from tollhouse.sse import SseEvent

logger = logging.getLogger(__name__)

LlmKind = Literal["chat", "completions", "responses", "embeddings"]
UsageSource = Literal["backend", "estimated", "none"]
EventKind = Literal["chunk", "usage_only", "done", "comment", "malformed"]

MALFORMED_KEEP_CHARS = 1000
MALFORMED_KEEP_EVENTS = 20


@dataclass
class Usage:
    """Token counts of one call, as the backend reported them (or estimated)."""

    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None
    source: UsageSource = "backend"


@dataclass
class Choice:
    """One reassembled choice; Responses API results have a single one.

    ``tool_calls`` hold chat's ``{"id", "type", "function": {"name",
    "arguments"}}`` dicts, or the Responses API's ``{"call_id", "name",
    "arguments"}``.
    """

    index: int
    role: str | None = None
    text: str = ""
    refusal: str | None = None
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    function_call: dict[str, Any] | None = None
    content_filter_results: dict[str, Any] | None = None


@dataclass
class LlmResult:
    """Everything the LLM log stores about one response.

    ``content_filter_results`` holds Azure's annotation chunks in order, each
    as ``{"index", "content_filter_results", "content_filter_offsets"}``.
    ``usage`` is None when the backend reported none; ``error_kind`` is one of
    ``upstream_truncated``, ``upstream_malformed_event``,
    ``upstream_malformed_body`` and ``upstream_error_event``, with the
    backend's own words in ``error_message`` when it sent any.
    """

    kind: LlmKind
    request_id: str | None = None
    model: str | None = None
    usage: Usage | None = None
    choices: list[Choice] = field(default_factory=list)
    status: str | None = None
    prompt_filter_results: list[Any] | None = None
    content_filter_results: list[Any] = field(default_factory=list)
    terminal_seen: bool = False
    error_kind: str | None = None
    error_message: str | None = None
    malformed_events: list[str] = field(default_factory=list)
    input_count: int | None = None
    embedding_dims: int | None = None

    @property
    def finish_reason(self) -> str | None:
        """The finish reason of the first choice."""
        return self.choices[0].finish_reason if self.choices else None

    @property
    def response_text(self) -> str:
        """The text of the first choice."""
        return self.choices[0].text if self.choices else ""

    def response_messages(self) -> list[dict[str, Any]]:
        """The completion as the LLM log's ``ResponseMessages``: one per choice.

        Embedding vectors are never stored, so embeddings give ``[]``.
        """
        if self.kind == "embeddings":
            return []
        return [_message(choice) for choice in self.choices]


def _message(choice: Choice) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    if choice.tool_calls:
        extras["tool_calls"] = choice.tool_calls
    if choice.function_call is not None:
        extras["function_call"] = choice.function_call
    if choice.refusal is not None:
        extras["refusal"] = choice.refusal
    content = choice.text if choice.text or not extras else None
    message: dict[str, Any] = {
        "role": choice.role or "assistant",
        "content": content,
        "finish_reason": choice.finish_reason,
        "index": choice.index,
    }
    message.update(extras)
    return message


# Text kept from one stream for the log (characters, all choices together).
# Messages are cut to 2 MB when logged anyway; this bounds memory for a
# backend that streams gigabytes.
MAX_STREAM_TEXT = 16 * 2**20


class TextBudget:
    """How much more streamed text an accumulator keeps."""

    __slots__ = ("left", "exceeded")

    def __init__(self, limit: int = MAX_STREAM_TEXT) -> None:
        self.left = limit
        self.exceeded = False

    def take(self, size: int) -> bool:
        """Whether ``size`` more characters may be kept (and count them)."""
        if size > self.left:
            if not self.exceeded:
                logger.warning(
                    "a stream's text passed %d characters: the rest is not kept",
                    MAX_STREAM_TEXT,
                )
            self.exceeded = True
            return False
        self.left -= size
        return True


class StreamAccumulator(abc.ABC):
    """Reassembles one streamed response, event by event, for the LLM log.

    `feed` classifies each event for the relay and never raises, whatever the
    event holds; `result` may be called at any time, also after the client
    went away, and reports ``upstream_truncated`` until a terminal signal
    was seen.
    """

    def __init__(self, kind: LlmKind) -> None:
        self.kind: LlmKind = kind
        self._budget = TextBudget()
        self._done = False
        self._error_kind: str | None = None
        self._error_message: str | None = None
        self._malformed: list[str] = []

    def feed(self, event: SseEvent) -> EventKind:
        """Take the next event; return what it is, for the relay to act on.

        ``[DONE]`` is a sentinel and never parsed; a payload that is not a
        JSON object is ``malformed`` and kept, cut to 1,000 characters, in
        the result's ``malformed_events`` (the first 20 of them).
        """
        data = event.data
        if data is None:
            return "comment"
        if len(data) < 32 and data.strip() == "[DONE]":
            self._done = True
            return "done"
        try:
            obj = orjson.loads(data)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            self._note_malformed(data)
            return "malformed"
        try:
            return self._apply(obj, event)
        except Exception:
            # A shape no backend should send; the stream must go on anyway.
            logger.warning("could not read a %s stream event", self.kind, exc_info=True)
            return "chunk"

    @property
    def finished(self) -> bool:
        """Whether a terminal signal has been seen, as `result` would say.

        Cheap enough to ask after every event.
        """
        return self._done

    @abc.abstractmethod
    def result(self) -> LlmResult:
        """What has been reassembled so far."""

    @abc.abstractmethod
    def _apply(self, obj: dict[str, Any], event: SseEvent) -> EventKind:
        """Fold one parsed JSON event into the state."""

    def _note_malformed(self, data: str) -> None:
        if not self._malformed:
            logger.warning(
                "backend sent a %s stream event that is not a JSON object (%d chars)",
                self.kind,
                len(data),
            )
        if len(self._malformed) < MALFORMED_KEEP_EVENTS:
            self._malformed.append(data[:MALFORMED_KEEP_CHARS])
        if self._error_kind is None:
            self._error_kind = "upstream_malformed_event"

    def _note_error(self, error: Any) -> None:
        self._error_kind = "upstream_error_event"
        message = error.get("message") if isinstance(error, dict) else error
        if isinstance(message, str) and message:
            self._error_message = message

    def _finish(self, result: LlmResult, terminal: bool) -> LlmResult:
        """Fill the fields every stream result shares."""
        result.terminal_seen = terminal
        result.error_kind = self._error_kind
        result.error_message = self._error_message
        result.malformed_events = list(self._malformed)
        if not terminal and self._error_kind != "upstream_error_event":
            result.error_kind = "upstream_truncated"
        return result


def read_usage(obj: Any) -> Usage | None:
    """Read a usage object of any of the OpenAI APIs; None if it has no counts.

    Accepts ``prompt_tokens``/``completion_tokens`` (chat, completions) and
    ``input_tokens``/``output_tokens`` (Responses), with their details.  The
    total is the reported one, or prompt plus completion.
    """
    if not isinstance(obj, dict):
        return None
    prompt = _count(obj, "prompt_tokens", "input_tokens")
    completion = _count(obj, "completion_tokens", "output_tokens")
    total = _count(obj, "total_tokens", "total_tokens")
    if total is None and prompt is not None and completion is not None:
        total = prompt + completion
    if prompt is None and completion is None and total is None:
        return None
    out_details = _details(obj, "completion_tokens_details", "output_tokens_details")
    in_details = _details(obj, "prompt_tokens_details", "input_tokens_details")
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=total,
        reasoning_tokens=_count(out_details, "reasoning_tokens", "reasoning_tokens"),
        cached_tokens=_count(in_details, "cached_tokens", "cached_tokens"),
    )


def _count(obj: dict[str, Any], name: str, other: str) -> int | None:
    value = obj.get(name)
    if value is None:
        value = obj.get(other)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _details(obj: dict[str, Any], name: str, other: str) -> dict[str, Any]:
    value = obj.get(name)
    if not isinstance(value, dict):
        value = obj.get(other)
    return value if isinstance(value, dict) else {}


def text_or_none(value: Any) -> str | None:
    """``value`` if it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def index_of(obj: dict[str, Any], key: str, default: int = 0) -> int:
    """The integer at ``obj[key]``, or ``default`` when missing or not an int."""
    value = obj.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return default
