"""Embeddings, images, audio and the model list: the non-chat operations.

Embedding vectors are derived from a hash of each input, so equal inputs
get equal unit vectors; ``encoding_format: "base64"`` sends them as
little-endian float32.  Images are a one-pixel PNG (or a URL that is never
served); speech is silence in a WAV container, whatever format is asked;
transcriptions say ``x-mock-reply`` or a fixed sentence.
"""

from __future__ import annotations

import base64
import email.policy
import functools
import hashlib
import logging
import math
import struct
import zlib
from email import message_from_bytes
from email.message import EmailMessage
from typing import Any, Final

from tollhouse.mock.errors import RequestRejected
from tollhouse.mock.exchange import Exchange, now
from tollhouse.mock.replies import Body, Reply, json_body
from tollhouse.mock.text import tokens

logger = logging.getLogger(__name__)

_MAX_DIMENSIONS: Final = 8192
_TRANSCRIPT: Final = "This is a mock transcription."
_SAMPLE_RATE: Final = 24_000
_MODELS: Final = (
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "dall-e-3",
    "whisper-1",
    "tts-1",
)
_MODELS_CREATED: Final = 1_715_367_049


def embeddings(exchange: Exchange) -> Reply:
    """Answer an embeddings request with one hash-derived vector per input."""
    inputs = _embedding_inputs(exchange.body.get("input"))
    dimensions = _dimensions(exchange)
    as_base64 = exchange.body.get("encoding_format") == "base64"

    data = []
    for index, item in enumerate(inputs):
        packed = _vector(_input_key(item), dimensions)
        embedding: str | list[float] = (
            base64.b64encode(packed).decode()
            if as_base64
            else list(struct.unpack(f"<{dimensions}f", packed))
        )
        data.append({"object": "embedding", "index": index, "embedding": embedding})

    document: dict[str, Any] = {"object": "list", "data": data, "model": exchange.model}
    if exchange.usage:
        count = sum(_input_tokens(item, exchange.model) for item in inputs)
        document["usage"] = {"prompt_tokens": count, "total_tokens": count}
    return json_body(document)


def images(exchange: Exchange) -> Reply:
    """Answer an image generation with ``n`` copies of a one-pixel picture."""
    prompt = exchange.body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise RequestRejected(
            "Missing required parameter: 'prompt'.",
            param="prompt",
            code="missing_required_parameter",
        )

    # gpt-image models answer in base64 only; DALL-E defaults to URLs.
    wants_url = exchange.body.get("response_format", "url") == "url"
    if wants_url and not exchange.model.startswith("gpt-image"):
        digest = hashlib.sha256(prompt.encode()).hexdigest()[:32]
        image = {"url": f"https://images.mock.invalid/{digest}.png"}
    else:
        image = {"b64_json": _pixel_png_base64()}
    image["revised_prompt"] = prompt

    n = exchange.choices()
    return json_body({"created": now(), "data": [image] * n})


def transcriptions(exchange: Exchange) -> Reply:
    """Answer a transcription in the ``response_format`` asked for."""
    text = exchange.forced_reply or _TRANSCRIPT
    fmt = exchange.body.get("response_format", "json")
    if fmt == "text":
        return Body(text.encode(), content_type="text/plain")
    if fmt in ("srt", "vtt"):
        return Body(_subtitles(text, fmt).encode(), content_type="text/plain")
    if fmt == "verbose_json":
        segment = {"id": 0, "start": 0.0, "end": 1.0, "text": text}
        return json_body(
            {
                "task": "transcribe",
                "language": "english",
                "duration": 1.0,
                "text": text,
                "segments": [segment],
            }
        )
    return json_body({"text": text})


def speech(exchange: Exchange) -> Reply:
    """Answer text-to-speech with silence lasting 10 ms per input character."""
    text = exchange.body.get("input")
    if not isinstance(text, str):
        raise RequestRejected(
            "Missing required parameter: 'input'.",
            param="input",
            code="missing_required_parameter",
        )
    frames = min(len(text), 1000) * _SAMPLE_RATE // 100
    pcm = bytes(2 * frames)  # 16-bit mono silence
    if exchange.body.get("response_format") == "pcm":
        return Body(pcm, content_type="audio/pcm")
    return Body(_wav(pcm), content_type="audio/wav")


def models(exchange: Exchange) -> Reply:
    """The model list OpenAI answers ``GET /v1/models`` with."""
    data = [
        {
            "id": name,
            "object": "model",
            "created": _MODELS_CREATED,
            "owned_by": "system",
        }
        for name in _MODELS
    ]
    return json_body({"object": "list", "data": data})


def form_fields(raw: bytes, content_type: str) -> dict[str, Any]:
    """The fields of a ``multipart/form-data`` body; a file field gives its name."""
    if not content_type.startswith("multipart/"):
        raise RequestRejected("The request must be multipart/form-data.")
    head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    message = message_from_bytes(head + raw, policy=email.policy.HTTP)
    if not isinstance(message, EmailMessage):
        return {}

    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        filename = part.get_filename()
        fields[name] = filename if filename is not None else part.get_content()
    return fields


# Embedding helpers


def _embedding_inputs(value: Any) -> list[str | list[int]]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        if all(isinstance(item, int) for item in value):
            return [value]  # one input given as tokens
        if all(isinstance(item, (str, list)) for item in value):
            return list(value)
    raise RequestRejected(
        "'input' must be a string, a list of strings or a list of token lists.",
        param="input",
    )


def _dimensions(exchange: Exchange) -> int:
    value = exchange.body.get("dimensions")
    if value is None:
        return exchange.settings.embedding_dims
    if not isinstance(value, int) or not 1 <= value <= _MAX_DIMENSIONS:
        raise RequestRejected(
            f"dimensions must be an integer from 1 to {_MAX_DIMENSIONS}.",
            param="dimensions",
        )
    return value


def _input_key(item: str | list[int]) -> str:
    return item if isinstance(item, str) else "tokens:" + ",".join(map(str, item))


def _input_tokens(item: str | list[int], model: str) -> int:
    return tokens(item, model) if isinstance(item, str) else len(item)


@functools.lru_cache(maxsize=1024)
def _vector(key: str, dimensions: int) -> bytes:
    """A unit vector for ``key``, packed as little-endian float32."""
    digest = hashlib.shake_256(key.encode()).digest(4 * dimensions)
    raw = [value / 2**31 - 1.0 for value in struct.unpack(f"<{dimensions}I", digest)]
    norm = math.sqrt(sum(value * value for value in raw)) or 1.0
    return struct.pack(f"<{dimensions}f", *(value / norm for value in raw))


# Image and audio helpers


@functools.cache
def _pixel_png_base64() -> str:
    """A 1x1 transparent PNG, base64-encoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)  # 8-bit RGBA
    pixels = zlib.compress(b"\x00" + bytes(4))  # filter byte, one pixel
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
    return base64.b64encode(png + chunk(b"IEND", b"")).decode()


def _wav(pcm: bytes) -> bytes:
    """``pcm`` (16-bit mono) in a RIFF/WAVE container."""
    byte_rate = _SAMPLE_RATE * 2
    fmt = struct.pack("<HHIIHH", 1, 1, _SAMPLE_RATE, byte_rate, 2, 16)
    chunks = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"data" + struct.pack("<I", len(pcm)) + pcm
    return b"RIFF" + struct.pack("<I", len(chunks)) + chunks


def _subtitles(text: str, fmt: str) -> str:
    if fmt == "srt":
        return f"1\n00:00:00,000 --> 00:00:01,000\n{text}\n\n"
    return f"WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n{text}\n\n"
