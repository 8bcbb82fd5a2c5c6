"""Offline token estimates, for backends that report no usage.

The BPE tables come inside the ``bpe-openai`` package, so nothing is
downloaded at run time.  ``o200k_base`` serves the gpt-4o family and newer
OpenAI models; every other model is counted with ``cl100k_base``.  The
estimate is marked as such in the LLM log (``TokenCountSource``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

logger = logging.getLogger(__name__)

_O200K_PREFIXES = (
    "gpt-4o",
    "gpt-4.1",
    "gpt-4.5",
    "gpt-5",
    "o1",
    "o3",
    "o4",
    "chatgpt-4o",
)

# The tokenizer refuses texts of a million characters or 200k tokens.
_PIECE_CHARS = 100_000
_CUT_WINDOW = 2_000

# Encodings take ~0.1 s and 35-135 MB to load: each is loaded on first use,
# once per process, under a lock so that two first users do not both pay.
_lock = threading.Lock()
_loaded: dict[str, _Encoding] = {}


class _Encoding(Protocol):
    def encode(self, text: str, *args: Any, **kwargs: Any) -> list[int]: ...


def encoding_name_for(model: str | None) -> str:
    """The encoding Tollhouse estimates ``model``'s tokens with."""
    name = (model or "").lower()
    if name.startswith(_O200K_PREFIXES) or "gpt-4o" in name:
        return "o200k_base"
    return "cl100k_base"


def _encoding(name: str) -> _Encoding:
    encoding = _loaded.get(name)
    if encoding is None:
        with _lock:
            encoding = _loaded.get(name)
            if encoding is None:
                import bpe_openai

                encoding = _loaded[name] = bpe_openai.get_encoding(name)
                logger.debug("loaded tokenizer %s", name)
    return encoding


def count_tokens(text: str, model: str | None = None) -> int:
    """Count the tokens of ``text`` as ``model``'s tokenizer would.

    Texts of any length are counted: the tokenizer refuses a million
    characters at once, so long texts are counted in pieces cut at white
    space, where no token spans the cut.
    """
    if not text:
        return 0
    encoding = _encoding(encoding_name_for(model))
    return sum(
        len(encoding.encode(piece, disallowed_special=())) for piece in _pieces(text)
    )


def _pieces(text: str) -> list[str]:
    if len(text) <= _PIECE_CHARS:
        return [text]
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + _PIECE_CHARS, len(text))
        if end < len(text):
            space = text.rfind(" ", end - _CUT_WINDOW, end)
            end = space if space > start else end
        pieces.append(text[start:end])
        start = end
    return pieces
