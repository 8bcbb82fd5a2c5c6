"""docs/expressions.md lists exactly the types and members of the library."""

from __future__ import annotations

import re
from pathlib import Path

from tollhouse.policy.expressions.lib_collections import SEQUENCE_METHODS
from tollhouse.policy.expressions.lib_common import COMMON
from tollhouse.policy.expressions.library import LIBRARY, VOID
from tollhouse.policy.expressions.types import CsType

DOCS = Path(__file__).parents[2] / "docs" / "expressions.md"
_HEADING = re.compile(r"^### `(.+)`$", re.MULTILINE)
_MEMBER = re.compile(r"`(?:new )?([A-Za-z]\w*)")


def library_types() -> dict[str, CsType]:
    """Every type an expression can name or meet, arrays of a type aside."""
    types = {id(t): t for t in LIBRARY.by_name.values()}.values()
    return {
        t.name: t
        for t in types
        if t is not VOID and (t.element is None or t.name == "byte[]")
    }


def documented() -> dict[str, str]:
    """The text under each type's heading in "Types and members"."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("\n## Types and members\n", 1)[1].split("\n## ", 1)[0]
    parts = _HEADING.split(section)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def listed(block: str, label: str) -> set[str]:
    found: set[str] = set()
    for line in block.splitlines():
        if line.startswith(f"- {label}: "):
            found.update(_MEMBER.findall(line.split(": ", 1)[1]))
    return found


def expected_methods(cs_type: CsType, block: str) -> set[str]:
    names = {n for n, m in cs_type.methods.items() if COMMON.get(n) is not m}
    if "and the LINQ methods" in block:
        names -= {n for n, m in SEQUENCE_METHODS.items() if cs_type.methods[n] is m}
    return names


def test_every_type_is_documented() -> None:
    assert sorted(documented()) == sorted(library_types())


def test_documented_members_match_the_tables() -> None:
    types = library_types()
    for name, block in documented().items():
        cs_type = types[name]
        statics = set(cs_type.statics) | set(cs_type.static_methods)
        assert listed(block, "Properties") == set(cs_type.properties), name
        assert listed(block, "Methods") == expected_methods(cs_type, block), name
        assert listed(block, "Static") == statics, name
        assert bool(listed(block, "Constructor")) == (cs_type.constructor is not None)


def test_policies_page_links_here() -> None:
    policies = (DOCS.parent / "policies.md").read_text(encoding="utf-8")
    assert "(expressions.md)" in policies
