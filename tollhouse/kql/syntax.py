"""Parsing KQL text into the `ast` tree.

The grammar (``grammar.lark``) is read once, on first use.  Every error of
the parser becomes a `CompileError` at the offending token, listing what the
grammar would have accepted there; literals that look right to the grammar
but are not (a bad ``datetime(...)``, a bad ``dynamic(...)``) too.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import lark
from lark import Token, v_args

from . import ast, hints
from .errors import CompileError, fail
from .limits import check_text, check_tree

logger = logging.getLogger(__name__)

_TERMINAL_NAMES = {
    "NAME": "a name",
    "STRING": "a string",
    "NUMBER": "a number",
    "TIMESPAN": "a timespan",
    "DATETIME": "datetime(...)",
    "DYNAMIC": "dynamic(...)",
    "BOOL": "true, false",
    "NULL_LIT": "null",
    "CMP_OP": "a comparison such as ==",
    "WORD_OP": "a string operator such as has",
    "LIST_OP": "has_any or has_all",
    "IN_OP": "in",
    "BETWEEN_OP": "between",
    "MUL_OP": "* / %",
    "DOLLAR_SIDE": "$left or $right",
    "MATCHES": "'matches regex'",
    "$END": "the end of the query",
}

_SECONDS_PER_UNIT = {
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hrs": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "ms": 1e-3,
    "millisecond": 1e-3,
    "milliseconds": 1e-3,
    "microsecond": 1e-6,
    "microseconds": 1e-6,
    "tick": 1e-7,
    "ticks": 1e-7,
}

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", "'": "'"}
_ESCAPES['"'] = '"'


@functools.cache
def _parser() -> lark.Lark:
    text = resources.files(__package__).joinpath("grammar.lark").read_text("utf-8")
    return lark.Lark(text, parser="lalr", propagate_positions=True)


def parse(text: str) -> ast.Query:
    """Parse ``text`` into a `ast.Query`; raise `CompileError` if it is not KQL
    or passes the bounds of `limits`."""
    check_text(text)
    try:
        tree = _parser().parse(text)
    except lark.exceptions.UnexpectedInput as exc:
        raise _syntax_error(exc, text) from None
    check_tree(tree)
    try:
        query = _ToAst().transform(tree)
    except lark.exceptions.VisitError as exc:
        if isinstance(exc.orig_exc, CompileError):
            raise exc.orig_exc from None
        if isinstance(exc.orig_exc, RecursionError):
            raise RecursionError from None  # compile_query reports it
        raise
    assert isinstance(query, ast.Query)
    return query


def _syntax_error(exc: lark.exceptions.UnexpectedInput, text: str) -> CompileError:
    accepted = _accepted(exc)
    expected = _readable(accepted)
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        token, message = exc.char, f"unexpected character {exc.char!r}"
        offset = exc.pos_in_stream or 0
    elif isinstance(exc, lark.exceptions.UnexpectedToken) and exc.token.type != "$END":
        token = str(exc.token)
        message, offset = f"unexpected {token!r}", exc.token.start_pos or 0
    else:
        message = "the query ends too early"
        return fail(_with_expected(message, expected), _end_pos(text), expected)
    words = tuple(w.strip("'") for w in expected if re.fullmatch(r"'[a-z-]+'", w))
    found = hints.Found(text, offset, token, frozenset(accepted), words)
    hint = hints.explain(found)
    if hint is not None:
        return fail(hint[0], hints.pos_of(text, hint[1]), expected)
    return fail(_with_expected(message, expected), hints.pos_of(text, offset), expected)


def _accepted(exc: lark.exceptions.UnexpectedInput) -> set[str]:
    """The terminals the parser would take where it stopped.

    Asked of the LALR parser itself, token by token, so that a token that
    only fits after a reduction the input rules out is not offered.
    """
    interactive = getattr(exc, "interactive_parser", None)
    if interactive is not None:
        try:
            return set(interactive.accepts())
        except lark.exceptions.LarkError:
            pass
    return set(getattr(exc, "expected", None) or exc_allowed(exc))


def _with_expected(message: str, expected: list[str]) -> str:
    """``message``, then what the parser would have taken there."""
    if not expected:
        return message
    if len(expected) == 1:
        return f"{message}: expected {expected[0]}"
    return f"{message}: expected {', '.join(expected[:-1])} or {expected[-1]}"


def exc_allowed(exc: lark.exceptions.UnexpectedInput) -> set[str]:
    allowed = getattr(exc, "allowed", None)
    return set(allowed) if allowed else set()


def _readable(names: set[str] | frozenset[str]) -> list[str]:
    readable = set()
    for name in names:
        if name in _TERMINAL_NAMES:
            readable.add(_TERMINAL_NAMES[name])
            continue
        try:
            pattern = _parser().get_terminal(name).pattern
        except KeyError:
            continue
        if isinstance(pattern, lark.lexer.PatternStr):
            readable.add(repr(pattern.value))
        else:  # Keywords written as patterns: "take" | "limit", /mv-expand.../.
            readable |= {repr(word) for word in _keywords(pattern.value)}
    return sorted(readable)


def _keywords(pattern: str) -> list[str]:
    """The words of a keyword terminal's pattern, or none if it is not one."""
    body = pattern.replace("(?![A-Za-z0-9_])", "")
    while body.startswith("(?:") and body.endswith(")"):
        body = body[3:-1]
    words = body.split("|")
    if all(re.fullmatch(r"[a-z][a-z-]*", word) for word in words):
        return words
    return []


def _end_pos(text: str) -> ast.Pos:
    lines = text.split("\n")
    return ast.Pos(len(lines), len(lines[-1]) + 1)


def _pos(item: Any) -> ast.Pos:
    if isinstance(item, Token):
        return ast.Pos(item.line or 1, item.column or 1)
    return ast.Pos(getattr(item, "line", 1), getattr(item, "column", 1))


def unquote(token: Token) -> str:
    """The value of a KQL string literal (any of its quotings)."""
    raw = str(token)
    if raw[0] in "hH":
        raw = raw[1:]
    if raw.startswith("@"):
        quote = raw[1]
        return raw[2:-1].replace(quote * 2, quote)
    body, out, i = raw[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        escape = body[i + 1]
        if escape == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
            continue
        if escape not in _ESCAPES:
            raise fail(f"unknown escape \\{escape} in a string", _pos(token))
        out.append(_ESCAPES[escape])
        i += 2
    return "".join(out)


def parse_datetime(text: str) -> datetime | None:
    """Read an ISO 8601 date and time as KQL's ``datetime()`` does.

    No zone means UTC.  Fractions past microseconds are cut, not rounded, so
    that the value matches what both stores keep.  Returns None if invalid.
    """
    text = text.strip()
    match = re.fullmatch(
        r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,9}))?)?"
        r"\s*(Z|[+-]\d{2}:?\d{2})?",
        text,
    )
    if match is None:
        return None
    day, clock, fraction, zone = match.groups()
    stamp = day + "T" + (clock or "00:00")
    if fraction:
        stamp += "." + fraction[:6].ljust(6, "0")
    stamp += "+00:00" if zone in (None, "Z") else zone
    try:
        return datetime.fromisoformat(stamp).astimezone(UTC)
    except ValueError:
        return None


@v_args(meta=True)
class _ToAst(lark.Transformer[Token, Any]):
    """Turns lark's tree into `ast` nodes, bottom up."""

    # Statements.

    def start(self, meta: Any, items: list[Any]) -> ast.Query:
        *lets, body = items
        return ast.Query(tuple(lets), body)

    def let_stmt(self, meta: Any, items: list[Any]) -> ast.Let:
        name, value = items
        return ast.Let(_pos(meta), str(name), value)

    def pipeline(self, meta: Any, items: list[Any]) -> ast.Pipeline:
        source, *operators = items
        return ast.Pipeline(_pos(meta), source, tuple(operators))

    def union_source(self, meta: Any, items: list[Any]) -> ast.Union:
        return ast.Union(_pos(meta), items[0])

    def union_args(self, meta: Any, items: list[Any]) -> tuple[ast.Pipeline, ...]:
        return tuple(_as_pipeline(item) for item in items)

    # Tabular operators.

    def where(self, meta: Any, items: list[Any]) -> ast.Where:
        return ast.Where(_pos(meta), items[0])

    def project(self, meta: Any, items: list[Any]) -> ast.Project:
        return ast.Project(_pos(meta), items[0])

    def project_away(self, meta: Any, items: list[Any]) -> ast.ProjectAway:
        return ast.ProjectAway(_pos(meta), items[1])

    def project_rename(self, meta: Any, items: list[Any]) -> ast.ProjectRename:
        return ast.ProjectRename(_pos(meta), items[1])

    def extend(self, meta: Any, items: list[Any]) -> ast.Extend:
        return ast.Extend(_pos(meta), items[0])

    def summarize(self, meta: Any, items: list[Any]) -> ast.Summarize:
        aggregates, _by, by = items
        return ast.Summarize(_pos(meta), aggregates or (), by or ())

    def count(self, meta: Any, items: list[Any]) -> ast.Count:
        return ast.Count(_pos(meta))

    def take(self, meta: Any, items: list[Any]) -> ast.Take:
        return ast.Take(_pos(meta), items[1])

    def top(self, meta: Any, items: list[Any]) -> ast.Top:
        return ast.Top(_pos(meta), items[0], items[2])

    def order(self, meta: Any, items: list[Any]) -> ast.Order:
        return ast.Order(_pos(meta), items[2])

    def distinct(self, meta: Any, items: list[Any]) -> ast.Distinct:
        names = items[0]
        return ast.Distinct(_pos(meta), None if isinstance(names, Token) else names)

    def join(self, meta: Any, items: list[Any]) -> ast.Join:
        kind, right, keys = items
        # KQL's default kind: inner, after keeping one left row per key.
        kind = kind or "innerunique"
        return ast.Join(_pos(meta), kind, _as_pipeline(right), keys)

    def join_kind(self, meta: Any, items: list[Any]) -> str:
        return str(items[0])

    def join_keys(self, meta: Any, items: list[Any]) -> tuple[ast.Expr, ...]:
        return tuple(items)

    def union(self, meta: Any, items: list[Any]) -> ast.Union:
        return ast.Union(_pos(meta), items[0])

    def mv_expand(self, meta: Any, items: list[Any]) -> ast.MvExpand:
        name, expr, _to, _typeof, to_type = items[1]
        return ast.MvExpand(_pos(meta), name, expr, str(to_type) if to_type else None)

    def mv_item(self, meta: Any, items: list[Any]) -> tuple[Any, ...]:
        name, expr, *rest = items
        return (str(name) if name is not None else None, expr, *rest)

    def render(self, meta: Any, items: list[Any]) -> ast.Render:
        kind, properties = items
        return ast.Render(_pos(meta), str(kind), properties or {})

    def render_with(self, meta: Any, items: list[Any]) -> dict[str, object]:
        properties: dict[str, object] = {}
        last: str | None = None
        for key, value in items:
            if key is None and last is not None:
                previous = properties[last]
                values = previous if isinstance(previous, list) else [previous]
                properties[last] = [*values, value]
            elif key is not None:
                properties[key] = value
                last = key
        return properties

    def render_prop(self, meta: Any, items: list[Any]) -> tuple[str, object]:
        key, value = items
        if isinstance(value, Token) and value.type == "STRING":
            return str(key), unquote(value)
        if isinstance(value, Token) and value.type == "NUMBER":
            return str(key), _number(value).value
        if isinstance(value, Token) and value.type == "BOOL":
            return str(key), str(value) == "true"
        return str(key), str(value)

    def render_more(self, meta: Any, items: list[Any]) -> tuple[None, str]:
        return None, str(items[0])

    # Lists and items.

    def proj_list(self, meta: Any, items: list[Any]) -> tuple[ast.Assign, ...]:
        return tuple(items)

    def assign(self, meta: Any, items: list[Any]) -> ast.Assign:
        return ast.Assign(_pos(meta), str(items[0]), items[1])

    def unnamed(self, meta: Any, items: list[Any]) -> ast.Assign:
        return ast.Assign(_pos(meta), None, items[0])

    def name_list(self, meta: Any, items: list[Any]) -> tuple[ast.Name, ...]:
        return tuple(ast.Name(_pos(item), str(item)) for item in items)

    def rename_list(self, meta: Any, items: list[Any]) -> tuple[Any, ...]:
        return tuple(items)

    def rename(self, meta: Any, items: list[Any]) -> tuple[ast.Name, ast.Name]:
        new, old = items
        return ast.Name(_pos(new), str(new)), ast.Name(_pos(old), str(old))

    def sort_list(self, meta: Any, items: list[Any]) -> tuple[ast.SortKey, ...]:
        return tuple(items)

    def sort_item(self, meta: Any, items: list[Any]) -> ast.SortKey:
        expr, direction, nulls, which = items
        descending = direction is None or str(direction) == "desc"
        nulls_first = not descending if nulls is None else str(which) == "first"
        return ast.SortKey(_pos(meta), expr, descending, nulls_first)

    def quoted_name(self, meta: Any, items: list[Any]) -> Token:
        token = items[0]
        return Token("NAME", unquote(token), line=token.line, column=token.column)

    # Scalar expressions.

    def or_(self, meta: Any, items: list[Any]) -> ast.Binary:
        return ast.Binary(_pos(meta), "or", items[0], items[1])

    def and_(self, meta: Any, items: list[Any]) -> ast.Binary:
        return ast.Binary(_pos(meta), "and", items[0], items[1])

    def compare(self, meta: Any, items: list[Any]) -> ast.Binary:
        left, op, right = items
        return ast.Binary(_pos(op), str(op), left, right)

    def binary(self, meta: Any, items: list[Any]) -> ast.Binary:
        left, op, right = items
        return ast.Binary(_pos(op), str(op), left, right)

    def in_list(self, meta: Any, items: list[Any]) -> ast.InList:
        operand, op, *values = items
        return ast.InList(_pos(op), str(op), operand, tuple(values))

    def between(self, meta: Any, items: list[Any]) -> ast.Between:
        operand, op, low, high = items
        return ast.Between(_pos(op), str(op).startswith("!"), operand, low, high)

    def matches(self, meta: Any, items: list[Any]) -> ast.Binary:
        left, op, _regex, right = items
        return ast.Binary(_pos(op), "matches regex", left, right)

    def negate(self, meta: Any, items: list[Any]) -> ast.Expr:
        operand = items[1]
        literal = isinstance(operand, ast.Literal) and operand.type != "bool"
        if literal and isinstance(operand.value, int | float):
            return ast.Literal(_pos(meta), operand.type, -operand.value)
        return ast.Negate(_pos(meta), operand)

    def member(self, meta: Any, items: list[Any]) -> ast.Member:
        return ast.Member(_pos(items[1]), items[0], str(items[1]))

    def index(self, meta: Any, items: list[Any]) -> ast.Expr:
        target, key = items
        if isinstance(key, ast.Literal) and key.type == "string":
            return ast.Member(key.pos, target, str(key.value))
        return ast.Index(key.pos, target, key)

    def column(self, meta: Any, items: list[Any]) -> ast.Name:
        return ast.Name(_pos(items[0]), str(items[0]))

    def quoted_column(self, meta: Any, items: list[Any]) -> ast.Name:
        return ast.Name(_pos(items[0]), unquote(items[0]))

    def call(self, meta: Any, items: list[Any]) -> ast.Call:
        name, args = items
        return ast.Call(_pos(name), str(name), tuple(args or ()))

    def args(self, meta: Any, items: list[Any]) -> list[ast.Expr]:
        return list(items)

    def star(self, meta: Any, items: list[Any]) -> ast.Star:
        return ast.Star(_pos(items[0]))

    def side(self, meta: Any, items: list[Any]) -> ast.Side:
        return ast.Side(_pos(items[0]), str(items[0])[1:])

    # Literals.

    def string(self, meta: Any, items: list[Any]) -> ast.Literal:
        return ast.Literal(_pos(items[0]), "string", unquote(items[0]))

    def number(self, meta: Any, items: list[Any]) -> ast.Literal:
        return _number(items[0])

    def timespan(self, meta: Any, items: list[Any]) -> ast.Literal:
        token = items[0]
        match = re.fullmatch(r"([0-9.]+)([a-z]+)", str(token))
        assert match is not None
        seconds = float(match.group(1)) * _SECONDS_PER_UNIT[match.group(2)]
        return ast.Literal(_pos(token), "timespan", seconds)

    def boolean(self, meta: Any, items: list[Any]) -> ast.Literal:
        return ast.Literal(_pos(items[0]), "bool", str(items[0]) == "true")

    def null(self, meta: Any, items: list[Any]) -> ast.Literal:
        return ast.Literal(_pos(items[0]), "dynamic", None)

    def datetime(self, meta: Any, items: list[Any]) -> ast.Literal:
        token = items[0]
        inner = str(token)[str(token).index("(") + 1 : -1].strip()
        if inner in ("null", ""):
            return ast.Literal(_pos(token), "datetime", None)
        if inner[:1] in "\"'":
            inner = inner[1:-1]
        value = parse_datetime(inner)
        if value is None:
            raise fail(f"not a valid datetime: {inner!r}", _pos(token))
        return ast.Literal(_pos(token), "datetime", value)

    def dynamic(self, meta: Any, items: list[Any]) -> ast.Literal:
        token = items[0]
        inner = str(token)[str(token).index("(") + 1 : -1]
        try:
            value = json.loads(inner)
        except ValueError:
            raise fail("dynamic(...) must hold JSON", _pos(token)) from None
        return ast.Literal(_pos(token), "dynamic", value)


def _number(token: Token) -> ast.Literal:
    text = str(token)
    if re.fullmatch(r"[0-9]+", text):
        return ast.Literal(_pos(token), "long", int(text))
    return ast.Literal(_pos(token), "real", float(text))


def _as_pipeline(item: Any) -> ast.Pipeline:
    if isinstance(item, ast.Pipeline):
        return item
    pos = _pos(item)
    return ast.Pipeline(pos, ast.Name(pos, str(item)), ())
