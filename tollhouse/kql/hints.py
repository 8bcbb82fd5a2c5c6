"""Hints for syntax errors a Log Analytics user is likely to make.

The parser only knows that a token was unexpected; these rules look at the
query text around it and say what was probably meant: ``=`` for ``==``, a
misspelled operator, an unterminated string, or a KQL operator or function
that Tollhouse does not support.  `explain` returns the better message and
where to point it, or None when no rule applies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import ast
from .errors import did_you_mean

UNSUPPORTED_OPERATORS = frozenset(
    {"as", "consume", "evaluate", "externaldata", "facet", "find", "fork"}
    | {"getschema", "invoke", "lookup", "make-series", "mv-apply", "parse"}
    | {"parse-kv", "parse-where", "partition", "print", "project-keep"}
    | {"project-reorder", "range", "reduce", "sample", "sample-distinct"}
    | {"scan", "search", "serialize", "top-hitters", "top-nested", "datatable"}
)
"""Tabular operators of KQL that Tollhouse refuses."""

UNSUPPORTED_FUNCTIONS = frozenset({"toscalar", "materialize"})
"""Functions of KQL that take a tabular argument, which Tollhouse refuses."""

_PREFIX_OPERATORS = {"hasprefix": "startswith", "hassuffix": "endswith"}

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_TABULAR_CALL = re.compile(r"\b(toscalar|materialize)\s*\(")
_PREFIX_OP = re.compile(r"(!?)(hasprefix|hassuffix)(_cs)?(?![A-Za-z0-9_])")


@dataclass(frozen=True)
class Found:
    """What a syntax error at ``offset`` in ``text`` met."""

    text: str
    offset: int
    token: str  # The unexpected token's text, or the character.
    accepted: frozenset[str]  # Terminal names the parser would take there.
    words: tuple[str, ...]  # Keywords among them, as written in a query.


def explain(found: Found) -> tuple[str, int] | None:
    """A message for the error and the offset it points at, if a rule fits."""
    for rule in (_tabular_function, _operator, _prefix_operator, _assign, _quote):
        hint = rule(found)
        if hint is not None:
            return hint
    return None


def pos_of(text: str, offset: int) -> ast.Pos:
    """The 1-based line and column of ``offset`` in ``text``."""
    line = text.count("\n", 0, offset) + 1
    return ast.Pos(line, offset - (text.rfind("\n", 0, offset) + 1) + 1)


def _tabular_function(found: Found) -> tuple[str, int] | None:
    match = _TABULAR_CALL.search(found.text)
    if match is None:
        return None
    return f"'{match.group(1)}' is not supported", match.start()


def _operator(found: Found) -> tuple[str, int] | None:
    """The operator word of the pipeline step the error is in: refused by
    name when KQL has it, or "did you mean" when it is misspelled."""
    start = max(found.text.rfind(c, 0, found.offset) for c in "|;") + 1
    match = _WORD.match(found.text, _skip_space(found.text, start))
    if match is None:
        return None
    word = match.group()
    if word in UNSUPPORTED_OPERATORS:
        return f"'{word}' is not supported", match.start()
    if match.start() != found.offset or not found.words:
        return None
    hint = did_you_mean(word, found.words)
    if not hint:
        return None
    return f"unexpected '{found.token}'{hint}", match.start()


def _prefix_operator(found: Found) -> tuple[str, int] | None:
    match = _PREFIX_OP.match(found.text, found.offset)
    if match is None:
        return None
    bang, name, cs = match.groups()
    instead = f"{bang}{_PREFIX_OPERATORS[name]}{cs or ''}"
    message = f"'{match.group()}' is not supported; use {instead}"
    return message, found.offset


def _assign(found: Found) -> tuple[str, int] | None:
    if found.token == "=" and "CMP_OP" in found.accepted:
        return "unexpected '=': use == to compare", found.offset
    return None


def _quote(found: Found) -> tuple[str, int] | None:
    quoted = found.text[found.offset : found.offset + 2]
    if found.token in ("'", '"') or quoted in ("@'", '@"'):
        message = "unterminated string: a string ends with its quote on its line"
        return message, found.offset
    return None


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index].isspace():
        index += 1
    return index
