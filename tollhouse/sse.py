"""An incremental Server-Sent-Events parser for backend streams.

The parser takes bytes exactly as they come off the backend socket, cut at any
point, and returns whole events.  Each event keeps the bytes it was made of,
so a relay can forward events one by one and the client still receives the
backend's stream byte for byte::

    parser = SseParser()
    for chunk in body:
        for event in parser.feed(chunk):
            relay(event.raw)
    for event in parser.flush():
        relay(event.raw)

Framing follows the WHATWG SSE rules: a line ends in ``\\n``, ``\\r\\n`` or
``\\r``; ``field:value`` loses at most one space after the colon; a line that
starts with ``:`` is a comment; a blank line ends an event.  Text is decoded
as UTF-8 only once an event is complete, so a character cut in two by a read
boundary decodes whole, and bytes that are not UTF-8 become U+FFFD instead of
raising.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)

_LF = 0x0A
_CR = 0x0D
_COLON = 0x3A
_BOM = b"\xef\xbb\xbf"


@dataclass(slots=True)
class SseEvent:
    """One event of an SSE stream.

    ``raw`` is the exact bytes of the event, up to and including the blank
    line that ended it (an event flushed at EOF may lack that line).  ``data``
    is the ``data:`` lines joined with ``"\\n"``, or None when the event had no
    data field at all, for example a ``: keep-alive`` comment.

    An event is returned as soon as its blank line is complete.  When a read
    ends between the ``\\r`` and ``\\n`` of that line, the event ends at the
    ``\\r`` and the ``\\n`` opens the next event's ``raw`` (at EOF, an event of
    its own with no fields), so no byte is lost or sent twice.
    """

    raw: bytes
    event: str | None = None
    data: str | None = None
    id: str | None = None
    retry: int | None = None


class SseParser:
    """Split a byte stream into `SseEvent`s; one parser per stream.

    `feed` accepts chunks cut at any byte and returns the events they
    complete; `flush` returns what is left at EOF.  Joining the ``raw`` of
    every returned event gives back the input exactly.
    """

    __slots__ = (
        "_line",
        "_raw",
        "_event",
        "_data",
        "_id",
        "_retry",
        "_after_cr",
        "_at_start",
    )

    def __init__(self) -> None:
        self._line: list[bytes] = []  # an unfinished line, in pieces
        self._raw: list[bytes] = []  # finished lines of the current event
        self._event: bytes | None = None
        self._data: list[bytes] | None = None
        self._id: bytes | None = None
        self._retry: int | None = None
        self._after_cr = False  # the last read ended in a "\r" ending a line
        self._at_start = True  # no line of the stream has been read yet

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Add the next bytes read from the stream; return completed events."""
        if not chunk:
            return []

        # A "\r\n" cut between two reads is one line ending: the "\n" joins
        # the bytes of the event in progress (or opens the next one).
        if self._after_cr:
            self._after_cr = False
            if chunk[0] == _LF:
                self._raw.append(b"\n")
                chunk = chunk[1:]
                if not chunk:
                    return []

        # Most reads either finish lines or add to a long line; only the
        # former needs scanning, and joining is done once per finished line.
        if b"\n" not in chunk and b"\r" not in chunk:
            self._line.append(chunk)
            return []
        if self._line:
            self._line.append(chunk)
            chunk = b"".join(self._line)
            self._line = []
        return self._scan(chunk)

    @property
    def pending(self) -> int:
        """Bytes held for the event being read (not yet ended by a blank line)."""
        return sum(map(len, self._line)) + sum(map(len, self._raw))

    def flush(self) -> list[SseEvent]:
        """End of stream: return the event left unterminated, if any.

        Its fields are parsed as if a blank line had followed, so that a
        backend which forgets the last blank line loses nothing; the parser
        is then ready for a new stream.
        """
        if self._line:
            line = b"".join(self._line)
            self._line = []
            self._field(line)
            self._raw.append(line)
        self._after_cr = False
        self._at_start = True
        if not self._raw:
            return []
        raw = b"".join(self._raw)
        self._raw = []
        return [self._dispatch(raw)]

    def _scan(self, buf: bytes) -> list[SseEvent]:
        events: list[SseEvent] = []
        start = 0  # where the event in progress begins within buf
        end = 0
        for line in buf.splitlines(keepends=True):
            last = line[-1]
            if last != _LF and last != _CR:
                self._line.append(line)  # unfinished: wait for more bytes
                break
            end += len(line)
            content = line.rstrip(b"\r\n")
            if content:
                self._field(content)
                continue
            raw = buf[start:end]
            if self._raw:
                self._raw.append(raw)
                raw = b"".join(self._raw)
                self._raw = []
            events.append(self._dispatch(raw))
            start = end
        if end > start:
            self._raw.append(buf[start:end])
        self._after_cr = end == len(buf) and buf[-1] == _CR
        return events

    def _field(self, content: bytes) -> None:
        if self._at_start:
            self._at_start = False
            if content.startswith(_BOM):
                content = content[len(_BOM) :]
                if not content:
                    return
        if content[0] == _COLON:
            return
        name, _, value = content.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            if self._data is None:
                self._data = [value]
            else:
                self._data.append(value)
        elif name == b"event":
            self._event = value
        elif name == b"id":
            if b"\0" not in value:
                self._id = value
        elif name == b"retry" and value.isdigit():
            self._retry = int(value)

    def _dispatch(self, raw: bytes) -> SseEvent:
        event = SseEvent(raw)
        if self._data is not None:
            event.data = b"\n".join(self._data).decode("utf-8", "replace")
            self._data = None
        if self._event is not None:
            event.event = self._event.decode("utf-8", "replace")
            self._event = None
        if self._id is not None:
            event.id = self._id.decode("utf-8", "replace")
            self._id = None
        event.retry, self._retry = self._retry, None
        return event
