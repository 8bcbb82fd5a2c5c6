"""Reading policy XML the way API Management reads it.

APIM documents are XML everywhere except inside policy expressions.  An
attribute such as ``condition="@(a != null && a.Equals("x"))"`` or a ``@{ ... }``
block in element text may hold double quotes, ``&&``, ``<`` and ``>`` as they
are.  The reader finds where each expression ends with a small C# scanner that
knows string literals (regular, verbatim ``@"…"``, interpolated ``$"…{…}…"``),
character literals, comments and brackets.  It then hands expat a copy of the
document in which those expressions are masked, so everything else is checked
as the well-formed XML it must be.

Parsing is safe by construction: a ``DOCTYPE`` is refused before expat sees the
document, so there are no DTDs, no external entities and no entity expansion;
only the five predefined entities and character references are decoded.

Every attribute value and text is a `Text`: the decoded string plus a map back
to the original file, so that a problem found later (a bad value, an expression
that does not compile, an unknown named value) is reported at its exact line and
column.  Named values (``{{name}}``) are substituted into a `Text` by
`Text.substitute`; a secret's value never appears in what `Text.shown` or
`Text.redact` return.
"""

from __future__ import annotations

import bisect
import re
import xml.parsers.expat
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NoReturn

from ..errors import PolicyDocumentError

NAMED_VALUE = re.compile(r"\{\{\s*([A-Za-z0-9._-]+)\s*\}\}")
"""A ``{{name}}`` reference, as in the configuration file."""

_NAME = re.compile(r"[^\W\d][\w.\-]*(?::[^\W\d][\w.\-]*)?")
_SPACE = re.compile(r"[ \t\n]*")
_ENTITY = re.compile(r"&(?:#x([0-9A-Fa-f]{1,6})|#([0-9]{1,7})|([A-Za-z][\w.\-]*));")
_PREDEFINED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_PAIRS = {"(": ")", "[": "]", "{": "}"}
MAX_DEPTH = 64
"""Deepest nesting of elements, and of interpolated strings in an expression."""
MAX_ATTRIBUTES = 64
"""Most attributes on one element; no policy takes more than a dozen."""
_EXPRESSION_STARTS = ("@(", "@{")
# Where a run of plain characters ends: in an attribute value in each quote,
# and in text.  One search stops at the nearest; a find per character would
# scan to the end of the document for each one that is absent.
_VALUE_STOPS = {quote: re.compile(rf"[{quote}&<\t\n]") for quote in "\"'"}
_TEXT_STOPS = re.compile("[&<]")


@dataclass(frozen=True, order=True)
class Position:
    """A place in a file: 1-based line and column (in characters)."""

    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.line}:{self.column}"


class Source:
    """The text of one document, and the means to turn offsets into positions.

    Line ends are normalised to ``\\n`` (as XML does) and a byte-order mark is
    dropped; neither changes any line or column.
    """

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
        self.text = text
        self._line_starts = [0, *(m.end() for m in re.finditer("\n", text))]

    def position(self, offset: int) -> Position:
        line = bisect.bisect_right(self._line_starts, offset)
        return Position(line, offset - self._line_starts[line - 1] + 1)

    def error(self, message: str, offset: int) -> PolicyDocumentError:
        where = self.position(offset)
        return PolicyDocumentError(
            message, source=self.name, line=where.line, column=where.column
        )


@dataclass(frozen=True)
class NamedValues:
    """Values for ``{{name}}`` references.

    The values of the names in ``secrets`` never reach a log or an error
    message: where one would be shown, its ``{{name}}`` is shown instead.
    """

    values: Mapping[str, str] = field(default_factory=dict)
    secrets: frozenset[str] = frozenset()


# Text ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Piece:
    """A run of a `Text`'s value and where it came from.

    A literal piece maps character for character onto the source from
    ``origin``; any other piece (a decoded entity, a named value) maps every
    character to ``origin``.  ``placeholder`` is set on a secret named value.
    """

    index: int
    length: int
    origin: int
    literal: bool
    placeholder: str = ""


class Text:
    """A string read from a document, each character traceable to the file."""

    __slots__ = ("_indexes", "_pieces", "source", "start", "value")

    def __init__(
        self, value: str, source: Source, start: int, pieces: tuple[_Piece, ...]
    ) -> None:
        self.value = value
        self.source = source
        self.start = start
        self._pieces = pieces
        self._indexes = [p.index for p in pieces]

    def __repr__(self) -> str:
        return f"Text({self.shown!r} at {self.position()})"

    def offset(self, index: int) -> int:
        """The source offset of ``value[index]`` (the end maps past the last)."""
        if not self._pieces:
            return self.start
        at = max(bisect.bisect_right(self._indexes, index) - 1, 0)
        piece = self._pieces[at]
        if not piece.literal:
            return piece.origin
        return piece.origin + min(index - piece.index, piece.length)

    def position(self, index: int = 0) -> Position:
        return self.source.position(self.offset(index))

    def error(self, message: str, index: int = 0) -> PolicyDocumentError:
        return self.source.error(message, self.offset(index))

    @property
    def verbatim(self) -> bool:
        """True when the value is exactly the file's characters from `start`."""
        return all(p.literal and p.origin == self.start + p.index for p in self._pieces)

    @property
    def has_secret(self) -> bool:
        return any(p.placeholder for p in self._pieces)

    @property
    def shown(self) -> str:
        """The value with each secret named value replaced by its ``{{name}}``."""
        if not self.has_secret:
            return self.value
        parts = []
        for piece in self._pieces:
            chunk = self.value[piece.index : piece.index + piece.length]
            parts.append(piece.placeholder or chunk)
        return "".join(parts)

    def redact(self, message: str) -> str:
        """``message`` with any secret value held in this text replaced."""
        secrets: dict[str, str] = {}  # each once, however often the text holds it
        for piece in self._pieces:
            secret = self.value[piece.index : piece.index + piece.length]
            if piece.placeholder and secret:
                secrets.setdefault(secret, piece.placeholder)
        for secret, placeholder in secrets.items():
            message = message.replace(secret, placeholder)
        return message

    def strip(self) -> Text:
        """The text without leading and trailing XML white space."""
        stripped = self.value.strip(" \t\n")
        if stripped == self.value:
            return self
        begin = len(self.value) - len(self.value.lstrip(" \t\n"))
        return self._slice(begin, begin + len(stripped))

    def _slice(self, begin: int, end: int) -> Text:
        builder = TextBuilder(self.source, self.offset(begin))
        # Only the pieces from the one holding `begin`: substitute slices a
        # text once per {{name}} it holds.
        first = max(bisect.bisect_right(self._indexes, begin) - 1, 0)
        for at in range(first, len(self._pieces)):
            piece = self._pieces[at]
            if piece.index >= end:
                break
            low = max(begin, piece.index)
            high = min(end, piece.index + piece.length)
            if low >= high:
                continue
            chunk = self.value[low:high]
            if piece.literal:
                builder.literal(chunk, piece.origin + low - piece.index)
            else:
                builder.replaced(chunk, piece.origin, piece.placeholder)
        return builder.build()

    def substitute(self, named: NamedValues) -> tuple[Text, list[PolicyDocumentError]]:
        """Replace each ``{{name}}``; unknown names are errors at their place."""
        if "{{" not in self.value:
            return self, []
        errors: list[PolicyDocumentError] = []
        builder = TextBuilder(self.source, self.start)
        done = 0
        for match in NAMED_VALUE.finditer(self.value):
            name = match.group(1)
            if name not in named.values:
                errors.append(
                    self.error(f"unknown named value {match.group(0)!r}", match.start())
                )
                continue
            builder.extend(self._slice(done, match.start()))
            placeholder = match.group(0) if name in named.secrets else ""
            origin = self.offset(match.start())
            builder.replaced(named.values[name], origin, placeholder)
            done = match.end()
        builder.extend(self._slice(done, len(self.value)))
        return builder.build(), errors


class TextBuilder:
    """Assembles a `Text` piece by piece, merging runs that follow each other."""

    def __init__(self, source: Source, start: int) -> None:
        self.source = source
        self.start = start
        self._parts: list[str] = []
        self._pieces: list[_Piece] = []
        self._length = 0

    def literal(self, chunk: str, origin: int) -> None:
        """Add characters copied one to one from the source at ``origin``."""
        if not chunk:
            return
        last = self._pieces[-1] if self._pieces else None
        if last and last.literal and last.origin + last.length == origin:
            merged = _Piece(last.index, last.length + len(chunk), last.origin, True)
            self._pieces[-1] = merged
        else:
            self._pieces.append(_Piece(self._length, len(chunk), origin, True))
        self._add(chunk)

    def replaced(self, chunk: str, origin: int, placeholder: str = "") -> None:
        """Add characters standing for the source text at ``origin``."""
        if not chunk and not placeholder:
            return
        piece = _Piece(self._length, len(chunk), origin, False, placeholder)
        self._pieces.append(piece)
        self._add(chunk)

    def extend(self, text: Text) -> None:
        for piece in text._pieces:
            chunk = text.value[piece.index : piece.index + piece.length]
            if piece.literal:
                self.literal(chunk, piece.origin)
            else:
                self.replaced(chunk, piece.origin, piece.placeholder)

    def build(self) -> Text:
        value = "".join(self._parts)
        return Text(value, self.source, self.start, tuple(self._pieces))

    def _add(self, chunk: str) -> None:
        self._parts.append(chunk)
        self._length += len(chunk)


# The element tree ---------------------------------------------------------


@dataclass(frozen=True)
class XmlAttribute:
    """An attribute as written: its name (and where it is) and its value."""

    name: str
    value: Text
    offset: int

    @property
    def position(self) -> Position:
        return self.value.source.position(self.offset)


@dataclass(frozen=True)
class XmlElement:
    """An element as written; ``text`` is its character data, comments left out."""

    name: str
    source: Source
    offset: int
    attributes: tuple[XmlAttribute, ...]
    children: tuple[XmlElement, ...]
    text: Text

    @property
    def position(self) -> Position:
        return self.source.position(self.offset)

    def error(self, message: str) -> PolicyDocumentError:
        return self.source.error(message, self.offset)


def read_xml(text: str, *, source: str) -> XmlElement:
    """Read one document leniently; raise `PolicyDocumentError` where it breaks."""
    return _Reader(Source(source, text)).read()


class _Open:
    """An element whose end tag has not been read yet."""

    def __init__(
        self, name: str, source: Source, offset: int, attributes: list[XmlAttribute]
    ) -> None:
        self.name = name
        self.offset = offset
        self.attributes = tuple(attributes)
        self.children: list[XmlElement] = []
        self.text = TextBuilder(source, offset)

    def close(self, source: Source) -> XmlElement:
        return XmlElement(
            self.name,
            source,
            self.offset,
            self.attributes,
            tuple(self.children),
            self.text.build(),
        )


class _Reader:
    """The lenient tokenizer: builds the tree and notes where expressions are."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.text = source.text
        self.pos = 0
        self.masks: list[tuple[int, int]] = []
        self.stack: list[_Open] = []
        self.root: XmlElement | None = None

    def read(self) -> XmlElement:
        while self.pos < len(self.text):
            self._step()
        if self.stack:
            top = self.stack[-1]
            self._fail(f"<{top.name}> is not closed", top.offset)
        if self.root is None:
            self._fail("the document has no root element", len(self.text))
        _check_well_formed(self.source, self.masks)
        return self.root

    def _fail(self, message: str, offset: int) -> NoReturn:
        raise self.source.error(message, offset)

    def _step(self) -> None:
        text, pos = self.text, self.pos
        if text.startswith("<!--", pos):
            self.pos = self._find("-->", pos + 4, "comment is not closed", pos) + 3
        elif text.startswith("<![CDATA[", pos):
            self._cdata()
        elif text.startswith("<!", pos):
            self._declaration()
        elif text.startswith("<?", pos):
            self.pos = self._find("?>", pos + 2, "'<?' is not closed", pos) + 2
        elif text.startswith("</", pos):
            self._end_tag()
        elif text[pos] == "<":
            self._start_tag()
        else:
            self._text_run()

    def _find(self, needle: str, start: int, message: str, at: int) -> int:
        found = self.text.find(needle, start)
        if found < 0:
            self._fail(message, at)
        return found

    def _declaration(self) -> None:
        if self.text.startswith("<!DOCTYPE", self.pos):
            self._fail(
                "a policy document cannot have a DOCTYPE (DTDs and entity "
                "declarations are refused)",
                self.pos,
            )
        self._fail("'<!' declarations are not allowed in a policy document", self.pos)

    def _cdata(self) -> None:
        start = self.pos
        end = self._find("]]>", start + 9, "CDATA section is not closed", start)
        if not self.stack:
            self._fail("CDATA outside the root element", start)
        self.stack[-1].text.literal(self.text[start + 9 : end], start + 9)
        self.pos = end + 3

    # Tags -----------------------------------------------------------------

    def _name(self, pos: int, what: str) -> str:
        match = _NAME.match(self.text, pos)
        if match is None:
            self._fail(f"expected {what}", pos)
        return match.group(0)

    def _skip_space(self, pos: int) -> int:
        match = _SPACE.match(self.text, pos)
        assert match is not None
        return match.end()

    def _start_tag(self) -> None:
        start = self.pos
        name = self._name(start + 1, "an element name after '<'")
        if not self.stack and self.root is not None:
            self._fail(f"<{name}> follows the root element; only one is allowed", start)
        attributes, end = self._attributes(start, name)
        element = _Open(name, self.source, start, attributes)
        if len(self.stack) >= MAX_DEPTH:
            self._fail(f"elements are nested more than {MAX_DEPTH} deep", start)
        if self.text.startswith("/>", end):
            self.pos = end + 2
            self._closed(element)
        else:
            self.pos = end + 1
            self.stack.append(element)

    def _attributes(self, start: int, name: str) -> tuple[list[XmlAttribute], int]:
        """The attributes of the start tag at ``start``; where its end (``>``) is."""
        pos = start + 1 + len(name)
        attributes: dict[str, XmlAttribute] = {}
        while True:
            spaced = self._skip_space(pos)
            if self.text.startswith("/>", spaced) or self.text.startswith(">", spaced):
                return list(attributes.values()), spaced
            if spaced >= len(self.text):
                self._fail(f"the start tag of <{name}> is not closed", start)
            if spaced == pos:
                self._fail(f"expected '>', '/>' or an attribute in <{name}>", pos)
            if len(attributes) >= MAX_ATTRIBUTES:
                message = f"<{name}> has more than {MAX_ATTRIBUTES} attributes"
                self._fail(message, spaced)
            attribute, pos = self._attribute(spaced, name, attributes)
            attributes[attribute.name] = attribute

    def _attribute(
        self, pos: int, element: str, seen: Mapping[str, XmlAttribute]
    ) -> tuple[XmlAttribute, int]:
        name = self._name(pos, f"an attribute name in <{element}>")
        if name in seen:
            self._fail(f"attribute {name!r} is given twice", pos)
        equals = self._skip_space(pos + len(name))
        if not self.text.startswith("=", equals):
            self._fail(f"expected '=' after the attribute name {name!r}", equals)
        quote_at = self._skip_space(equals + 1)
        quote = self.text[quote_at : quote_at + 1]
        if quote not in ('"', "'"):
            self._fail(f"the value of {name!r} must be in quotes", quote_at)
        value, end = self._attribute_value(quote_at)
        return XmlAttribute(name, value, pos), end

    def _attribute_value(self, quote_at: int) -> tuple[Text, int]:
        quote = self.text[quote_at]
        builder = TextBuilder(self.source, quote_at + 1)
        pos = quote_at + 1
        if self.text.startswith(_EXPRESSION_STARTS, pos):
            pos = self._expression(pos, builder)
        while True:
            stop = _next_of(self.text, pos, _VALUE_STOPS[quote])
            builder.literal(self.text[pos:stop], pos)
            if stop >= len(self.text):
                self._fail("the attribute value is not closed", quote_at)
            char = self.text[stop]
            if char == quote:
                return builder.build(), stop + 1
            if char == "<":
                self._fail("'<' in an attribute value must be written &lt;", stop)
            if char == "&":
                pos = self._entity(stop, builder)
            else:
                builder.literal(" ", stop)  # XML turns tabs and newlines to spaces
                pos = stop + 1

    def _end_tag(self) -> None:
        start = self.pos
        name = self._name(start + 2, "an element name after '</'")
        close = self._skip_space(start + 2 + len(name))
        if not self.text.startswith(">", close):
            self._fail(f"expected '>' to end </{name}>", close)
        if not self.stack:
            self._fail(f"</{name}> closes no open element", start)
        top = self.stack.pop()
        if top.name != name:
            opened = self.source.position(top.offset)
            message = f"</{name}> does not match <{top.name}> opened at {opened}"
            self._fail(message, start)
        self.pos = close + 1
        self._closed(top)

    def _closed(self, element: _Open) -> None:
        done = element.close(self.source)
        if self.stack:
            self.stack[-1].children.append(done)
        else:
            self.root = done

    # Character data ---------------------------------------------------------

    def _text_run(self) -> None:
        start = self.pos
        content = self._skip_space(start)
        if not self.stack:
            if content < len(self.text) and self.text[content] != "<":
                self._fail("text outside the root element", content)
            self.pos = content
            return
        builder = self.stack[-1].text
        builder.literal(self.text[start:content], start)
        pos = content
        if self.text.startswith(_EXPRESSION_STARTS, pos):
            pos = self._expression(pos, builder)
        while True:
            stop = _next_of(self.text, pos, _TEXT_STOPS)
            builder.literal(self.text[pos:stop], pos)
            if not self.text.startswith("&", stop):
                break
            pos = self._entity(stop, builder)
        self.pos = stop

    def _entity(self, pos: int, builder: TextBuilder) -> int:
        match = _ENTITY.match(self.text, pos)
        if match is None:
            self._fail("'&' must be written &amp;", pos)
        decoded = _decode_entity(match)
        if decoded is None:
            self._fail(
                f"unknown entity {match.group(0)!r}: only &lt; &gt; &amp; &quot; "
                "&apos; and character references are defined",
                pos,
            )
        builder.replaced(decoded, pos)
        return match.end()

    def _expression(self, pos: int, builder: TextBuilder) -> int:
        end = _ExpressionScanner(self.source, pos, builder).scan()
        self.masks.append((pos, end))
        return end


def _next_of(text: str, pos: int, stops: re.Pattern[str]) -> int:
    """The offset of the first match of ``stops`` at or after ``pos`` (or the end)."""
    found = stops.search(text, pos)
    return len(text) if found is None else found.start()


def _decode_entity(match: re.Match[str]) -> str | None:
    hexadecimal, decimal, name = match.groups()
    if name is not None:
        return _PREDEFINED.get(name)
    code = int(hexadecimal, 16) if hexadecimal else int(decimal)
    if not _is_xml_char(code):
        return None
    return chr(code)


def _is_xml_char(code: int) -> bool:
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


# Expressions --------------------------------------------------------------


class _ExpressionScanner:
    """Finds the end of one ``@(…)`` or ``@{…}``, reading C# lexically.

    Entity references are decoded as they are read (an attribute may spell a
    quote ``&quot;``), and each character read is added to ``builder``.
    Only brackets are balanced: ``<`` and ``>`` are operators or generics.
    """

    def __init__(self, source: Source, pos: int, builder: TextBuilder) -> None:
        self.source = source
        self.text = source.text
        self.start = pos
        self.pos = pos
        self.builder = builder
        self.depth = 0

    def scan(self) -> int:
        self._take()  # the '@'
        opener_at = self.pos
        self._code([(self._take(), opener_at)])
        return self.pos

    def _fail(self, message: str, offset: int) -> NoReturn:
        raise self.source.error(message, offset)

    def _read(self, pos: int) -> tuple[str, int]:
        """The character at ``pos`` (an entity decoded) and where the next is."""
        if pos >= len(self.text):
            return "", pos
        if self.text[pos] == "&":
            match = _ENTITY.match(self.text, pos)
            decoded = _decode_entity(match) if match else None
            if match and decoded is not None:
                return decoded, match.end()
        return self.text[pos], pos + 1

    def _peek(self, ahead: int = 0) -> str:
        pos = self.pos
        for _ in range(ahead):
            pos = self._read(pos)[1]
        return self._read(pos)[0]

    def _take(self) -> str:
        char, after = self._read(self.pos)
        if after - self.pos == 1:
            self.builder.literal(char, self.pos)
        elif char:
            self.builder.replaced(char, self.pos)
        self.pos = after
        return char

    def _code(self, stack: list[tuple[str, int]]) -> None:
        while stack:
            at = self.pos
            char = self._take()
            if char == "":
                opener, _ = stack[0]
                closer = _PAIRS[stack[-1][0]]
                self._fail(
                    f"the expression is not closed: {closer!r} is missing "
                    f"(it starts with '@{opener}')",
                    self.start,
                )
            if char in _PAIRS:
                stack.append((char, at))
            elif char in ")]}":
                self._close(stack, char, at)
            else:
                self._token(char, at)

    def _close(self, stack: list[tuple[str, int]], char: str, at: int) -> None:
        opener, opened_at = stack.pop()
        if _PAIRS[opener] != char:
            opened = self.source.position(opened_at)
            self._fail(f"{char!r} does not match {opener!r} at {opened}", at)

    def _token(self, char: str, at: int) -> None:
        following = self._peek()
        if char == '"':
            self._string(at)
        elif char == "'":
            self._char(at)
        elif char == "/" and following in ("/", "*"):
            self._comment(at)
        elif char == "@" and following == '"':
            self._take()
            self._verbatim(at)
        elif char == "$" and following == '"':
            self._take()
            self._interpolated(at, verbatim=False)
        elif {char, following} == {"@", "$"} and self._peek(1) == '"':
            self._take()
            self._take()
            self._interpolated(at, verbatim=True)

    def _string(self, at: int) -> None:
        while True:
            char = self._take()
            if char in ("", "\n"):
                self._fail("the string literal is not closed", at)
            if char == "\\":
                self._take()
            elif char == '"':
                return

    def _verbatim(self, at: int) -> None:
        while True:
            char = self._take()
            if char == "":
                self._fail("the verbatim string literal is not closed", at)
            if char == '"':
                if self._peek() != '"':
                    return
                self._take()

    def _interpolated(self, at: int, verbatim: bool) -> None:
        while True:
            char = self._take()
            if char == "" or (char == "\n" and not verbatim):
                self._fail("the interpolated string is not closed", at)
            escaped = char == "\\" and not verbatim
            if escaped or (char in "{}" and self._peek() == char):
                self._take()
            elif char == "{":
                self._hole(self.pos - 1)
            elif char == '"':
                if not (verbatim and self._peek() == '"'):
                    return
                self._take()

    def _hole(self, at: int) -> None:
        """The code inside ``{…}`` of an interpolated string."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self._fail(
                f"interpolated strings are nested more than {MAX_DEPTH} deep", at
            )
        self._code([("{", at)])
        self.depth -= 1

    def _char(self, at: int) -> None:
        while True:
            char = self._take()
            if char in ("", "\n"):
                self._fail("the character literal is not closed", at)
            if char == "\\":
                self._take()
            elif char == "'":
                return

    def _comment(self, at: int) -> None:
        if self._take() == "/":
            while self._peek() not in ("", "\n"):
                self._take()
            return
        while True:
            char = self._take()
            if char == "":
                self._fail("the comment is not closed", at)
            if char == "*" and self._peek() == "/":
                self._take()
                return


# The strict check ---------------------------------------------------------


def _check_well_formed(source: Source, masks: list[tuple[int, int]]) -> None:
    """Let expat check everything but the expressions, which are masked."""
    parts: list[str] = []
    done = 0
    for begin, end in masks:
        parts.append(source.text[done:begin])
        parts.append(re.sub(r"[^\n]", "x", source.text[begin:end]))
        done = end
    parts.append(source.text[done:])
    masked = "".join(parts)

    parser = xml.parsers.expat.ParserCreate()
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_declaration
    parser.EntityDeclHandler = _refuse_declaration
    try:
        parser.Parse(masked, True)
    except xml.parsers.expat.ExpatError as exc:
        encoded = masked.encode("utf-8")[: max(parser.ErrorByteIndex, 0)]
        offset = len(encoded.decode("utf-8", errors="ignore"))
        code = getattr(exc, "code", None)
        reason = xml.parsers.expat.ErrorString(code) if code else str(exc)
        raise source.error(f"not well-formed XML: {reason}", offset) from None


def _refuse_declaration(*args: object) -> NoReturn:
    # The reader refuses a DOCTYPE before expat runs; this is a second lock.
    raise xml.parsers.expat.ExpatError("declarations are not allowed")
