"""Prompt and completion messages as the LLM log stores them.

`request_messages` turns any of the four request bodies into a list of
messages; `redact_inline_data` swaps inline base64 blobs for a short
placeholder (B23); `cap_messages` cuts messages too large to store, with a
visible marker (B22); `split_pieces` cuts the stored JSON into pieces of the
log's column size.  None of them raises on odd input: a logging failure must
never fail a request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

import orjson

from tollhouse.llm.result import LlmKind

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 2 * 1024 * 1024
PIECE_BYTES = 32 * 1024

# Keys whose object holds a bare base64 blob in "data": Anthropic's
# source, Gemini's inline_data, OpenAI's input_audio.
_BLOB_KEYS = frozenset({"source", "inline_data", "inlineData", "input_audio"})
_MAX_CUTS = 16
# Texts shorter than this are left whole (cutting them would not pay for the
# marker), unless the cap itself is small: then half the cap.
_MIN_CUT_CHARS = 512

_Path = tuple[str | int, ...]


def request_messages(kind: LlmKind, body: Any) -> list[dict[str, Any]]:
    """The prompt of a request body as the LLM log's ``RequestMessages``.

    Chat gives its ``messages``; completions and embeddings one user message
    per prompt or input (a token array shows as ``"<N tokens>"``); the
    Responses API its ``instructions`` as a system message, then its
    ``input``.  Anything unexpected gives ``[]``.
    """
    if not isinstance(body, dict):
        return []
    reader = _READERS.get(kind)
    if reader is None:
        return []
    try:
        return reader(body)
    except Exception:
        logger.warning("could not read the %s request messages", kind, exc_info=True)
        return []


def _chat_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return []
    return [message for message in messages if isinstance(message, dict)]


def _responses_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    items = body.get("input")
    if isinstance(items, str):
        messages.append(_user(items))
    elif isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                messages.append(item)
            elif isinstance(item, str):
                messages.append(_user(item))
    return messages


def _user_inputs(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [_user(value)]
    if not isinstance(value, list) or not value:
        return []
    if isinstance(value[0], int):
        return [_user(f"<{len(value)} tokens>")]  # one prompt as token ids
    messages = []
    for item in value:
        if isinstance(item, str):
            messages.append(_user(item))
        elif isinstance(item, list):
            messages.append(_user(f"<{len(item)} tokens>"))
    return messages


def _user(content: str) -> dict[str, Any]:
    return {"role": "user", "content": content}


_READERS: Final[Mapping[str, Callable[[dict[str, Any]], list[dict[str, Any]]]]] = (
    MappingProxyType(
        {
            "chat": _chat_messages,
            "completions": lambda body: _user_inputs(body.get("prompt")),
            "responses": _responses_messages,
            "embeddings": lambda body: _user_inputs(body.get("input")),
        }
    )
)


def redact_inline_data(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replace inline base64 data with a placeholder naming its size and hash.

    A data URI becomes ``<redacted data:image/png;base64 bytes=70
    sha256=...>``, still a string where a string was, so the JSON keeps its
    shape; a bare blob under ``source``, ``inline_data`` or ``input_audio``
    becomes ``<redacted image/png;base64 bytes=... sha256=...>``.  The input
    is not changed; parts without inline data are shared, not copied.
    """
    try:
        redacted: list[dict[str, Any]] = _redact(messages)
    except Exception:
        logger.warning("could not redact inline data", exc_info=True)
        return messages
    return redacted


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return _redact_uri(value)
    if isinstance(value, list):
        items: list[Any] | None = None
        for position, item in enumerate(value):
            new = _redact(item)
            if new is not item:
                items = list(value) if items is None else items
                items[position] = new
        return value if items is None else items
    if isinstance(value, dict):
        fields: dict[Any, Any] | None = None
        for key, item in value.items():
            new = _redact_blob(item) if key in _BLOB_KEYS else _redact(item)
            if new is not item:
                fields = dict(value) if fields is None else fields
                fields[key] = new
        return value if fields is None else fields
    return value


def _redact_uri(text: str) -> str:
    if not text.startswith("data:"):
        return text
    comma = text.find(",", 5, 256)
    if comma < 0:
        return text
    header = text[5:comma]
    if not header.lower().endswith(";base64"):
        return text
    return f"<redacted data:{header} {_describe(text[comma + 1 :])}>"


def _redact_blob(blob: Any) -> Any:
    blob = _redact(blob)
    if not isinstance(blob, dict) or blob.get("type", "base64") != "base64":
        return blob
    data = blob.get("data")
    if not isinstance(data, str) or not data or data.startswith("<redacted"):
        return blob
    mime = blob.get("media_type") or blob.get("mime_type") or blob.get("mimeType")
    if not isinstance(mime, str) and isinstance(blob.get("format"), str):
        mime = f"audio/{blob['format']}"
    redacted = dict(blob)
    redacted["data"] = f"<redacted {mime or 'application/octet-stream'};base64 "
    redacted["data"] += f"{_describe(data)}>"
    return redacted


def _describe(b64: str) -> str:
    """``bytes=N sha256=H`` of the decoded data, or of the text if not base64."""
    raw = _b64decode(b64)
    if raw is None:
        encoded = b64.encode("utf-8", "surrogatepass")
        return f"chars={len(b64)} sha256={hashlib.sha256(encoded).hexdigest()}"
    return f"bytes={len(raw)} sha256={hashlib.sha256(raw).hexdigest()}"


def _b64decode(b64: str) -> bytes | None:
    """Strict base64, then with line breaks, URL-safe letters or padding mended."""
    try:
        return base64.b64decode(b64, validate=True)
    except ValueError:
        pass
    mended = "".join(b64.split()).rstrip("=").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(mended + "=" * (-len(mended) % 4), validate=True)
    except ValueError:
        return None


def cap_messages(
    messages: list[dict[str, Any]], max_message_bytes: int = MAX_MESSAGE_BYTES
) -> tuple[list[dict[str, Any]], bool]:
    """Cut every message whose JSON is over ``max_message_bytes`` down to it.

    The largest text of such a message is cut on a character boundary and
    ends with ``…[truncated by Tollhouse: kept N of M bytes, sha256=H]``,
    ``H`` being the hash of the whole original text.  Returns the messages
    and whether any was cut; messages that fit are returned as they are.
    """
    capped: list[dict[str, Any]] = []
    truncated = False
    for message in messages:
        try:
            new = _cap(message, max_message_bytes)
        except Exception:
            logger.warning("could not cap a message", exc_info=True)
            new = message
        truncated = truncated or new is not message
        capped.append(new)
    return capped, truncated


def _cap(message: dict[str, Any], cap: int) -> dict[str, Any]:
    size = len(_encode(message))
    if size <= cap:
        return message
    current: Any = message
    kept: dict[_Path, int] = {}  # bytes kept so far of each cut text
    originals: dict[_Path, tuple[bytes, str]] = {}  # its UTF-8 and hash
    for _ in range(_MAX_CUTS):
        path = _largest_text(current, kept, min(_MIN_CUT_CHARS, cap // 2))
        if path is None:
            break
        if path not in originals:
            data = _get(current, path).encode("utf-8", "surrogatepass")
            originals[path] = data, hashlib.sha256(data).hexdigest()
        data, digest = originals[path]
        before = kept.get(path, len(data))
        room = before - (size - cap)
        if path not in kept:
            room -= len(_marker(len(data), len(data), digest).encode())
        text = data[: max(room, 0)].decode("utf-8", "ignore")
        kept[path] = len(text.encode("utf-8", "surrogatepass"))
        text += _marker(kept[path], len(data), digest)
        current = _replace(current, path, text)
        size = len(_encode(current))
        if size <= cap:
            break
    result: dict[str, Any] = current
    return result


def _marker(kept: int, total: int, digest: str) -> str:
    return f"…[truncated by Tollhouse: kept {kept} of {total} bytes, sha256={digest}]"


def _largest_text(value: Any, kept: dict[_Path, int], shortest: int) -> _Path | None:
    """Path of the longest string over ``shortest`` characters still to cut."""
    best: _Path | None = None
    best_len = shortest
    stack: list[tuple[_Path, Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if len(item) > best_len and kept.get(path) != 0:
                best, best_len = path, len(item)
        elif isinstance(item, dict):
            stack.extend(((*path, key), child) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend(((*path, i), child) for i, child in enumerate(item))
    return best


def _get(value: Any, path: _Path) -> Any:
    for step in path:
        value = value[step]
    return value


def _replace(value: Any, path: _Path, new: Any) -> Any:
    """A copy of ``value`` with ``new`` at ``path``; only that path is copied."""
    if not path:
        return new
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(value[path[0]], path[1:], new)
    return copy


def dumps(value: Any) -> str:
    """Compact JSON text, non-ASCII characters kept as they are (B21)."""
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, ValueError):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _encode(value: Any) -> bytes:
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS)
    except (TypeError, ValueError):
        return dumps(value).encode("utf-8", "surrogatepass")


def split_pieces(text: str, piece_bytes: int = PIECE_BYTES) -> list[str]:
    """Cut ``text`` into pieces of at most ``piece_bytes`` UTF-8 bytes each.

    Cuts fall between characters, so each piece is valid text and the pieces
    join back into ``text``; a character longer than ``piece_bytes`` makes a
    piece of its own.
    """
    size = max(piece_bytes, 1)
    if text.isascii():
        return [text[i : i + size] for i in range(0, len(text), size)]
    data = text.encode("utf-8", "surrogatepass")
    pieces = []
    start = 0
    while start < len(data):
        end = min(start + size, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:
            end -= 1  # back off to the first byte of a character
        if end == start:  # one character is larger than a piece
            end = start + 1
            while end < len(data) and data[end] & 0xC0 == 0x80:
                end += 1
        pieces.append(data[start:end].decode("utf-8", "surrogatepass"))
        start = end
    return pieces
