"""Errors of KQL queries, and the "did you mean" hint they carry.

`QueryError` lives in `tollhouse.errors` with the rest of the tree; it is
re-exported here for the compiler's modules and their callers.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from ..errors import QueryError, QueryLimitExceeded
from .ast import Pos

__all__ = ["QueryError", "QueryLimitExceeded", "did_you_mean", "fail"]


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return `` (did you mean 'X'?)`` for the closest choice, or ``""``."""
    options = list(choices)
    lowered = {choice.lower(): choice for choice in options}
    if name.lower() in lowered:
        return f" (did you mean '{lowered[name.lower()]}'?)"
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class CompileError(Exception):
    """Raised inside the compiler; `compile_query` adds the query text.

    The compiler's functions do not carry the source around, so they raise
    this and the entry point turns it into a `QueryError` with the caret.
    """

    def __init__(self, message: str, pos: Pos, expected: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.pos = pos
        self.expected = expected or []


def fail(message: str, pos: Pos, expected: list[str] | None = None) -> CompileError:
    """Build the error for ``message`` at ``pos``; the caller raises it."""
    return CompileError(message, pos, expected)
