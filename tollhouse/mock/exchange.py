"""One request as the mock's operations see it, and the answer they give.

`Exchange` holds the parsed request with its family (Azure or OpenAI), the
model named in the response and the request's directives.  `Answer` is the
reply the mock settled on, shared by every choice: echoed text, the text of
``x-mock-reply``, or a tool call.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final

import orjson

from tollhouse.mock.errors import RequestRejected
from tollhouse.mock.settings import Directives, MockSettings
from tollhouse.mock.text import tokens, truncate

logger = logging.getLogger(__name__)

# Azure reports the model version behind a deployment, not its name.  The
# more specific marker comes first.
_VERSIONED_MODELS: Final = (
    ("gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
    ("gpt-4o", "gpt-4o-2024-11-20"),
)
_MAX_CHOICES: Final = 128
FINGERPRINT: Final = "fp_mock0001"


def azure_model(deployment: str) -> str:
    """The model name Azure OpenAI reports for ``deployment``."""
    lowered = deployment.lower()
    for marker, model in _VERSIONED_MODELS:
        if marker in lowered:
            return model
    return deployment


def new_id(prefix: str) -> str:
    """A random identifier like OpenAI's, e.g. ``chatcmpl-…``."""
    return prefix + secrets.token_hex(12)


def now() -> int:
    """The current Unix time in whole seconds, as ``created`` fields carry it."""
    return int(time.time())


@dataclass(frozen=True, slots=True)
class Exchange:
    """A request to an operation, parsed, with what it asked of the mock.

    ``body`` is the JSON object (or the form fields of a multipart upload);
    ``forced_reply`` is the reply text that replaces the echo, from
    ``x-mock-reply`` or ``x-mock-echo-headers``.
    """

    azure: bool
    model: str
    body: dict[str, Any]
    directives: Directives
    settings: MockSettings
    forced_reply: str | None = None

    @property
    def stream(self) -> bool:
        """Whether the client asked for server-sent events."""
        return self.body.get("stream") is True

    @property
    def usage(self) -> bool:
        """Whether usage may be reported at all (not ``x-mock-no-usage``)."""
        return not self.directives.no_usage

    @property
    def stream_usage(self) -> bool:
        """Whether a stream ends with a usage event, as ``include_usage`` asks."""
        options = self.body.get("stream_options")
        asked = isinstance(options, dict) and options.get("include_usage") is True
        return asked and self.usage

    def choices(self) -> int:
        """How many choices the request asks for (``n``)."""
        n = self.body.get("n", 1)
        if n is None:
            return 1
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= _MAX_CHOICES:
            raise RequestRejected(
                f"n must be an integer from 1 to {_MAX_CHOICES}.", param="n"
            )
        return n

    def token_limit(self, *names: str) -> int | None:
        """The first of the ``names`` limits, if the request wants it honoured."""
        if not self.directives.honour_max_tokens:
            return None
        for name in names:
            value = self.body.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                return max(value, 0)
        return None


@dataclass(frozen=True, slots=True)
class Answer:
    """What every choice says, and what it costs.

    For a tool call, ``text`` holds the call's JSON arguments and ``tool``
    the function's name; ``completion_tokens`` counts one choice.
    """

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    tool: str | None = None
    call_id: str = ""

    @property
    def truncated(self) -> bool:
        """Whether the reply was cut at the request's token limit."""
        return self.finish_reason == "length"


def answer(
    exchange: Exchange, echo: str, prompt_tokens: int, limit: int | None
) -> Answer:
    """Settle the reply to ``exchange``, whose echo would be ``echo``."""
    text = echo if exchange.forced_reply is None else exchange.forced_reply
    model = exchange.model

    tool = exchange.directives.tool_call
    if tool is not None and exchange.body.get("tools"):
        arguments = orjson.dumps({"input": text}).decode()
        return Answer(
            arguments,
            "tool_calls",
            prompt_tokens,
            tokens(arguments, model),
            tool=tool,
            call_id=new_id("call_"),
        )

    finish = "stop"
    if limit is not None:
        cut = truncate(text, limit, model)
        finish = "stop" if cut == text else "length"
        text = cut
    return Answer(text, finish, prompt_tokens, tokens(text, model))
