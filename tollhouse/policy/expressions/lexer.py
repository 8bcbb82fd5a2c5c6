"""Tokens of the C# expression subset, with positions in the policy document.

`Source` knows where an expression's text starts in its document, so that
every error, from here to the compiler, points at ``FILE:LINE:COLUMN`` of
the offending token.  Interpolated strings are lexed into parts; each
``{…}`` hole is lexed again, from the same source, when it is parsed.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from ...errors import PolicyDocumentError

KEYWORDS = frozenset(
    [
        "abstract",
        "as",
        "base",
        "bool",
        "break",
        "byte",
        "case",
        "catch",
        "char",
        "checked",
        "class",
        "const",
        "continue",
        "decimal",
        "default",
        "delegate",
        "do",
        "double",
        "else",
        "enum",
        "event",
        "explicit",
        "extern",
        "false",
        "finally",
        "fixed",
        "float",
        "for",
        "foreach",
        "goto",
        "if",
        "implicit",
        "in",
        "int",
        "interface",
        "internal",
        "is",
        "lock",
        "long",
        "namespace",
        "new",
        "null",
        "object",
        "operator",
        "out",
        "override",
        "params",
        "private",
        "protected",
        "public",
        "readonly",
        "ref",
        "return",
        "sbyte",
        "sealed",
        "short",
        "sizeof",
        "stackalloc",
        "static",
        "string",
        "struct",
        "switch",
        "this",
        "throw",
        "true",
        "try",
        "typeof",
        "uint",
        "ulong",
        "unchecked",
        "unsafe",
        "ushort",
        "using",
        "virtual",
        "void",
        "volatile",
        "while",
    ]
)

_OPERATORS = sorted(
    [
        "??=",
        "<<=",
        "=>",
        "==",
        "!=",
        "<=",
        ">=",
        "&&",
        "||",
        "??",
        "?.",
        "++",
        "--",
        "+=",
        "-=",
        "*=",
        "/=",
        "%=",
        "&=",
        "|=",
        "^=",
        "<<",
        "::",
        "->",
        "+",
        "-",
        "*",
        "/",
        "%",
        "&",
        "|",
        "^",
        "!",
        "~",
        "=",
        "<",
        ">",
        "?",
        ":",
        ";",
        ",",
        ".",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
    ],
    key=len,
    reverse=True,
)
_SIMPLE_ESCAPES = {
    "'": "'",
    '"': '"',
    "\\": "\\",
    "0": "\0",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}
_NUMBER = re.compile(
    r"0[xX](?P<hex>[0-9a-fA-F_]+)(?P<hsuffix>[uUlL]*)"
    r"|0[bB](?P<bin>[01_]+)(?P<bsuffix>[uUlL]*)"
    r"|(?P<dec>(?:\d[\d_]*)?(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?)(?P<suffix>[fFdDmM]|[uU][lL]?|[lL][uU]?)?"
)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class Source:
    """An expression's text and where it starts in its document."""

    def __init__(self, text: str, name: str, line: int, column: int) -> None:
        self.text = text
        self.name = name
        self.line = line
        self.column = column
        self._breaks = [i for i, char in enumerate(text) if char == "\n"]

    def position(self, offset: int) -> tuple[int, int]:
        """1-based line and column of ``offset`` in the document."""
        before = bisect.bisect_left(self._breaks, offset)
        if before == 0:
            return self.line, self.column + offset
        return self.line + before, offset - self._breaks[before - 1]

    def error(self, message: str, offset: int) -> PolicyDocumentError:
        line, column = self.position(offset)
        return PolicyDocumentError(message, source=self.name, line=line, column=column)


@dataclass(frozen=True, slots=True)
class Hole:
    """``{expr,alignment:format}`` inside an interpolated string."""

    start: int
    end: int
    alignment: tuple[int, int] | None
    format: str | None


@dataclass(frozen=True, slots=True)
class Token:
    """``kind`` is name, keyword, int, real, string, char, interp, op or end."""

    kind: str
    text: str
    offset: int
    value: object = None
    suffix: str = ""

    def quoted(self) -> str:
        return "end of expression" if self.kind == "end" else f"'{self.text}'"


def tokenize(source: Source, start: int, end: int) -> list[Token]:
    """The tokens of ``source.text[start:end]``, ending with an end token."""
    return _Lexer(source, start, end).run()


class _Lexer:
    def __init__(self, source: Source, start: int, end: int) -> None:
        self.source = source
        self.text = source.text
        self.pos = start
        self.end = end
        self.tokens: list[Token] = []

    def fail(self, message: str, offset: int | None = None) -> PolicyDocumentError:
        return self.source.error(message, self.pos if offset is None else offset)

    def peek(self, ahead: int = 0) -> str:
        index = self.pos + ahead
        return self.text[index] if index < self.end else ""

    def run(self) -> list[Token]:
        while self._skip_space():
            self.tokens.append(self._token())
        self.tokens.append(Token("end", "", self.end))
        return self.tokens

    def _skip_space(self) -> bool:
        while self.pos < self.end:
            char = self.peek()
            if char.isspace():
                self.pos += 1
            elif self.text.startswith("//", self.pos):
                newline = self.text.find("\n", self.pos, self.end)
                self.pos = self.end if newline < 0 else newline
            elif self.text.startswith("/*", self.pos):
                close = self.text.find("*/", self.pos + 2, self.end)
                if close < 0:
                    raise self.fail("unterminated comment '/*'")
                self.pos = close + 2
            else:
                return True
        return False

    def _token(self) -> Token:
        char, start = self.peek(), self.pos
        if char == '"':
            return self._string(start, start + 1)
        if char == "'":
            return self._char(start)
        if char in "$@" and self.peek(1) in '$@"':
            return self._prefixed_string(start)
        if char == "@" and (self.peek(1).isalpha() or self.peek(1) == "_"):
            self.pos += 1
            name = self._identifier()
            return Token("name", name, start)
        if char.isalpha() or char == "_":
            name = self._identifier()
            return Token("keyword" if name in KEYWORDS else "name", name, start)
        if char.isdigit() or (char == "." and self.peek(1).isdigit()):
            return self._number(start)
        return self._operator(start)

    def _identifier(self) -> str:
        start = self.pos
        while self.pos < self.end and (self.peek().isalnum() or self.peek() == "_"):
            self.pos += 1
        return self.text[start : self.pos]

    def _operator(self, start: int) -> Token:
        for op in _OPERATORS:
            if self.text.startswith(op, start) and start + len(op) <= self.end:
                if op == "?." and self.peek(2).isdigit():
                    continue
                self.pos += len(op)
                return Token("op", op, start)
        raise self.fail(f"unexpected character '{self.peek()}'")

    def _number(self, start: int) -> Token:
        match = _NUMBER.match(self.text, start, self.end)
        assert match is not None
        self.pos = match.end()
        text = match.group(0)
        if self.pos < self.end and (self.peek().isalnum() or self.peek() == "_"):
            raise self.fail(f"invalid number '{text}{self.peek()}'", start)
        if match.group("hex") is not None or match.group("bin") is not None:
            digits = match.group("hex") or match.group("bin")
            suffix = match.group("hsuffix") or match.group("bsuffix") or ""
            value = int(digits.replace("_", ""), 16 if match.group("hex") else 2)
            return self._integer(text, start, value, suffix)
        number, suffix = match.group("dec"), (match.group("suffix") or "")
        if any(c in number for c in ".eE") or suffix.lower() in ("f", "d", "m"):
            return self._real(text, start, number.replace("_", ""), suffix)
        return self._integer(text, start, int(number.replace("_", "")), suffix)

    def _integer(self, text: str, start: int, value: int, suffix: str) -> Token:
        if value >= 2**63:
            raise self.fail(f"integral constant '{text}' is too large", start)
        long = "l" in suffix.lower() or "u" in suffix.lower() or value >= 2**31
        return Token("int", text, start, value, "long" if long else "int")

    def _real(self, text: str, start: int, number: str, suffix: str) -> Token:
        if suffix.lower() == "m":
            try:
                return Token("real", text, start, Decimal(number), "decimal")
            except InvalidOperation:
                raise self.fail(f"invalid number '{text}'", start) from None
        if suffix.lower() not in ("", "f", "d"):
            raise self.fail(f"invalid number '{text}'", start)
        return Token("real", text, start, float(number), "double")

    def _char(self, start: int) -> Token:
        self.pos += 1
        if self.peek() in ("", "\n", "'"):
            raise self.fail("empty or unterminated character literal", start)
        value = self._escape() if self.peek() == "\\" else self._advance()
        if self.peek() != "'":
            raise self.fail("character literal must hold exactly one character", start)
        self.pos += 1
        return Token("char", self.text[start : self.pos], start, value)

    def _advance(self) -> str:
        char = self.peek()
        self.pos += 1
        return char

    def _prefixed_string(self, start: int) -> Token:
        prefix = ""
        while self.peek() in ("$", "@") and self.peek() not in prefix:
            prefix += self._advance()
        if self.peek() != '"':
            raise self.fail(f"unexpected character '{self.peek()}'")
        body = self.pos + 1
        if "$" in prefix:
            return self._interpolated(start, body, verbatim="@" in prefix)
        return self._verbatim(start, body)

    def _string(self, start: int, body: int) -> Token:
        self.pos = body
        out: list[str] = []
        while self.peek() != '"':
            if self.peek() == "":
                raise self.fail("unterminated string literal", start)
            if self.peek() == "\n":
                raise self.fail(
                    "newline in constant: unterminated string literal", start
                )
            out.append(self._escape() if self.peek() == "\\" else self._advance())
        self.pos += 1
        return Token("string", self.text[start : self.pos], start, _clean("".join(out)))

    def _verbatim(self, start: int, body: int) -> Token:
        self.pos = body
        out: list[str] = []
        while True:
            char = self.peek()
            if char == "":
                raise self.fail("unterminated verbatim string", start)
            self.pos += 1
            if char == '"':
                if self.peek() != '"':
                    break
                self.pos += 1
            out.append(char)
        return Token("string", self.text[start : self.pos], start, _clean("".join(out)))

    def _escape(self) -> str:
        start = self.pos
        self.pos += 1
        char = self._advance()
        if char in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[char]
        lengths = {"u": (4, 4), "U": (8, 8), "x": (1, 4)}
        if char not in lengths:
            raise self.fail(f"unrecognized escape sequence '\\{char}'", start)
        low, high = lengths[char]
        digits = ""
        while (
            len(digits) < high
            and self.peek()
            and self.peek() in "0123456789abcdefABCDEF"
        ):
            digits += self._advance()
        if len(digits) < low or int(digits, 16) > 0x10FFFF:
            raise self.fail(
                f"unrecognized escape sequence '{self.text[start : self.pos]}'", start
            )
        return chr(int(digits, 16))

    def _interpolated(self, start: int, body: int, *, verbatim: bool) -> Token:
        self.pos = body
        parts: list[str | Hole] = []
        literal: list[str] = []
        while True:
            char = self.peek()
            if char == "" or (char == "\n" and not verbatim):
                raise self.fail("unterminated interpolated string", start)
            if char == '"' and not (verbatim and self.peek(1) == '"'):
                self.pos += 1
                break
            if char in "{}" and self.peek(1) == char:
                literal.append(char)
                self.pos += 2
            elif char == "{":
                parts.append(_clean("".join(literal)))
                literal = []
                parts.append(self._hole())
            elif char == "}":
                raise self.fail("'}' in an interpolated string must be doubled as '}}'")
            elif char == "\\" and not verbatim:
                literal.append(self._escape())
            else:
                literal.append(self._advance())
                if verbatim and char == '"':
                    self.pos += 1
        parts.append(_clean("".join(literal)))
        return Token("interp", self.text[start : self.pos], start, parts)

    def _hole(self) -> Hole:
        opened = self.pos
        self.pos += 1
        expr_start = self.pos
        expr_end = self._scan_hole(opened)
        alignment = None
        if self.peek() == ",":
            self.pos += 1
            align_start = self.pos
            while self.peek() not in (":", "}", ""):
                self.pos += 1
            alignment = (align_start, self.pos)
        spec = None
        if self.peek() == ":":
            close = self.text.find("}", self.pos, self.end)
            if close < 0:
                raise self.fail("unterminated interpolation hole '{'", opened)
            spec = self.text[self.pos + 1 : close]
            self.pos = close
        if self.peek() != "}":
            raise self.fail("unterminated interpolation hole '{'", opened)
        self.pos += 1
        if not self.text[expr_start:expr_end].strip():
            raise self.fail("empty interpolation hole '{}'", opened)
        return Hole(expr_start, expr_end, alignment, spec)

    def _scan_hole(self, opened: int) -> int:
        """Move to the ``,``, ``:`` or ``}`` that ends the hole's expression."""
        depth = 0
        while True:
            char = self.peek()
            if char == "":
                raise self.fail("unterminated interpolation hole '{'", opened)
            if depth == 0 and char in ",:}":
                return self.pos
            if char in "([{":
                depth += 1
            elif char in ")]}":
                depth -= 1
            if char in "\"'" or (char in "$@" and self.peek(1) in '$@"'):
                self._token()
                continue
            self.pos += 1


def _clean(text: str) -> str:
    """Join surrogate pairs written as two escapes; replace lone halves."""
    if not _LONE_SURROGATE.search(text):
        return text
    joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return _LONE_SURROGATE.sub("\ufffd", joined)
