"""Tests for the messages the LLM log stores: shape, redaction, caps, pieces."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest

from tollhouse.llm import (
    cap_messages,
    dumps,
    redact_inline_data,
    request_messages,
    split_pieces,
)

DATA = Path(__file__).parent / "data"

PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGA"
    "hKmMIQAAAABJRU5ErkJggg=="
)
PNG_SHA256 = "c414cd0e204de974f73753c7e28d7638e7b3691bb8b1a2bab6b25bb7fed7ce77"
PNG_PLACEHOLDER = f"<redacted data:image/png;base64 bytes=70 sha256={PNG_SHA256}>"


def load(name: str) -> Any:
    return orjson.loads((DATA / name).read_bytes())


def user(content: str) -> dict[str, Any]:
    return {"role": "user", "content": content}


TWO_ARRAYS = [user("<1 tokens>"), user("<2 tokens>")]
TOOL_OUTPUT = {"type": "function_call_output", "call_id": "c", "output": "1"}


# request_messages -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "body", "messages"),
    [
        ("chat", load("B01.request.json"), [user("Say hello")]),
        ("chat", load("B17.request.json"), [user("Name one colour.")]),
        ("chat", load("B19.request.json"), [user("안녕")]),
        ("chat", load("B21.request.json"), [user("안녕하세요, 你好 👋")]),
        ("chat", {"messages": [user("a"), "b", None]}, [user("a")]),
        ("chat", {"messages": "hi"}, []),
        ("chat", {}, []),
        ("completions", {"prompt": "Say hello"}, [user("Say hello")]),
        ("completions", {"prompt": ["a", "b"]}, [user("a"), user("b")]),
        ("completions", {"prompt": [1, 2, 3, 4]}, [user("<4 tokens>")]),
        ("completions", {"prompt": [[1], [2, 3]]}, TWO_ARRAYS),
        ("completions", {"prompt": 5}, []),
        ("responses", load("B51.request.json"), [user("Count to 100")]),
        (
            "responses",
            {"instructions": "Be brief.", "input": [user("a"), "b", 3]},
            [{"role": "system", "content": "Be brief."}, user("a"), user("b")],
        ),
        (
            "responses",
            {"input": [TOOL_OUTPUT]},
            [TOOL_OUTPUT],
        ),
        ("responses", {"instructions": None, "input": None}, []),
        ("embeddings", load("B54.request.json"), [user("hello")]),
        ("images", {"prompt": "a cat"}, []),
    ],
)
def test_request_messages(kind: Any, body: Any, messages: list[Any]) -> None:
    assert request_messages(kind, body) == messages


@pytest.mark.parametrize("body", [None, [], "text", b"{}", 42])
def test_request_messages_of_a_non_object_body(body: Any) -> None:
    assert request_messages("chat", body) == []


def test_request_messages_do_not_copy_the_prompt() -> None:
    body = load("B13.request.json")

    messages = request_messages("chat", body)

    assert messages[0] is body["messages"][0]


# dumps ------------------------------------------------------------------------


def test_b21_dumps_keeps_utf8() -> None:
    text = dumps(load("B21.request.json"))

    assert text == (
        '{"model":"gpt-4o-mini","messages":'
        '[{"role":"user","content":"안녕하세요, 你好 👋"}]}'
    )
    assert "\\u" not in text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({1: "a"}, '{"1":"a"}'),
        ({"n": 2**70}, '{"n":1180591620717411303424}'),
        ({"p": Path("x")}, '{"p":"x"}'),
        ("\ud800", '"\ud800"'),
    ],
)
def test_dumps_odd_values(value: Any, text: str) -> None:
    assert dumps(value) == text


# redact_inline_data -----------------------------------------------------------


def test_b23_data_uri_replaced_text_kept() -> None:
    messages = load("B23.request.json")["messages"]
    before = copy.deepcopy(messages)

    redacted = redact_inline_data(messages)

    assert redacted == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {
                    "type": "image_url",
                    "image_url": {"url": PNG_PLACEHOLDER, "detail": "low"},
                },
            ],
        }
    ]
    assert messages == before
    assert PNG in messages[0]["content"][1]["image_url"]["url"]
    assert redacted[0]["content"][0] is messages[0]["content"][0]


def test_messages_without_inline_data_are_returned_as_they_are() -> None:
    messages = [user("hello"), {"role": "assistant", "content": [{"text": "x"}]}]

    assert redact_inline_data(messages) is messages


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        (
            {"type": "input_image", "image_url": "data:image/png;base64," + PNG},
            {"type": "input_image", "image_url": PNG_PLACEHOLDER},
        ),
        (
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/png", "data": PNG},
            },
            {
                "type": "image",
                "source": {
                    "type": "base64",
                    "media_type": "image/png",
                    "data": f"<redacted image/png;base64 bytes=70 sha256={PNG_SHA256}>",
                },
            },
        ),
        (
            {"inline_data": {"mime_type": "image/png", "data": PNG}},
            {
                "inline_data": {
                    "mime_type": "image/png",
                    "data": f"<redacted image/png;base64 bytes=70 sha256={PNG_SHA256}>",
                }
            },
        ),
        (
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
            {
                "type": "input_audio",
                "input_audio": {
                    "data": "<redacted audio/wav;base64 bytes=3 sha256="
                    + hashlib.sha256(b"\0\0\0").hexdigest()
                    + ">",
                    "format": "wav",
                },
            },
        ),
        (
            {"type": "input_file", "file_data": "data:application/pdf;base64,AAAA"},
            {
                "type": "input_file",
                "file_data": "<redacted data:application/pdf;base64 bytes=3 sha256="
                + hashlib.sha256(b"\0\0\0").hexdigest()
                + ">",
            },
        ),
        (
            {"image_url": {"url": "data:image/png;base64,@@@"}},
            {
                "image_url": {
                    "url": "<redacted data:image/png;base64 chars=3 sha256="
                    + hashlib.sha256(b"@@@").hexdigest()
                    + ">"
                }
            },
        ),
    ],
)
def test_inline_data_shapes(part: dict[str, Any], expected: dict[str, Any]) -> None:
    messages = [{"role": "user", "content": [part]}]

    assert redact_inline_data(messages) == [{"role": "user", "content": [expected]}]


@pytest.mark.parametrize(
    "part",
    [
        {"type": "text", "text": "data: this is a line of text"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "image_url", "image_url": {"url": "data:text/plain,hello"}},
        {"type": "document", "source": {"type": "text", "data": "plain text"}},
        {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
    ],
)
def test_not_inline_base64_left_alone(part: dict[str, Any]) -> None:
    messages = [{"role": "user", "content": [part]}]

    assert redact_inline_data(messages) is messages


# cap_messages -----------------------------------------------------------------


def marker(kept: int, total: int, digest: str) -> str:
    return f"…[truncated by Tollhouse: kept {kept} of {total} bytes, sha256={digest}]"


def test_b22_two_million_characters_capped() -> None:
    content = "a" * 2_000_000
    messages = [user(content)]
    digest = hashlib.sha256(content.encode()).hexdigest()

    capped, truncated = cap_messages(messages, 64 * 1024)

    assert truncated is True
    assert capped == [user("a" * 65377 + marker(65377, 2_000_000, digest))]
    assert len(orjson.dumps(capped[0])) == 65534
    assert messages[0]["content"] is content


def test_b22_default_cap_is_two_mib() -> None:
    small = [user("a" * 2_000_000)]
    large = [user("a" * 3_000_000)]
    digest = hashlib.sha256(b"a" * 3_000_000).hexdigest()

    kept, kept_truncated = cap_messages(small)
    capped, truncated = cap_messages(large)

    assert kept_truncated is False
    assert kept[0] is small[0]
    assert truncated is True
    assert capped == [user("a" * 2096993 + marker(2096993, 3_000_000, digest))]
    assert len(orjson.dumps(capped[0])) == 2 * 1024 * 1024


def test_cut_falls_on_a_character_boundary() -> None:
    content = "가나다" * 100_000  # 3 bytes each
    digest = hashlib.sha256(content.encode()).hexdigest()

    capped, truncated = cap_messages([user(content)], 10_000)

    text = capped[0]["content"]
    kept = text[: text.index("…")]
    assert truncated is True
    assert len(orjson.dumps(capped[0])) <= 10_000
    assert content.startswith(kept)
    assert text == kept + marker(len(kept.encode()), 900_000, digest)
    assert len(kept.encode()) == 9843


def test_escaped_characters_still_fit_the_cap() -> None:
    content = '"\\\n\x01' * 50_000  # each grows when JSON-escaped

    capped, truncated = cap_messages([user(content)], 20_000)

    assert truncated is True
    assert len(orjson.dumps(capped[0])) <= 20_000
    assert content.startswith(capped[0]["content"].split("…[truncated")[0])


def test_largest_text_part_is_cut_others_kept() -> None:
    parts = [
        {"type": "text", "text": "question"},
        {"type": "text", "text": "x" * 100_000},
        {"type": "text", "text": "y" * 30_000},
    ]
    message = {"role": "user", "content": parts}

    capped, truncated = cap_messages([message], 50_000)

    content = capped[0]["content"]
    assert truncated is True
    assert len(orjson.dumps(capped[0])) <= 50_000
    assert content[0] is parts[0]
    assert content[2] is parts[2]
    assert content[1]["text"].startswith("x" * 19_000)
    assert parts[1]["text"] == "x" * 100_000


def test_several_texts_cut_when_one_is_not_enough() -> None:
    message = {"role": "tool", "content": "x" * 40_000, "name": "y" * 40_000}

    capped, truncated = cap_messages([message], 10_000)

    assert truncated is True
    assert len(orjson.dumps(capped[0])) <= 10_000
    assert capped[0]["content"].endswith("]")
    assert capped[0]["name"].endswith("]")


def test_a_small_cap_cuts_a_short_message() -> None:
    content = "b" * 400
    digest = hashlib.sha256(content.encode()).hexdigest()

    capped, truncated = cap_messages([user(content)], 300)

    assert truncated is True
    assert capped == [user("b" * 149 + marker(149, 400, digest))]
    assert len(orjson.dumps(capped[0])) == 300


def test_a_cap_below_the_marker_keeps_only_the_marker() -> None:
    content = "c" * 100
    digest = hashlib.sha256(content.encode()).hexdigest()

    capped, truncated = cap_messages([user(content)], 60)

    assert truncated is True
    assert capped == [user(marker(0, 100, digest))]


def test_small_messages_untouched() -> None:
    messages = [user("hi"), {"role": "assistant", "content": None}]

    capped, truncated = cap_messages(messages)

    assert truncated is False
    assert capped == messages
    assert all(a is b for a, b in zip(capped, messages, strict=True))


# split_pieces -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "piece_bytes", "pieces"),
    [
        ("", 32, []),
        ("abc", 32, ["abc"]),
        ("a" * 70, 32, ["a" * 32, "a" * 32, "a" * 6]),
        ("가나다라", 7, ["가나", "다라"]),
        ("가나다라", 6, ["가나", "다라"]),
        ("a가b", 3, ["a", "가", "b"]),
        ("👋👋", 3, ["👋", "👋"]),
        ("👋a", 0, ["👋", "a"]),
    ],
)
def test_split_pieces(text: str, piece_bytes: int, pieces: list[str]) -> None:
    assert split_pieces(text, piece_bytes) == pieces


def test_split_pieces_of_a_large_mixed_text() -> None:
    text = ("안녕하세요, 你好 👋 hello " * 60_000)[:2_000_000]

    pieces = split_pieces(text)

    assert "".join(pieces) == text
    assert all(len(piece.encode()) <= 32 * 1024 for piece in pieces)
    assert all(len(piece.encode()) > 32 * 1024 - 4 for piece in pieces[:-1])


def test_split_pieces_of_two_mb_ascii() -> None:
    pieces = split_pieces(dumps([user("a" * 2_000_000)]))

    assert len(pieces) == 62
    assert {len(piece) for piece in pieces[:-1]} == {32 * 1024}


@pytest.mark.parametrize(
    ("b64", "described"),
    [
        ("AAAA\nAAAA", "bytes=6"),
        ("AAA", "bytes=2"),
        ("-_-_", "bytes=3"),
        ("A", "chars=1"),
    ],
)
def test_lenient_base64_still_measured(b64: str, described: str) -> None:
    messages = [user("data:image/png;base64," + b64)]

    content = redact_inline_data(messages)[0]["content"]

    assert content.startswith(f"<redacted data:image/png;base64 {described} sha256=")
