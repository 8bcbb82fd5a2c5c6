"""Text the mock echoes, and the tokens it reports for it.

Token counts come from `tollhouse.tokens`, cached by text and model because
benchmarks send the same prompt many times.  The chat formula is the one
OpenAI documents: three tokens of framing per message plus three to prime
the reply.
"""

from __future__ import annotations

import functools
import logging
import unicodedata
from collections.abc import Iterable
from typing import Any, Final

from tollhouse.tokens import count_tokens

logger = logging.getLogger(__name__)

_TOKENS_PER_MESSAGE: Final = 3
_TOKENS_TO_PRIME_REPLY: Final = 3
# Part types that carry text in chat messages and Responses API input.
_TEXT_PARTS: Final = frozenset({"text", "input_text", "output_text"})
_ZWJ: Final = "\u200d"
_MARKS: Final = frozenset({"Mn", "Mc", "Me"})
_CLINGING_RANGES: Final = (
    ("\u1160", "\u11ff"),  # Hangul vowels and finals (decomposed syllables)
    ("\ud7b0", "\ud7ff"),  # more of them
    ("\ufe00", "\ufe0f"),  # variation selectors
    ("\U0001f3fb", "\U0001f3ff"),  # skin-tone modifiers
)


@functools.lru_cache(maxsize=8192)
def tokens(text: str, model: str) -> int:
    """Tokens in ``text`` for ``model``, remembered across requests."""
    return count_tokens(text, model)


def content_text(content: Any) -> str:
    """The text of a message's content: a string, or its text parts joined.

    Parts are joined with a newline; non-text parts (images, audio) are
    skipped and ``None`` (an assistant's tool call) is empty.
    """
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = (
        part["text"]
        for part in content
        if isinstance(part, dict)
        and part.get("type") in _TEXT_PARTS
        and isinstance(part.get("text"), str)
    )
    return "\n".join(texts)


def last_user_text(messages: Iterable[Any]) -> str:
    """The text of the last message whose role is ``user``, or ``""``."""
    text = ""
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "user":
            text = content_text(message.get("content"))
    return text


def conversation_tokens(texts: Iterable[str], model: str) -> int:
    """Prompt tokens of a conversation whose messages hold ``texts``."""
    total = _TOKENS_TO_PRIME_REPLY
    for text in texts:
        total += _TOKENS_PER_MESSAGE + tokens(text, model)
    return total


def pieces(text: str, size: int) -> list[str]:
    """``text`` cut into pieces of about ``size`` characters.

    A cut never falls inside a character, nor between a character and what
    composes with it (combining marks, decomposed Hangul vowels and finals,
    emoji joiners and modifiers), so that every piece is valid on its own.
    """
    if text.isascii():
        return [text[start : start + size] for start in range(0, len(text), size)]

    result = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        while end < len(text) and _clings(text[end - 1], text[end]):
            end += 1
        result.append(text[start:end])
        start = end
    return result


def _clings(before: str, after: str) -> bool:
    """Whether ``after`` belongs to the same visible character as ``before``."""
    if _ZWJ in (before, after) or unicodedata.category(after) in _MARKS:
        return True
    return any(low <= after <= high for low, high in _CLINGING_RANGES)


def truncate(text: str, limit: int, model: str) -> str:
    """The longest prefix of ``text`` that fits in ``limit`` tokens."""
    if tokens(text, model) <= limit:
        return text

    # Token counts grow with the prefix, so a binary search over its length
    # finds the cut in a few counts; the prefixes are not worth caching.
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if count_tokens(text[:middle], model) <= limit:
            low = middle
        else:
            high = middle - 1
    return text[:low]
