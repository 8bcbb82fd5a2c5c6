"""Loading policy documents: files, named values, fragments, scopes, merging.

A `PolicyLoader` turns files into checked `Document` objects.  It holds what
every document of a gateway shares: the named values, the fragment files by
id, the names of the gateway's backends and the expression compiler::

    loader = PolicyLoader(named_values=values, fragments={"cors": "cors.xml"})
    api = loader.load("policies/api.xml", Scope.API)
    operation = loader.load("policies/chat.xml", Scope.OPERATION)
    document = effective(loader.default_global(), None, api, operation)
    for element in document.section(Section.INBOUND):
        ...

Loading collects every error of a document (and of the fragments it
includes) before it raises `InvalidPolicyDocument`, sorted by position.  A
loader reads each fragment file once; use a new loader to reload.
`effective` merges the scopes the way APIM does: ``<base />`` in a section
stands for the parent scope's section, a section without it replaces the
parent's, and a section left out of a file inherits the parent's.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from ..config import GatewayConfig, resolve_named_values
from ..errors import ConfigError, PolicyDocumentError
from .catalogue import (
    APIM_ONLY,
    INCLUDE_FRAGMENT,
    POLICIES,
    ElementSpec,
    Kind,
    RuleContext,
)
from .document import Document, Element, InvalidPolicyDocument, Scope, Section, Value
from .expressions import Expression, compile_expression, is_expression
from .xml import (
    NAMED_VALUE,
    NamedValues,
    Position,
    Source,
    Text,
    XmlAttribute,
    XmlElement,
    read_xml,
)

logger = logging.getLogger(__name__)

MAX_POLICIES = 10_000
"""Most policies one document may take from fragments."""
MAX_FRAGMENT_DEPTH = 16
"""Most fragments included one within another."""

DEFAULT_GLOBAL_POLICY = """\
<policies>
    <inbound />
    <backend>
        <forward-request />
    </backend>
    <outbound />
    <on-error />
</policies>
"""
"""APIM's global policy when none is configured: forward every request."""


class Compiler(Protocol):
    """Compiles one policy expression; raises `PolicyDocumentError` at its place."""

    def __call__(
        self, text: str, *, source: str, line: int, column: int
    ) -> Expression: ...


class PolicyLoader:
    """Loads and checks policy documents sharing named values and fragments.

    ``named_values`` None leaves ``{{name}}`` references as written and does
    not type-check the values holding them (for checking a file without its
    gateway); otherwise every reference must name a known value.
    ``backends`` None skips checking ``backend-id`` against known backends.
    """

    def __init__(
        self,
        *,
        named_values: NamedValues | None = None,
        fragments: Mapping[str, str | os.PathLike[str]] | None = None,
        backends: Collection[str] | None = None,
        compiler: Compiler = compile_expression,
    ) -> None:
        self.named_values = named_values
        self.fragments = FragmentFiles(fragments or {})
        self.backends = backends
        self.compiler = compiler

    def load(self, path: str | os.PathLike[str], scope: Scope) -> Document:
        """Read, check and model one document; raise on any error."""
        return self._model(_read_file(path), scope)

    def parse(self, text: str, *, source: str, scope: Scope) -> Document:
        """As `load`, for a document already in memory."""
        try:
            root = read_xml(text, source=source)
        except PolicyDocumentError as exc:
            raise InvalidPolicyDocument([exc]) from None
        return self._model(root, scope)

    def default_global(self) -> Document:
        return self.parse(DEFAULT_GLOBAL_POLICY, source="<default>", scope=Scope.GLOBAL)

    def check(self, path: str | os.PathLike[str]) -> list[PolicyDocumentError]:
        """Every error of a document or fragment file, sorted; empty when valid.

        A file that cannot be read raises `ConfigError`.
        """
        try:
            root = _read_file(path)
        except InvalidPolicyDocument as exc:
            return list(exc.errors)
        return self._check_root(root, Path(path).stem, Scope.API)

    def check_text(
        self, text: str, *, source: str, scope: Scope = Scope.API
    ) -> list[PolicyDocumentError]:
        """As `check`, for a document or fragment in memory, at ``scope``."""
        try:
            root = read_xml(text, source=source)
        except PolicyDocumentError as exc:
            return [exc]
        return self._check_root(root, Path(source).stem, scope)

    def _check_root(
        self, root: XmlElement, fragment_id: str, scope: Scope
    ) -> list[PolicyDocumentError]:
        builder = _Builder(self, scope)
        if root.name == "fragment":
            builder.fragment_file(root, fragment_id)
        else:
            builder.document(root)
        if not builder.errors:
            return []
        return list(InvalidPolicyDocument(builder.errors).errors)

    def _model(self, root: XmlElement, scope: Scope) -> Document:
        builder = _Builder(self, scope)
        document = builder.document(root)
        if builder.errors:
            raise InvalidPolicyDocument(builder.errors)
        logger.debug("loaded policy document %s at %s scope", document.source, scope)
        return document


class FragmentFiles:
    """Policy fragment files by fragment id, each read once."""

    def __init__(self, paths: Mapping[str, str | os.PathLike[str]]) -> None:
        self.paths = {name: Path(path) for name, path in paths.items()}
        self._read: dict[str, XmlElement] = {}

    def read(self, fragment_id: str) -> XmlElement | None:
        """The fragment's root element; None for an unknown id.

        Raises `InvalidPolicyDocument` for a fragment that is not well-formed
        and `ConfigError` for one that cannot be read.
        """
        if fragment_id not in self.paths:
            return None
        if fragment_id not in self._read:
            self._read[fragment_id] = _read_file(self.paths[fragment_id])
        return self._read[fragment_id]


def fragments_in(directory: str | os.PathLike[str]) -> dict[str, Path]:
    """Every ``*.xml`` file of ``directory`` as a fragment named by its stem."""
    return {path.stem: path for path in sorted(Path(directory).glob("*.xml"))}


def named_values_from_config(
    config: GatewayConfig, environ: Mapping[str, str]
) -> NamedValues:
    """The configuration's named values, with its secrets marked."""
    values = resolve_named_values(config, environ)
    secrets = frozenset(n for n, nv in config.named_values.items() if nv.secret)
    return NamedValues(values, secrets)


# Scopes -------------------------------------------------------------------


def merge(parent: Document, child: Document) -> Document:
    """The child document with each ``<base />`` replaced by the parent's section.

    A child section without ``<base />`` replaces the parent's; a section the
    child leaves out is the parent's.  Elements keep the scope they came from.
    """
    sections: dict[Section, tuple[Element, ...]] = {}
    for section in Section:
        inherited = parent.section(section)
        if section not in child.sections:
            sections[section] = inherited
            continue
        merged: list[Element] = []
        for element in child.sections[section]:
            if element.name == "base":
                merged.extend(inherited)
            else:
                merged.append(element)
        sections[section] = tuple(merged)
    return Document(child.source, child.scope, MappingProxyType(sections))


def effective(*documents: Document | None) -> Document:
    """Merge documents from the outermost scope to the innermost.

    Pass them in scope order (global, product, API, operation); None stands
    for a scope without a document.  The result has all four sections and no
    ``<base />``.  Without a global document, pass
    `PolicyLoader.default_global` so that requests are forwarded.
    """
    result = Document("", Scope.GLOBAL, {section: () for section in Section})
    for document in documents:
        if document is not None:
            result = merge(result, document)
    return result


# Files --------------------------------------------------------------------


def _read_file(path: str | os.PathLike[str]) -> XmlElement:
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror}", source=name) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = Source(name, data[: exc.start].decode("utf-8-sig", "replace"))
        where = before.position(len(before.text))
        error = PolicyDocumentError(
            "the file is not UTF-8 text",
            source=name,
            line=where.line,
            column=where.column,
        )
        raise InvalidPolicyDocument([error]) from None
    try:
        return read_xml(text, source=name)
    except PolicyDocumentError as exc:
        raise InvalidPolicyDocument([exc]) from None


# Building the model -------------------------------------------------------


@dataclass(frozen=True)
class _Inclusion:
    """A fragment being expanded, and where it was included."""

    fragment_id: str
    site: str


_Chain = tuple[_Inclusion, ...]


class _Builder:
    """Checks one document against the catalogue and builds its model.

    Errors are collected in ``errors`` rather than raised, so that one run
    reports everything wrong with a document.
    """

    def __init__(self, loader: PolicyLoader, scope: Scope) -> None:
        self.loader = loader
        self.scope = scope
        self.context = RuleContext(loader.backends)
        self.errors: list[PolicyDocumentError] = []
        self.included = 0

    def document(self, root: XmlElement) -> Document:
        if root.name != "policies":
            self._error(root, f"the root element must be <policies>, not <{root.name}>")
            return Document(root.source.name, self.scope)
        self._bare(root)
        sections: dict[Section, tuple[Element, ...]] = {}
        for child in root.children:
            section = _section(child.name)
            if section is None:
                self._error(
                    child,
                    "<policies> holds the sections <inbound>, <backend>, "
                    f"<outbound> and <on-error>, not <{child.name}>",
                )
            elif section in sections:
                self._error(child, f"the {section} section is given twice")
            else:
                self._bare(child)
                sections[section] = self._policies(
                    child, section, str(section), (), top=True
                )
        return Document(root.source.name, self.scope, MappingProxyType(sections))

    def fragment_file(self, root: XmlElement, fragment_id: str) -> None:
        """Check a fragment file on its own (in no particular section)."""
        if self._fragment_root(root):
            site = f"{root.source.name}:{root.position}"
            self._policies(root, None, "fragment", (_Inclusion(fragment_id, site),))

    # Policies -------------------------------------------------------------

    def _policies(
        self,
        container: XmlElement,
        section: Section | None,
        prefix: str,
        chain: _Chain,
        *,
        top: bool = False,
    ) -> tuple[Element, ...]:
        counts: Counter[str] = Counter()
        built: list[Element] = []
        for xml, inclusions in self._expand(container.children, chain):
            counts[xml.name] += 1
            policy_id = f"{prefix}/{xml.name}[{counts[xml.name]}]"
            spec = self._policy_spec(xml, section, top and not inclusions, inclusions)
            if spec is None:
                continue
            if xml.name == "base" and counts["base"] > 1:
                self._error(xml, "<base /> appears more than once in this section")
            built.append(self._element(xml, spec, section, policy_id, inclusions))
        return tuple(built)

    def _policy_spec(
        self,
        xml: XmlElement,
        section: Section | None,
        top: bool,
        inclusions: _Chain,
    ) -> ElementSpec | None:
        spec = POLICIES.get(xml.name)
        if spec is None:
            self._error(xml, _unknown_policy(xml.name))
            return None
        if section is not None and section not in spec.sections:
            allowed = ", ".join(s for s in Section if s in spec.sections)
            where = _included_from(inclusions)
            self._error(
                xml,
                f"<{xml.name}> is not allowed in the {section} section{where} "
                f"(APIM allows it in: {allowed})",
            )
        if xml.name == "base" and not top:
            self._error(xml, "<base /> can only stand directly in a section")
        return spec

    def _expand(
        self, children: Sequence[XmlElement], chain: _Chain
    ) -> list[tuple[XmlElement, _Chain]]:
        """The children with each ``<include-fragment>`` replaced by its policies."""
        expanded: list[tuple[XmlElement, _Chain]] = []
        for child in children:
            if child.name == INCLUDE_FRAGMENT.name:
                expanded.extend(self._include(child, chain))
            else:
                expanded.append((child, chain))
        return expanded

    def _include(
        self, xml: XmlElement, chain: _Chain
    ) -> list[tuple[XmlElement, _Chain]]:
        attributes = self._attributes(xml, INCLUDE_FRAGMENT)
        self._text(xml, INCLUDE_FRAGMENT)
        self._parts(xml, INCLUDE_FRAGMENT, None, "", chain)
        value = attributes.get("fragment-id")
        if value is None or not isinstance(value.parsed, str):
            return []
        fragment_id = value.parsed
        names = [inclusion.fragment_id for inclusion in chain]
        if len(names) >= MAX_FRAGMENT_DEPTH:
            message = f"fragments are included more than {MAX_FRAGMENT_DEPTH} deep"
            self._error(xml, message)
            return []
        if fragment_id in names:
            cycle = " -> ".join([*names[names.index(fragment_id) :], fragment_id])
            self._error(xml, f"fragment {fragment_id!r} includes itself ({cycle})")
            return []
        root = self._fragment(xml, value, fragment_id)
        if root is None or not self._fragment_root(root):
            return []
        if self.included > MAX_POLICIES:
            return []  # reported once, below
        self.included += len(root.children)
        if self.included > MAX_POLICIES:
            self._error(xml, f"fragments expand to more than {MAX_POLICIES} policies")
            return []
        site = f"{xml.source.name}:{xml.position}"
        return self._expand(root.children, (*chain, _Inclusion(fragment_id, site)))

    def _fragment(
        self, xml: XmlElement, value: Value, fragment_id: str
    ) -> XmlElement | None:
        files = self.loader.fragments
        try:
            root = files.read(fragment_id)
        except InvalidPolicyDocument as exc:
            self.errors.extend(exc.errors)
            return None
        except ConfigError as exc:
            path = files.paths[fragment_id]
            message = f"fragment {fragment_id!r} ({path}): {exc.message}"
            self._error_at(value.position, message, xml.source.name)
            return None
        if root is None:
            known = ", ".join(sorted(files.paths)) or "none"
            self._error_at(
                value.position,
                f"{value.shown!r} is not a known fragment (known: {known})",
                xml.source.name,
            )
        return root

    def _fragment_root(self, root: XmlElement) -> bool:
        if root.name != "fragment":
            self._error(root, f"a fragment file holds <fragment>, not <{root.name}>")
            return False
        self._bare(root)
        return True

    # Elements -------------------------------------------------------------

    def _element(
        self,
        xml: XmlElement,
        spec: ElementSpec,
        section: Section | None,
        policy_id: str,
        chain: _Chain,
    ) -> Element:
        attributes = self._attributes(xml, spec)
        text = self._text(xml, spec)
        if spec.holds_policies:
            children = self._policies(xml, section, policy_id, chain)
        else:
            children = self._parts(xml, spec, section, policy_id, chain)
        element = Element(
            name=xml.name,
            attributes=MappingProxyType(attributes),
            children=children,
            text=text,
            position=xml.position,
            source=xml.source.name,
            policy_id=policy_id,
            scope=self.scope,
            section=section,
            fragment=chain[-1].fragment_id if chain else None,
        )
        for rule in spec.rules:
            for message, position in rule(element, self.context):
                self._error_at(position, message, element.source)
        return element

    def _parts(
        self,
        xml: XmlElement,
        spec: ElementSpec,
        section: Section | None,
        policy_id: str,
        chain: _Chain,
    ) -> tuple[Element, ...]:
        counts: Counter[str] = Counter()
        built: list[Element] = []
        for child in xml.children:
            part = spec.child(child.name)
            if part is None:
                self._error(child, _not_a_part(spec, child.name))
                continue
            counts[child.name] += 1
            if part.most is not None and counts[child.name] > part.most:
                most = "one" if part.most == 1 else f"at most {part.most}"
                self._error(child, f"<{xml.name}> takes {most} <{child.name}>")
                continue
            child_id = f"{policy_id}/{child.name}[{counts[child.name]}]"
            built.append(self._element(child, part.spec, section, child_id, chain))
        for part in spec.children:
            if counts[part.spec.name] < part.least:
                many = "a" if part.most == 1 else "at least one"
                self._error(xml, f"<{xml.name}> needs {many} <{part.spec.name}>")
        return tuple(built)

    def _attributes(self, xml: XmlElement, spec: ElementSpec) -> dict[str, Value]:
        values: dict[str, Value] = {}
        for attribute in xml.attributes:
            known = spec.attribute_map.get(attribute.name)
            if known is None:
                self._unknown_attribute(xml, spec, attribute)
            elif known.unsupported:
                self._error_at(
                    attribute.position,
                    f"{attribute.name!r} is not supported: {known.unsupported}",
                    xml.source.name,
                )
            else:
                subject = f"{attribute.name!r} of <{xml.name}>"
                values[attribute.name] = self._value(
                    attribute.value, known.kind, known.expressions, subject
                )
        for known in spec.attributes:
            if known.name in values or known.unsupported:
                continue
            if known.required:
                self._error(xml, f"<{xml.name}> needs the attribute {known.name!r}")
            elif known.default is not None:
                values[known.name] = _default(known.default, xml.position)
        return values

    def _unknown_attribute(
        self, xml: XmlElement, spec: ElementSpec, attribute: XmlAttribute
    ) -> None:
        message = f"<{xml.name}> has no attribute {attribute.name!r}"
        known = [name for name, a in spec.attribute_map.items() if not a.unsupported]
        close = difflib.get_close_matches(attribute.name, known, n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
        elif not known:
            message += " (it takes none)"
        self._error_at(attribute.position, message, xml.source.name)

    def _text(self, xml: XmlElement, spec: ElementSpec) -> Value | None:
        text = xml.text.strip()
        if spec.text is None:
            if text.value:
                self._error_at(
                    text.position(), f"<{xml.name}> does not hold text", xml.source.name
                )
            return None
        if not text.value and spec.text.required:
            self._error(xml, f"<{xml.name}> needs a value")
            return None
        subject = f"the text of <{xml.name}>"
        return self._value(text, spec.text.kind, spec.text.expressions, subject)

    # Values ---------------------------------------------------------------

    def _value(self, text: Text, kind: Kind, expressions: bool, subject: str) -> Value:
        named = self.loader.named_values
        if named is not None:
            text, problems = text.substitute(named)
            if problems:
                self.errors.extend(problems)
                return Value(text.value, text.position(), shown=text.shown)
        position, shown = text.position(), text.shown
        if is_expression(text.value):
            if not expressions:
                self._error_at(
                    position,
                    f"{subject} does not take a policy expression",
                    text.source.name,
                )
                return Value(text.value, position, shown=shown)
            expression = self._compile(text)
            return Value(text.value, position, expression=expression, shown=shown)
        if named is None and NAMED_VALUE.search(text.value):
            return Value(text.value, position, shown=shown)  # unknown until resolved
        try:
            parsed = kind.parse(text.value)
        except ValueError as exc:
            self._error_at(position, text.redact(f"{shown!r} {exc}"), text.source.name)
            parsed = None
        return Value(text.value, position, parsed=parsed, shown=shown)

    def _compile(self, text: Text) -> Expression | None:
        position = text.position()
        source = text.source.name
        try:
            return self.loader.compiler(
                text.value, source=source, line=position.line, column=position.column
            )
        except PolicyDocumentError as exc:
            if text.verbatim:
                error = PolicyDocumentError(
                    exc.message,
                    source=source,
                    line=exc.line,
                    column=exc.column,
                )
            else:
                error = self._relocated(text)
            self.errors.append(error)
            return None

    def _relocated(self, text: Text) -> PolicyDocumentError:
        """The compile error of a rewritten text, placed in the original file.

        Entities and named values change lengths, so the text is compiled again
        as if it started at 1:1 and the error's place is mapped back.
        """
        try:
            self.loader.compiler(text.value, source=text.source.name, line=1, column=1)
        except PolicyDocumentError as exc:
            index = _index(text.value, exc.line, exc.column)
            if text.has_secret:
                # The message may quote any part of the secret, so none is shown.
                return text.error(
                    f"{text.shown!r} does not compile; the message is withheld "
                    "because the expression holds a secret named value",
                    index,
                )
            return text.error(exc.message, index)
        return text.error("the expression does not compile")

    # Errors ---------------------------------------------------------------

    def _bare(self, xml: XmlElement) -> None:
        """Check a structural element (document, section) has no attributes or text."""
        for attribute in xml.attributes:
            self._error_at(
                attribute.position,
                f"<{xml.name}> has no attribute {attribute.name!r}",
                xml.source.name,
            )
        text = xml.text.strip()
        if text.value:
            self._error_at(
                text.position(), f"<{xml.name}> does not hold text", xml.source.name
            )

    def _error(self, xml: XmlElement, message: str) -> None:
        self.errors.append(xml.error(message))

    def _error_at(self, position: Position, message: str, source: str) -> None:
        self.errors.append(
            PolicyDocumentError(
                message, source=source, line=position.line, column=position.column
            )
        )


def _section(name: str) -> Section | None:
    try:
        return Section(name)
    except ValueError:
        return None


def _unknown_policy(name: str) -> str:
    if name in APIM_ONLY:
        return f"<{name}> is an APIM policy that Tollhouse does not support yet"
    message = f"unknown policy <{name}>"
    close = difflib.get_close_matches(name, list(POLICIES), n=1)
    if close:
        message += f"; did you mean <{close[0]}>?"
    return message


def _not_a_part(spec: ElementSpec, name: str) -> str:
    if not spec.children:
        return f"<{spec.name}> does not hold elements, found <{name}>"
    parts = ", ".join(f"<{c.spec.name}>" for c in spec.children)
    return f"<{spec.name}> cannot contain <{name}> (it holds {parts})"


def _included_from(inclusions: _Chain) -> str:
    if not inclusions:
        return ""
    last = inclusions[-1]
    return f" (from fragment {last.fragment_id!r} included at {last.site})"


def _default(default: object, position: Position) -> Value:
    text = str(default).lower() if isinstance(default, bool) else str(default)
    return Value(text, position, parsed=default, shown=text, given=False)


def _index(value: str, line: int, column: int) -> int:
    """The index in ``value`` of a 1-based line and column within it."""
    start = 0
    for _ in range(line - 1):
        found = value.find("\n", start)
        if found < 0:
            return len(value)
        start = found + 1
    return min(start + column - 1, len(value))
