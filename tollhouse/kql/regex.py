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
    (r"\(\?[=!]", "look-ahead"),
    (r"\(\?<[=!]", "look-behind"),
    (r"\(\?P?<", "named groups"),
    (r"\(\?[^:i)]", "this group syntax"),
    (r"\(\?i\)", "(?i) except at the start"),
    (r"\\[1-9]", "back-references"),
    (r"\\[bBAZzGpPQE]", "this escape"),
    (r"[*+?}][+]", "possessive quantifiers"),
    (r"\{,", "{,n}"),
]


def check_regex(pattern: str, pos: Pos) -> None:
    """Fail unless ``pattern`` is valid and in the subset both stores share."""
    body = pattern.removeprefix("(?i)")
    scrubbed = re.sub(r"\\\\", "", body)
    for refused, what in _REFUSED:
        if re.search(refused, scrubbed):
            raise fail(f"{what} in regular expressions are not supported", pos)
    try:
        python_regex(pattern)
    except re.error as exc:
        raise fail(f"invalid regular expression: {exc}", pos) from None


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
