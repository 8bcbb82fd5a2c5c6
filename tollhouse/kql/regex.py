"""The regular expressions both stores read the same way.

SQLite runs patterns in Python (see `sqlite_functions`), PostgreSQL with its
own engine.  The two agree on a common subset: literals, classes,
``. * + ? {m,n} | ( ) (?: )``, anchors ``^ $``, ``\\d \\w \\s`` and a leading
``(?i)``.  Constructs outside it (look-around, back-references, ``\\b``,
named groups...) are refused when the query is compiled, rather than give
different rows on each store; so are repetition counts above 255 and
patterns whose repetitions multiply past `MAX_REGEX_SIZE`, which PostgreSQL
refuses as too complex.  As in PostgreSQL, ``.`` matches a newline.

The subset is what `re` accepts, but Python matches with the `regex`
package: `bounded_search` releases the GIL while it matches and stops at the
query's `Deadline`, so that a pattern that backtracks catastrophically
(``(a|aa)+$``) cannot hold the process past the query's time limit.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

import regex

from .ast import Pos
from .deadline import Deadline
from .errors import fail

MAX_REGEX_SIZE = 10_000
"""Most characters and classes a pattern may come to once its repetitions
are multiplied out: `regex` unrolls ``{n}`` in memory, PostgreSQL refuses
``(a{255}){255}`` as too complex."""

MAX_REPEAT = 255
"""The largest count of ``{m,n}``, as in PostgreSQL."""

_REFUSED = [
    (r"\(\?[=!]", "look-ahead is not supported in regular expressions"),
    (r"\(\?<[=!]", "look-behind is not supported in regular expressions"),
    (r"\(\?P?<", "named groups are not supported in regular expressions"),
    (r"\(\?[^:i)]", "groups (?...) other than (?:...) are not supported"),
    (r"\(\?i\)", "(?i) is only supported at the start of the pattern"),
    (r"\\[1-9]", "back-references are not supported in regular expressions"),
    (r"[*+?}][+]", "possessive quantifiers are not supported"),
    (r"\{,", "{,n} is not supported: write {0,n}"),
]
_ESCAPE = re.compile(r"\\[bBAZzGpPQE]")
_CLASS_SYNTAX = re.compile(r"\[[:=.]")
"""POSIX ``[:alpha:]``, ``[=a=]`` and ``[.a.]``: PostgreSQL reads them inside
a class, Python reads them as plain characters."""
_QUANTIFIER = re.compile(r"(?:[*+?]|\{(\d+)(?:(,)(\d*))?\})\??")


def check_regex(pattern: str, pos: Pos) -> None:
    """Fail unless ``pattern`` is valid and in the subset both stores share."""
    body = pattern.removeprefix("(?i)")
    scrubbed = re.sub(r"\\\\", "", body)
    for refused, message in _REFUSED:
        if re.search(refused, scrubbed):
            raise fail(message, pos)
    escape = _ESCAPE.search(scrubbed)
    if escape:
        message = f"the escape {escape.group()} is not supported in regular expressions"
        raise fail(message, pos)
    classes = [text for kind, text in _tokens(body) if kind == "class"]
    if any(_CLASS_SYNTAX.search(c[1:]) for c in classes):
        raise fail(
            "POSIX classes such as [[:alpha:]] are not supported in regular"
            " expressions: write the characters, as [a-zA-Z]",
            pos,
        )
    try:
        re.compile(body)
    except re.error as exc:
        raise fail(f"invalid regular expression: {exc}", pos) from None
    _check_size(body, pos)
    try:
        python_regex(pattern)
    except regex.error as exc:
        raise fail(f"invalid regular expression: {exc}", pos) from None


def _check_size(body: str, pos: Pos) -> None:
    """Fail if a count passes `MAX_REPEAT` or the pattern `MAX_REGEX_SIZE`."""
    stack = [[0, 0]]  # Per open group: its size so far, its last item's.
    for kind, text in _tokens(body):
        frame = stack[-1]
        if kind == "open":
            stack.append([0, 0])
        elif kind == "close" and len(stack) > 1:
            size = stack.pop()[0]
            stack[-1][0] += size
            stack[-1][1] = size
        elif kind == "repeat":
            count = _count(text, pos)
            frame[0] += frame[1] * (count - 1)
            frame[1] *= count
        elif kind == "or":
            frame[1] = 0
        else:
            frame[0] += 1
            frame[1] = 1
        if frame[0] > MAX_REGEX_SIZE:
            raise fail(
                "the regular expression is too complex: its repetitions come to"
                f" more than {MAX_REGEX_SIZE} characters",
                pos,
            )


def _count(quantifier: str, pos: Pos) -> int:
    """How many times ``quantifier`` repeats at most (its least if unbounded)."""
    match = _QUANTIFIER.fullmatch(quantifier)
    assert match is not None
    least, comma, most = match.groups()
    if least is None:
        return 1
    counts = [int(least), int(most or 0)]
    if max(counts) > MAX_REPEAT:
        message = f"repetition counts above {MAX_REPEAT} are not supported"
        raise fail(message, pos)
    return max(counts) if not comma or most else max(int(least), 1)


def _tokens(pattern: str) -> Iterator[tuple[str, str]]:
    """``pattern`` in pieces: ``escape``, ``class`` (``[...]`` whole),
    ``open`` (``(`` or ``(?:``), ``close``, ``or``, ``repeat`` (a
    quantifier, lazy or not) and ``char`` (anything else, ``{`` included
    when it starts no quantifier)."""
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            kind, end = "escape", i + 2
        elif char == "[":
            kind, end = "class", _class_end(pattern, i)
        elif (quantifier := _QUANTIFIER.match(pattern, i)) is not None:
            kind, end = "repeat", quantifier.end()
        elif char == "(":
            kind, end = "open", i + (3 if pattern.startswith("(?:", i) else 1)
        else:
            kind, end = {")": "close", "|": "or"}.get(char, "char"), i + 1
        yield kind, pattern[i:end]
        i = end


def _class_end(pattern: str, start: int) -> int:
    """Where the class opened at ``start`` ends (a ``]`` first is literal)."""
    i = start + 1
    i += 1 if pattern[i : i + 1] == "^" else 0
    i += 1 if pattern[i : i + 1] == "]" else 0
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


@functools.lru_cache(maxsize=64)
def python_regex(pattern: str) -> regex.Pattern[str]:
    """Compile a pattern of the shared subset for Python, as PostgreSQL reads it.

    ``$`` only matches at the very end, and ``.`` matches newlines.  The
    pattern must have passed `check_regex` (which bounds its size).
    """
    flags = regex.DOTALL | regex.VERSION0
    if pattern.startswith("(?i)"):
        pattern, flags = pattern[4:], flags | regex.IGNORECASE
    return regex.compile(_for_regex(pattern), flags)


def _for_regex(pattern: str) -> str:
    """``$`` as ``\\Z``, and a ``{`` that starts no quantifier escaped (`regex`
    would read ``{e<=1}`` as fuzzy matching, `re` and PostgreSQL as text)."""
    pieces = []
    for kind, text in _tokens(pattern):
        if kind == "char" and text in "${":
            text = r"\Z" if text == "$" else r"\{"
        pieces.append(text)
    return "".join(pieces)


def bounded_search(
    compiled: regex.Pattern[str], value: str, deadline: Deadline | None
) -> regex.Match[str] | None:
    """The first match of ``compiled`` in ``value``, within ``deadline``.

    The match runs without the GIL, so that a slow one never holds up the
    process's other threads.  Running out of time expires ``deadline`` and
    raises `TimeoutError`.
    """
    if deadline is None:
        return compiled.search(value, concurrent=True)
    remaining = deadline.remaining()
    if remaining <= 0:
        deadline.expire()
        raise TimeoutError("the query ran out of time")
    try:
        return compiled.search(value, concurrent=True, timeout=remaining)
    except TimeoutError:
        deadline.expire()
        raise
