"""The regular expressions both stores read the same way.

SQLite runs patterns with Python's `re` (see `sqlite_functions`), PostgreSQL
with its own engine.  The two agree on a common subset: literals, classes,
``. * + ? {m,n} | ( ) (?: )``, anchors ``^ $``, ``\\d \\w \\s`` and a leading
``(?i)``.  Constructs outside it (look-around, back-references, ``\\b``,
named groups...) are refused when the query is compiled, rather than give
different rows on each store.  As in PostgreSQL, ``.`` matches a newline.
"""

from __future__ import annotations

import functools
import re

from .ast import Pos
from .errors import fail

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
    if any(_CLASS_SYNTAX.search(c) for c in _classes(scrubbed)):
        raise fail(
            "POSIX classes such as [[:alpha:]] are not supported in regular"
            " expressions: write the characters, as [a-zA-Z]",
            pos,
        )
    try:
        python_regex(pattern)
    except re.error as exc:
        raise fail(f"invalid regular expression: {exc}", pos) from None


def _classes(pattern: str) -> list[str]:
    """The bodies of the character classes ``[...]`` of ``pattern``, each
    from the character after its opening ``[`` (a ``]`` first is literal)."""
    bodies, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char != "[":
            i += 1
            continue
        start = i + 1
        i = start + (1 if pattern[start : start + 1] in ("]", "^") else 0)
        i += 1 if pattern[start : start + 2] == "^]" else 0
        while i < len(pattern) and pattern[i] != "]":
            i += 2 if pattern[i] == "\\" else 1
        bodies.append(pattern[start:i])
        i += 1
    return bodies


@functools.lru_cache(maxsize=256)
def python_regex(pattern: str) -> re.Pattern[str]:
    """Compile a pattern of the shared subset for Python, as PostgreSQL reads it.

    ``$`` only matches at the very end, and ``.`` matches newlines.
    """
    flags = re.DOTALL
    if pattern.startswith("(?i)"):
        pattern, flags = pattern[4:], flags | re.IGNORECASE
    return re.compile(_dollar_to_end(pattern), flags)


def _dollar_to_end(pattern: str) -> str:
    out, i, in_class = [], 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        out.append(r"\Z" if char == "$" and not in_class else char)
        i += 1
    return "".join(out)
