"""The model of a loaded policy document.

A `Document` holds up to four sections (inbound, backend, outbound,
on-error), each a tuple of `Element` objects: the policies in the order they
run.  An element keeps what the engine needs to run it and to report on it:
its attributes and text as `Value` objects (with the compiled expression when
the value is one, or the checked constant otherwise), its child elements, its
position in its file, its path in the document (``policy_id``), and the scope
and section it belongs to.

Documents are immutable.  `tollhouse.policy.loader` builds them from files and
merges the scopes into the effective document of an operation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from ..errors import PolicyDocumentError
from .expressions import Expression
from .xml import Position


class Section(StrEnum):
    """The sections of a policy document, in the order they run."""

    INBOUND = "inbound"
    BACKEND = "backend"
    OUTBOUND = "outbound"
    ON_ERROR = "on-error"


class Scope(StrEnum):
    """Where a document is attached, from the outermost to the innermost."""

    GLOBAL = "global"
    PRODUCT = "product"
    API = "api"
    OPERATION = "operation"


@dataclass(frozen=True)
class Value:
    """An attribute value or an element's text, as loaded.

    ``text`` is the value after entity decoding and named-value substitution.
    When it is a policy expression, ``expression`` holds it compiled and
    ``parsed`` is None; otherwise ``parsed`` is the checked constant (an
    ``int``, ``bool``, ``str``, IP address, ...).  ``shown`` is the text safe to
    print: secret named values appear as their ``{{name}}``.  ``given`` is
    False for an attribute left out and filled with its documented default.
    """

    text: str
    position: Position
    expression: Expression | None = None
    parsed: object = None
    shown: str = ""
    given: bool = True

    @property
    def is_expression(self) -> bool:
        return self.expression is not None


@dataclass(frozen=True, eq=False)
class Element:
    """One element of a policy document: a policy or a part of one.

    ``policy_id`` is the element's path in its document, such as
    ``inbound/choose[1]/when[2]/return-response[1]``, counting elements of the
    same name from 1.  ``source`` is the file the element was read from (a
    fragment's file for elements included from ``fragment``).  Elements
    compare and hash by identity, so the engine may key state by element.
    """

    name: str
    attributes: Mapping[str, Value]
    children: tuple[Element, ...]
    text: Value | None
    position: Position
    source: str
    policy_id: str
    scope: Scope
    section: Section | None
    fragment: str | None = None

    @property
    def path(self) -> str:
        """The path without its section, as APIM's ``context.LastError.Path``."""
        return self.policy_id.partition("/")[2]

    def attribute(self, name: str) -> Value | None:
        return self.attributes.get(name)

    def children_named(self, name: str) -> tuple[Element, ...]:
        return tuple(child for child in self.children if child.name == name)

    def walk(self) -> Iterator[Element]:
        """This element and all below it, in document order."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True)
class Document:
    """A policy document of one scope, or the effective one of an operation.

    A section missing from ``sections`` was left out of the file; when merged
    under a parent it inherits the parent's section, as if it held only
    ``<base />``.  An effective document (see `loader.effective`) has all four.
    """

    source: str
    scope: Scope
    sections: Mapping[Section, tuple[Element, ...]] = field(default_factory=dict)

    def section(self, section: Section) -> tuple[Element, ...]:
        return self.sections.get(section, ())

    def walk(self) -> Iterator[Element]:
        for section in Section:
            for element in self.section(section):
                yield from element.walk()


class InvalidPolicyDocument(PolicyDocumentError):
    """A document with one or more errors; ``errors`` holds them all, sorted.

    Its own message, line and column are the first error's, and ``str()`` of it
    lists every error on a line of its own (``FILE:LINE:COLUMN: message``).
    """

    def __init__(self, errors: Sequence[PolicyDocumentError]) -> None:
        ordered = sorted(_unique(errors), key=_error_key)
        self.errors = tuple(ordered)
        first = ordered[0]
        super().__init__(
            first.message, source=first.source, line=first.line, column=first.column
        )

    def __str__(self) -> str:
        return "\n".join(PolicyDocumentError.__str__(error) for error in self.errors)


def _error_key(error: PolicyDocumentError) -> tuple[str, int, int, str]:
    return (error.source, error.line, error.column, error.message)


def _unique(errors: Sequence[PolicyDocumentError]) -> list[PolicyDocumentError]:
    # A fragment included twice reports its own errors twice; keep one.
    seen: dict[tuple[str, int, int, str], PolicyDocumentError] = {}
    for error in errors:
        for single in getattr(error, "errors", (error,)):
            seen.setdefault(_error_key(single), single)
    return list(seen.values())
