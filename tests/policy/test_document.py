"""The document model: elements, values, documents and the error list."""

from __future__ import annotations

from tollhouse.errors import ConfigError, PolicyDocumentError
from tollhouse.policy.document import (
    Document,
    Element,
    InvalidPolicyDocument,
    Scope,
    Section,
    Value,
)
from tollhouse.policy.xml import Position

HERE = Position(1, 1)


def element(name: str, policy_id: str, *children: Element, **values: str) -> Element:
    return Element(
        name=name,
        attributes={key: Value(text, HERE, shown=text) for key, text in values.items()},
        children=children,
        text=None,
        position=HERE,
        source="doc.xml",
        policy_id=policy_id,
        scope=Scope.API,
        section=Section.INBOUND,
    )


STATUS = element("set-status", "inbound/choose[1]/when[2]/set-status[1]", code="403")
WHEN = element("when", "inbound/choose[1]/when[2]", STATUS, condition="true")
OTHERWISE = element("otherwise", "inbound/choose[1]/otherwise[1]")
CHOOSE = element("choose", "inbound/choose[1]", WHEN, OTHERWISE)


def test_an_element_knows_its_path_without_the_section() -> None:
    assert [STATUS.policy_id, STATUS.path] == [
        "inbound/choose[1]/when[2]/set-status[1]",
        "choose[1]/when[2]/set-status[1]",
    ]


def test_an_element_finds_its_attributes_and_children() -> None:
    code = STATUS.attribute("code")

    assert code is not None and code.text == "403"
    assert STATUS.attribute("reason") is None
    assert CHOOSE.children_named("when") == (WHEN,)
    assert [e.name for e in CHOOSE.walk()] == [
        "choose",
        "when",
        "set-status",
        "otherwise",
    ]


def test_a_value_holds_compiled_code_or_a_constant() -> None:
    assert not Value("403", HERE, parsed=403).is_expression
    assert Value("@(403)", HERE, expression=object()).is_expression  # type: ignore[arg-type]


def test_a_document_gives_empty_sections_it_does_not_hold() -> None:
    document = Document("doc.xml", Scope.API, {Section.INBOUND: (CHOOSE,)})

    assert document.section(Section.INBOUND) == (CHOOSE,)
    assert document.section(Section.OUTBOUND) == ()
    assert [e.name for e in document.walk()] == [
        "choose",
        "when",
        "set-status",
        "otherwise",
    ]


def error(source: str, line: int, column: int, message: str) -> PolicyDocumentError:
    return PolicyDocumentError(message, source=source, line=line, column=column)


def test_an_invalid_document_lists_its_errors_sorted_once_each() -> None:
    errors = [
        error("b.xml", 2, 1, "second"),
        error("a.xml", 9, 3, "third"),
        error("b.xml", 1, 7, "first"),
        error("a.xml", 9, 3, "third"),
        InvalidPolicyDocument([error("a.xml", 1, 1, "nested")]),
    ]

    invalid = InvalidPolicyDocument(errors)

    assert str(invalid) == (
        "a.xml:1:1: nested\na.xml:9:3: third\nb.xml:1:7: first\nb.xml:2:1: second"
    )
    assert (invalid.source, invalid.line, invalid.column, invalid.message) == (
        "a.xml",
        1,
        1,
        "nested",
    )
    assert isinstance(invalid, ConfigError)
