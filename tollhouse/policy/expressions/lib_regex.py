"""System.Text.RegularExpressions on the `regex` package.

.NET patterns are translated where the syntaxes differ (``(?<name>…)``,
``\\k<name>``, ``\\z``, a ``{`` that starts no quantifier), and replacement
strings (``$1``, ``${name}``, ``$$``) are interpreted the .NET way.
`regex` runs in its `re`-compatible mode (VERSION0).  Unicode categories
(``\\p{L}``) and right-to-left matching are refused.

Patterns come from the policy author and inputs from the client, so one
pattern that backtracks catastrophically (``^(a|aa)+$``) could hold the
event loop.  Every match therefore runs with what remains of the
evaluation's time as its timeout, and running out fails as .NET's
RegexMatchTimeoutException does.  `regex` measures that timeout in CPU
time of the process.  The module's own fixed patterns stay on `re`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import regex

from ...errors import ExpressionError
from . import runtime
from .formatting import to_text
from .lib_collections import sequence_type
from .lib_common import int_of, method, prop, text_of, with_common
from .runtime import Evaluation, bounded, check_items, check_length, fail
from .types import CsType, EnumValue, Indexer, Sequence, make_enum

OPTIONS = make_enum(
    "RegexOptions",
    "System.Text.RegularExpressions",
    {
        "None": 0,
        "IgnoreCase": 1,
        "Multiline": 2,
        "ExplicitCapture": 4,
        "Compiled": 8,
        "Singleline": 16,
        "IgnorePatternWhitespace": 32,
        "RightToLeft": 64,
        "ECMAScript": 256,
        "CultureInvariant": 512,
    },
)
_FLAGS = {
    1: regex.IGNORECASE,
    2: regex.MULTILINE,
    16: regex.DOTALL,
    32: regex.VERBOSE,
    256: regex.ASCII,
}
_GROUP_NAME = re.compile(r"[A-Za-z_]\w*")
# What .NET reads as a quantifier; any other "{" is a literal to .NET, but
# `regex` would read "{,3}" as a quantifier and "{e<=1}" as fuzzy matching.
_QUANTIFIER = re.compile(r"\{\d+(?:,\d*)?\}")
# Neither the pattern nor the input is named: the message may reach the client.
TIMED_OUT = (
    "The regex engine timed out while trying to match a pattern to an input "
    "string: the expression ran out of time. Overlapping alternatives, nested "
    "quantifiers and back-references can make a match this slow."
)


def translate(pattern: str) -> str:
    """A .NET pattern in Python's syntax; unsupported constructs fail."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            token, i = _escape(pattern, i)
            out.append(token)
            continue
        if char == "{" and not _QUANTIFIER.match(pattern, i):
            out.append("\\{")
            i += 1
            continue
        if pattern.startswith("(?<", i) or pattern.startswith("(?'", i):
            close = ">" if pattern[i + 2] == "<" else "'"
            name = _GROUP_NAME.match(pattern, i + 3)
            if name and pattern[name.end() : name.end() + 1] == close:
                out.append(f"(?P<{name.group(0)}>")
                i = name.end() + 1
                continue
        out.append(char)
        i += 1
    return "".join(out)


def _escape(pattern: str, i: int) -> tuple[str, int]:
    pair = pattern[i : i + 2]
    if pair == "\\k":
        name = _GROUP_NAME.match(pattern, i + 3)
        if name and pattern[i + 2 : i + 3] in "<'":
            return f"(?P={name.group(0)})", name.end() + 1
    if pair == "\\z":
        return "\\Z", i + 2
    if pair == "\\Z":
        return "(?=\\n?\\Z)", i + 2
    if pair in ("\\p", "\\P"):
        fail(
            f"Unicode categories ('{pattern[i : i + 5]}…') "
            "are not supported in regular expressions"
        )
    return pair, i + 2


def compile_pattern(pattern: object, options: object = None) -> regex.Pattern[str]:
    """The compiled form of a .NET pattern; bad patterns fail."""
    flags = regex.VERSION0
    if isinstance(options, EnumValue):
        if options.has(64):
            fail("RegexOptions.RightToLeft is not supported")
        for bit, flag in _FLAGS.items():
            if options.has(bit):
                flags |= flag
    try:
        return regex.compile(translate(text_of(pattern, "pattern")), flags)
    except regex.error as exc:
        fail(f"Invalid pattern '{pattern}': {exc}")


@contextmanager
def _time_limit() -> Iterator[None]:
    """Fail as .NET does when a match runs out of time."""
    try:
        yield
    except TimeoutError as exc:
        raise ExpressionError(TIMED_OUT) from exc


def _search(
    ev: Evaluation, pattern: regex.Pattern[str], text: str, start: int = 0
) -> regex.Match[str] | None:
    with _time_limit():
        return pattern.search(text, start, timeout=ev.remaining(), concurrent=True)


def check_pattern(target: object, args: list[object]) -> None:
    """Load-time check of a static method's constant pattern."""
    if len(args) > 1 and isinstance(args[1], str):
        options = next((a for a in args[2:] if isinstance(a, EnumValue)), None)
        compile_pattern(args[1], options)


def check_instance_pattern(target: object, args: list[object]) -> None:
    """Load-time check of ``new Regex(pattern)`` with a constant pattern."""
    check_pattern(target, [None, *args])


class Group:
    """A capture group of a match (``Groups[1]``, ``Groups["name"]``)."""

    __slots__ = ("match", "index", "name")

    def __init__(
        self, match: regex.Match[str] | None, index: int | str, name: str
    ) -> None:
        self.match = match
        self.index = index
        self.name = name

    @property
    def success(self) -> bool:
        return self.match is not None and self.match.group(self.index) is not None

    @property
    def value(self) -> str:
        return (self.match.group(self.index) or "") if self.success else ""  # type: ignore[union-attr]

    @property
    def position(self) -> int:
        return self.match.start(self.index) if self.success else 0  # type: ignore[union-attr]

    def cs_text(self) -> str:
        return self.value


class GroupCollection(Sequence):
    """``match.Groups``: by number or by name; missing groups fail to match."""

    __slots__ = ("match",)

    def __init__(self, match: regex.Match[str] | None) -> None:
        self.match = match

    def get(self, key: object) -> Group:
        match = self.match
        names = match.re.groupindex if match else {}
        if isinstance(key, str):
            return Group(match if key in names else None, key, key)
        index = int_of(key, "groupnum")
        count = match.re.groups if match else 0
        return Group(match if 0 <= index <= count else None, index, str(index))

    def elements(self) -> list[object]:
        count = self.match.re.groups if self.match else 0
        return [self.get(i) for i in range(count + 1)]


class Match(Group):
    """A match, which is also its group 0."""

    __slots__ = ("regex", "text")

    def __init__(
        self, match: regex.Match[str] | None, pattern: regex.Pattern[str], text: str
    ) -> None:
        super().__init__(match, 0, "0")
        self.regex = pattern
        self.text = text

    def next_match(self, ev: Evaluation) -> Match:
        if self.match is None:
            return self
        start = self.match.end() + (1 if self.match.end() == self.match.start() else 0)
        if start > len(self.text):
            return Match(None, self.regex, self.text)
        return Match(_search(ev, self.regex, self.text, start), self.regex, self.text)


class MatchCollection(Sequence):
    """``Regex.Matches``: every match, found at once."""

    __slots__ = ("matches",)

    def __init__(self, matches: list[Match]) -> None:
        self.matches = matches

    def elements(self) -> list[object]:
        return list(self.matches)


def _match(
    ev: Evaluation, pattern: regex.Pattern[str], text: object, start: object = 0
) -> Match:
    value, at = text_of(text, "input"), int_of(start, "startat")
    if not 0 <= at <= len(value):
        fail("startat is out of range. (Parameter 'startat')")
    return Match(_search(ev, pattern, value, at), pattern, value)


def _matches(
    ev: Evaluation, pattern: regex.Pattern[str], text: object
) -> MatchCollection:
    """Every match; each one found is a step of the evaluation."""
    value = text_of(text, "input")
    found: list[Match] = []
    with _time_limit():
        for match in pattern.finditer(value, timeout=ev.remaining(), concurrent=True):
            ev.tick()
            check_items(len(found) + 1)
            found.append(Match(match, pattern, value))
    ev.make_room(len(found))
    return MatchCollection(found)


def _replacement(template: str) -> Callable[[regex.Match[str]], str]:
    """A .NET replacement pattern as a function of the match."""
    parts = re.split(r"(\$\$|\$\{\w+\}|\$\d+|\$&|\$`|\$'|\$_|\$\+)", template)
    return lambda match: "".join(_substitute(part, match) for part in parts)


def _evaluator(
    fn: Callable[[Match], object], pattern: regex.Pattern[str], text: str
) -> Callable[[regex.Match[str]], str]:
    """A MatchEvaluator lambda (``m => m.Value.ToUpper()``) as a function."""
    return lambda match: to_text(fn(Match(match, pattern, text)))


def _stepping(
    ev: Evaluation, expand: Callable[[regex.Match[str]], str]
) -> Callable[[regex.Match[str]], str]:
    """``expand``, counting each match it replaces as a step."""

    def run(match: regex.Match[str]) -> str:
        ev.tick()
        return expand(match)

    return run


def _substitute(part: str, match: regex.Match[str]) -> str:
    if not part.startswith("$") or len(part) < 2:
        return part
    special = {"$$": "$", "$&": match.group(0), "$`": match.string[: match.start()]}
    special["$'"] = match.string[match.end() :]
    special["$_"] = match.string
    if part in special:
        return special[part]
    key = part[2:-1] if part.startswith("${") else part[1:]
    ref: int | str = int(key) if key.isdigit() else key
    try:
        return match.group(ref) or ""
    except IndexError:
        return part


def _replace(
    ev: Evaluation,
    pattern: regex.Pattern[str],
    text: object,
    replacement: object,
    count: object = -1,
) -> str:
    value = text_of(text, "input")
    if callable(replacement):
        expand = _evaluator(replacement, pattern, value)
    else:
        expand = _replacement(text_of(replacement, "replacement"))
    expand = _stepping(ev, bounded(expand, len(value)))
    limit = int_of(count, "count")
    result = value
    if limit:
        # A negative count is .NET's "all"; so is one larger than the text
        # has places to match (and than the regex engine can count).
        count = 0 if limit < 0 or limit > len(value) + 1 else limit
        with _time_limit():
            result = pattern.sub(
                expand, value, count=count, timeout=ev.remaining(), concurrent=True
            )
    check_length(len(result))
    ev.charge(len(result))
    return result


def _split(ev: Evaluation, pattern: regex.Pattern[str], text: object) -> list[object]:
    value = text_of(text, "input")
    with _time_limit():
        pieces = pattern.split(
            value, maxsplit=runtime.MAX_ITEMS, timeout=ev.remaining(), concurrent=True
        )
    ev.make_room(len(pieces))
    return [piece or "" for piece in pieces]


def _is_match(
    ev: Evaluation, pattern: regex.Pattern[str], text: object, start: object = 0
) -> bool:
    return _match(ev, pattern, text, start).success


def _static(fn: Callable[..., object], *, extra: int = 0) -> Callable[..., object]:
    """A static Regex method: the pattern and options first made into a Regex.

    ``extra`` arguments after the pattern (Replace's replacement) go to
    ``fn``; then come the options and a match timeout.  The timeout is
    ignored: what remains of the evaluation's time bounds every match.
    """

    def run(ev: Evaluation, text: object, pattern: object, *rest: object) -> object:
        kept, trailing = rest[:extra], rest[extra:]
        options = trailing[0] if trailing else None
        if options is not None and not isinstance(options, EnumValue):
            fail(f"Argument 'options': '{to_text(options)}' is not a RegexOptions")
        return fn(ev, compile_pattern(pattern, options), text, *kept)

    return run


REGEX = with_common(
    CsType(
        "Regex",
        "System.Text.RegularExpressions.Regex",
        lambda v: isinstance(v, regex.Pattern),
        methods={
            "IsMatch": method(
                _is_match, "input", "startat", required=1, budget=True, returns="bool"
            ),
            "Match": method(
                _match, "input", "startat", required=1, budget=True, returns="Match"
            ),
            "Matches": method(
                _matches, "input", budget=True, returns="MatchCollection"
            ),
            "Replace": method(
                _replace,
                "input",
                "replacement",
                "count",
                required=2,
                lambdas=True,
                budget=True,
                returns="string",
            ),
            "Split": method(_split, "input", budget=True, returns="string[]"),
        },
        static_methods={
            "IsMatch": method(
                _static(_is_match),
                "input",
                "pattern",
                "options",
                "matchTimeout",
                required=2,
                budget=True,
                returns="bool",
                check=check_pattern,
            ),
            "Match": method(
                _static(_match),
                "input",
                "pattern",
                "options",
                "matchTimeout",
                required=2,
                budget=True,
                returns="Match",
                check=check_pattern,
            ),
            "Matches": method(
                _static(_matches),
                "input",
                "pattern",
                "options",
                "matchTimeout",
                required=2,
                budget=True,
                returns="MatchCollection",
                check=check_pattern,
            ),
            "Replace": method(
                _static(_replace, extra=1),
                "input",
                "pattern",
                "replacement",
                "options",
                "matchTimeout",
                required=3,
                lambdas=True,
                budget=True,
                returns="string",
                check=check_pattern,
            ),
            "Split": method(
                _static(_split),
                "input",
                "pattern",
                "options",
                "matchTimeout",
                required=2,
                budget=True,
                returns="string[]",
                check=check_pattern,
            ),
            "Escape": method(
                lambda s: re.sub(
                    r"([\\*+?|{\[()^$.# \t\n\r\f])", r"\\\1", text_of(s, "str")
                ),
                "str",
                returns="string",
            ),
        },
        constructor=method(
            compile_pattern,
            "pattern",
            "options",
            required=1,
            check=check_instance_pattern,
        ),
    )
)

_GROUP_PROPERTIES = {
    "Success": prop(lambda g: g.success, "bool"),
    "Value": prop(lambda g: g.value, "string"),
    "Index": prop(lambda g: g.position, "int"),
    "Length": prop(lambda g: len(g.value), "int"),
    "Name": prop(lambda g: g.name, "string"),
}
GROUP = with_common(
    CsType(
        "Group",
        "System.Text.RegularExpressions.Group",
        lambda v: isinstance(v, Group),
        properties=dict(_GROUP_PROPERTIES),
    )
)
MATCH = with_common(
    CsType(
        "Match",
        "System.Text.RegularExpressions.Match",
        lambda v: isinstance(v, Match),
        properties={
            **_GROUP_PROPERTIES,
            "Groups": prop(lambda m: GroupCollection(m.match), "GroupCollection"),
        },
        methods={
            "NextMatch": method(
                lambda ev, m: m.next_match(ev), budget=True, returns="Match"
            )
        },
    )
)
GROUPS = sequence_type(
    "GroupCollection",
    "System.Text.RegularExpressions.GroupCollection",
    lambda v: isinstance(v, GroupCollection),
    properties={"Count": prop(lambda g: len(g.elements()), "int")},
    indexer=Indexer(lambda g, key: g.get(key), "Group"),
    element=GROUP,
)
MATCHES = sequence_type(
    "MatchCollection",
    "System.Text.RegularExpressions.MatchCollection",
    lambda v: isinstance(v, MatchCollection),
    properties={"Count": prop(lambda m: len(m.matches), "int")},
    indexer=Indexer(lambda m, i: m.matches[_index(m, i)], "Match"),
    element=MATCH,
)


def _index(collection: MatchCollection, index: object) -> int:
    at = int_of(index, "i")
    if not 0 <= at < len(collection.matches):
        fail("Specified argument was out of the range of valid values. (Parameter 'i')")
    return at


TYPES = [REGEX, MATCH, GROUP, GROUPS, MATCHES, OPTIONS]
