"""docs/kql.md against the compiler, so that the two cannot drift apart.

Every function and aggregate the compiler accepts is documented and every
documented one is accepted; every operator keyword of the grammar is
documented; the tables' columns and types are those of `tables`.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from tollhouse.kql.functions import AGGREGATES, SCALARS
from tollhouse.kql.tables import TABLES

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "kql.md").read_text("utf-8")
GRAMMAR = resources.files("tollhouse.kql").joinpath("grammar.lark").read_text("utf-8")


def _section(heading: str) -> str:
    """The text under ``heading`` up to the next heading of its level or above."""
    level = heading.split(" ", 1)[0]
    start = PAGE.index(f"\n{heading}\n")
    body = PAGE[start + len(heading) + 2 :]
    stop = re.search(rf"^#{{1,{len(level)}}} ", body, flags=re.MULTILINE)
    return body[: stop.start()] if stop else body


def _first_cells(text: str) -> list[str]:
    return re.findall(r"^\| (.+?) \|", text, flags=re.MULTILINE)


def _called(text: str) -> set[str]:
    """Names written as calls, ``name(``, in the first cell of table rows."""
    return {
        name
        for cell in _first_cells(text)
        for name in re.findall(r"`([a-z_]+)\(", cell)
    }


def _quoted(text: str) -> set[str]:
    return set(re.findall(r"`([^`]+)`", text))


def _grammar_strings(rule: str) -> set[str]:
    """The string literals of the rule or terminal called ``rule``."""
    match = re.search(
        rf"^{re.escape(rule)}(?:\.\d+)?:(.*?)(?=^\S)", GRAMMAR, re.MULTILINE | re.DOTALL
    )
    assert match, f"no {rule} in the grammar"
    body = re.sub(r"->.*", "", match.group(1))
    words = set(re.findall(r'"([^"]+)"', body))
    # Word terminals are patterns, /!?(a|b)(?![...])/, so that they end
    # where a name would: read their alternatives (and their ``!`` forms).
    for bang, group, plain in re.findall(r"/(!\?)?(?:\(([^)]*)\)|([a-z-]+))", body):
        for word in (group or plain).split("|"):
            words |= {word, "!" + word} if bang else {word}
    return words


def _operator_keywords() -> set[str]:
    """The keyword that starts each alternative of the grammar's ``?operator``."""
    rule = re.search(r"^\?operator:(.*?)(?=^\S)", GRAMMAR, re.MULTILINE | re.DOTALL)
    assert rule, "no ?operator rule in the grammar"
    leading = re.findall(r'^\s*\|?\s*("[a-z-]+"|[A-Z_]+)', rule.group(1), re.M)
    keywords: set[str] = set()
    for token in leading:
        if token.startswith('"'):
            keywords.add(token.strip('"'))
        else:  # A terminal such as TAKE: "take" | "limit".
            keywords |= _grammar_strings(token)
    assert {"where", "take", "limit", "mv-expand", "render"} <= keywords
    return keywords


def test_every_scalar_function_is_documented_and_accepted() -> None:
    documented = _called(_section("## Scalar functions"))
    assert documented == set(SCALARS) - set(AGGREGATES)


def test_every_aggregate_is_documented_and_accepted() -> None:
    documented = _called(_section("## Aggregate functions"))
    assert documented == set(AGGREGATES)


@pytest.mark.parametrize("keyword", sorted(_operator_keywords()))
def test_every_tabular_operator_is_documented(keyword: str) -> None:
    assert keyword in _quoted(_section("## Tabular operators"))


@pytest.mark.parametrize(
    "keyword",
    sorted(
        _grammar_strings("CMP_OP")
        | _grammar_strings("WORD_OP")
        | _grammar_strings("LIST_OP")
        | _grammar_strings("IN_OP")
        | _grammar_strings("BETWEEN_OP")
        | {"and", "or", "matches regex"}
    ),
)
def test_every_scalar_operator_is_documented(keyword: str) -> None:
    assert keyword in _quoted(_section("## Scalar operators"))


@pytest.mark.parametrize("name", sorted(TABLES))
def test_table_columns_and_types_match(name: str) -> None:
    table = TABLES[name]
    rows = re.findall(
        r"^\| `(\w+)` \| (\w+) \|", _section(f"### {table.name}"), re.MULTILINE
    )
    assert rows == list(table.columns.items())
    assert name in _section("## Tables")


def test_readme_links_the_page() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    assert "(docs/kql.md)" in _readme_section(readme, "## Querying the logs")


def _readme_section(text: str, heading: str) -> str:
    start = text.index(f"\n{heading}\n")
    stop = text.find("\n## ", start + 1)
    return text[start : stop if stop != -1 else None]


def test_readme_shows_the_walkthroughs_blocked_query() -> None:
    from tests.support import SEED_BLOCKED

    readme = (ROOT / "README.md").read_text("utf-8")
    section = _readme_section(readme, "## Querying the logs")
    match = re.search(r"cat > blocked\.kql <<'EOF'\n(.*?)\nEOF\n", section, re.S)
    assert match, "the README does not show blocked.kql"
    assert match.group(1).split() == SEED_BLOCKED.replace(",", ", ").split()
