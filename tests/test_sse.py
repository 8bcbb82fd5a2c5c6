"""Tests for the incremental SSE parser (tollhouse.sse)."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from tollhouse.sse import SseEvent, SseParser

DATA = Path(__file__).parent / "data"
BOUNDARY = "‖".encode()  # marks a read boundary in the case files

Fields = tuple[str | None, str | None, str | None]  # (event, data, id)


def chunks_of(name: str) -> list[bytes]:
    """A case file's bytes, cut where the case shows a read boundary."""
    return (DATA / name).read_bytes().split(BOUNDARY)


def cut_at(stream: bytes, cuts: list[int]) -> list[bytes]:
    """``stream`` cut at the sorted offsets ``cuts``."""
    edges = [0, *cuts, len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(edges)]


def parse(chunks: list[bytes]) -> list[SseEvent]:
    parser = SseParser()
    events = [event for chunk in chunks for event in parser.feed(chunk)]
    return events + parser.flush()


def fields(events: list[SseEvent]) -> list[Fields]:
    return [(event.event, event.data, event.id) for event in events]


def significant(events: list[SseEvent]) -> list[Fields]:
    """Fields of the events, less those made of line-ending bytes only.

    A read that ends between the "\r" and "\n" of an event's last line
    ending leaves that "\n" to the next event, or to an event of its own at
    EOF; it carries no field.
    """
    return fields([event for event in events if event.raw.strip(b"\r\n")])


# (input, [(event, data, id), ...]) for a whole stream.
FRAMING_CASES: list[tuple[bytes, list[Fields]]] = [
    (b'data: {"a":1}\n\n', [(None, '{"a":1}', None)]),
    (b"data:x\n\n", [(None, "x", None)]),
    (b"data:  x\n\n", [(None, " x", None)]),
    (b"data: x\r\n\r\n", [(None, "x", None)]),
    (b"data: x\r\rdata: y\r\r", [(None, "x", None), (None, "y", None)]),
    (b"data: x\r\n\ndata: y\n\r\n", [(None, "x", None), (None, "y", None)]),
    (b"data: a\ndata: b\n\n", [(None, "a\nb", None)]),
    (b"data\n\n", [(None, "", None)]),
    (b"data:\n\n", [(None, "", None)]),
    (b": keep-alive\n\n", [(None, None, None)]),
    (b": note\ndata: x\n\n", [(None, "x", None)]),
    (b"event: ping\nevent: done\ndata: x\n\n", [("done", "x", None)]),
    (b"id: 7\ndata: x\n\n", [(None, "x", "7")]),
    (b"id: a\x00b\ndata: x\n\n", [(None, "x", None)]),
    (b"foo: bar\ndata: x\n\n", [(None, "x", None)]),
    (b"data: x\n\n\n", [(None, "x", None), (None, None, None)]),
    (b"\xef\xbb\xbfdata: x\n\n", [(None, "x", None)]),
    (b"data: [DONE]\n\n", [(None, "[DONE]", None)]),
    (b"data: \xff\xfe\n\n", [(None, "\ufffd\ufffd", None)]),
    ("data: 무엇을\n\n".encode(), [(None, "무엇을", None)]),
]


@pytest.mark.parametrize(("stream", "expected"), FRAMING_CASES)
def test_framing_whole_stream(stream: bytes, expected: list[Fields]) -> None:
    events = parse([stream])

    assert fields(events) == expected
    assert b"".join(event.raw for event in events) == stream


@pytest.mark.parametrize("stream", [stream for stream, _ in FRAMING_CASES])
def test_framing_any_split_point(stream: bytes) -> None:
    for cut in range(1, len(stream)):
        events = parse([stream[:cut], stream[cut:]])

        assert significant(events) == significant(parse([stream])), cut
        assert b"".join(event.raw for event in events) == stream, cut


@pytest.mark.parametrize("stream", [stream for stream, _ in FRAMING_CASES])
def test_framing_one_byte_reads(stream: bytes) -> None:
    events = parse([stream[i : i + 1] for i in range(len(stream))])

    assert significant(events) == significant(parse([stream]))
    assert b"".join(event.raw for event in events) == stream


def test_b07_event_split_across_reads() -> None:
    chunks = chunks_of("B07.sse")
    parser = SseParser()

    per_read = [[event.data for event in parser.feed(chunk)] for chunk in chunks]

    assert len(chunks) == 5
    assert per_read == [
        [],
        [
            '{"id":"4","object":"chat.completion.chunk","created":1,"model":"m",'
            '"choices":[{"index":0,"delta":{"content":"Hello"},'
            '"finish_reason":"stop"}]}'
        ],
        [],
        [
            '{"id":"4","object":"chat.completion.chunk","created":1,"model":"m",'
            '"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,'
            '"total_tokens":17}}'
        ],
        ["[DONE]"],
    ]
    assert parser.flush() == []


def test_b08_crlf_and_no_space_after_colon() -> None:
    stream = (DATA / "B08.sse").read_bytes()

    events = parse([stream])

    assert [event.event for event in events] == [
        "response.created",
        "response.completed",
    ]
    assert events[0].data == (
        '{"type":"response.created","response":{"id":"resp_1",'
        '"status":"in_progress","model":"gpt-4o-mini"}}'
    )
    assert events[0].raw == (
        b'event:response.created\r\ndata:{"type":"response.created","response":'
        b'{"id":"resp_1","status":"in_progress","model":"gpt-4o-mini"}}\r\n\r\n'
    )
    assert b"".join(event.raw for event in events) == stream


def test_crlf_cut_between_cr_and_lf_is_one_line_ending() -> None:
    parser = SseParser()

    first = parser.feed(b"data: a\r")
    second = parser.feed(b"\n\r")
    third = parser.feed(b"\ndata: b\r\n\r\n")

    assert first == []
    assert second == [SseEvent(raw=b"data: a\r\n\r", data="a")]
    # The "\n" that completed the previous "\r\n" travels with the next event.
    assert third == [SseEvent(raw=b"\ndata: b\r\n\r\n", data="b")]
    assert parser.flush() == []


def test_cr_at_end_of_read_then_eof() -> None:
    parser = SseParser()

    events = parser.feed(b"data: a\r\r")

    assert events == [SseEvent(raw=b"data: a\r\r", data="a")]
    assert parser.feed(b"\n") == []
    assert parser.flush() == [SseEvent(raw=b"\n")]


def test_b19_multibyte_characters_split_across_reads() -> None:
    chunks = chunks_of("B19.sse")

    events = parse(chunks)

    assert chunks[0].endswith(b"\xec")
    assert chunks[1].startswith(b"\x9d\x84")
    assert chunks[1].endswith(b"\xea\xb9")
    assert chunks[2].startswith(b"\x8c")
    assert events[0].data == (
        '{"id":"12","object":"chat.completion.chunk","created":1,"model":"gpt-4.1",'
        '"choices":[{"index":0,"delta":{"content":"무엇을 도와드릴까요?"},'
        '"finish_reason":null}]}'
    )
    assert [event.data for event in events[1:]] == [
        '{"id":"12","object":"chat.completion.chunk","created":1,"model":"gpt-4.1",'
        '"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
        "[DONE]",
    ]
    assert b"".join(event.raw for event in events) == b"".join(chunks)


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        (b"data: x", [SseEvent(raw=b"data: x", data="x")]),
        (b"data: x\n", [SseEvent(raw=b"data: x\n", data="x")]),
        (b"event: e\r\ndata: x\r\n", [SseEvent(b"event: e\r\ndata: x\r\n", "e", "x")]),
        (b": ping", [SseEvent(raw=b": ping")]),
        (b"", []),
    ],
)
def test_flush_returns_the_unterminated_event(
    tail: bytes, expected: list[SseEvent]
) -> None:
    parser = SseParser()

    complete = parser.feed(b"data: 1\n\n" + tail)

    assert complete == [SseEvent(raw=b"data: 1\n\n", data="1")]
    assert parser.flush() == expected
    assert parser.flush() == []


def test_retry_field_is_read() -> None:
    events = parse([b"retry: 1500\ndata: x\n\nretry: soon\ndata: y\n\n"])

    assert [(event.retry, event.data) for event in events] == [
        (1500, "x"),
        (None, "y"),
    ]


def test_empty_reads_change_nothing() -> None:
    parser = SseParser()

    assert parser.feed(b"") == []
    assert parser.feed(b"data: x\n") == []
    assert parser.feed(b"") == []
    assert parser.feed(b"\n") == [SseEvent(raw=b"data: x\n\n", data="x")]


@pytest.mark.parametrize(
    "name",
    sorted(path.name for path in DATA.glob("*.sse")),
)
def test_case_streams_survive_random_reads(name: str) -> None:
    stream = b"".join(chunks_of(name))
    expected = significant(parse([stream]))
    rng = random.Random(name)

    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(stream)), rng.randint(1, 12)))
        events = parse(cut_at(stream, cuts))

        assert significant(events) == expected
        assert b"".join(event.raw for event in events) == stream


def test_line_endings_mixed_with_random_reads() -> None:
    rng = random.Random(7)
    endings = [b"\n", b"\r\n", b"\r"]
    lines = []
    expected: list[Fields] = []
    for number in range(200):
        end = rng.choice(endings)
        # After a bare "\r", a "\n" would extend that line ending, not add one.
        blank = rng.choice(endings[1:] if end == b"\r" else endings)
        lines.append(b"event: e%d" % number + end)
        lines.append(b"data:" + b"x" * rng.randint(0, 40) + end + blank)
        expected.append((f"e{number}", None, None))
    stream = b"".join(lines)

    cuts = sorted(rng.sample(range(1, len(stream)), 300))
    events = parse(cut_at(stream, cuts))

    assert [(e.event, None, e.id) for e in events if e.event] == expected
    assert significant(events) == significant(parse([stream]))
    assert b"".join(event.raw for event in events) == stream
