"""Reading LLM requests and responses for the LLM log.

`stream_accumulator` reassembles a streamed response event by event and
`parse_response` reads a whole body; both give an `LlmResult` and never
raise.  `request_messages`, `redact_inline_data`, `cap_messages` and
`split_pieces` shape the prompt and completion the log stores;
`estimate_usage` counts tokens when the backend reported none.
"""

from tollhouse.llm.estimate import estimate_usage
from tollhouse.llm.messages import (
    cap_messages,
    dumps,
    redact_inline_data,
    request_messages,
    split_pieces,
)
from tollhouse.llm.parse import parse_response, stream_accumulator
from tollhouse.llm.result import (
    Choice,
    EventKind,
    LlmKind,
    LlmResult,
    StreamAccumulator,
    Usage,
    UsageSource,
    read_usage,
)

__all__ = [
    "Choice",
    "EventKind",
    "LlmKind",
    "LlmResult",
    "StreamAccumulator",
    "Usage",
    "UsageSource",
    "cap_messages",
    "dumps",
    "estimate_usage",
    "parse_response",
    "read_usage",
    "redact_inline_data",
    "request_messages",
    "split_pieces",
    "stream_accumulator",
]
