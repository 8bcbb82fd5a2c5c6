"""How the C# types expressions can use are described, and a few value classes.

Each type an expression may touch is a `CsType` with explicit tables of
its properties, methods, static members, constructor and indexer.  Those
tables are the only way from an expression to Python: a member that is not
declared in them cannot be reached, and no Python attribute is ever looked
up by a name taken from an expression.

Member return types are written as C# type names (``"string"``,
``"JToken"``, ``"string[]"``) resolved by the library when an expression is
compiled; ``"T"`` stands for the method's type argument (``As<JObject>``),
``"E"`` for the element type of the receiver, None for "not known until it
runs".

Values mostly use Python's own types (``str``, ``bool``, ``int``, ``float``,
``Decimal``, ``datetime``, ``list``); the classes here fill the gaps: `Char`,
`EnumValue`, `AnonymousObject` and `KeyValuePair`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

TypeSpec: TypeAlias = "str | CsType | None"
NOT_CONSTANT = object()


@dataclass(frozen=True, slots=True)
class Property:
    """A readable property; ``get`` receives the instance (None for statics)."""

    get: Callable[[Any], object]
    type: TypeSpec = None


@dataclass(frozen=True, slots=True)
class Method:
    """A method: how to call it and what it accepts.

    ``call`` receives, in order: the evaluation if ``budget``, the instance
    (instance methods only), the type argument if ``generic``, then the
    arguments.  ``params`` names the parameters (for named arguments) and
    ``required`` how many must be given; ``variadic`` accepts any number
    after them, as C#'s ``params object[]``.  ``lambdas`` lets arguments
    be lambdas (LINQ).  ``out`` is the type of a last ``out`` parameter
    (``TryParseJwt(out var jwt)``), not counted in ``params``: ``call`` then
    returns the pair (result, value for the out variable).
    """

    call: Callable[..., object]
    params: tuple[str, ...] = ()
    required: int | None = None
    returns: TypeSpec = None
    generic: bool = False
    lambdas: bool = False
    budget: bool = False
    variadic: bool = False
    check: Callable[[CsType | None, list[object]], None] | None = None
    out: TypeSpec = None

    @property
    def min_args(self) -> int:
        return len(self.params) if self.required is None else self.required

    def accepts(self, count: int) -> bool:
        return count >= self.min_args and (self.variadic or count <= len(self.params))


@dataclass(frozen=True, slots=True)
class Indexer:
    """``x[key]``; ``set`` (evaluation, instance, key, value) is None if read-only."""

    get: Callable[[Any, object], object]
    returns: TypeSpec = None
    set: Callable[[Any, Any, object, object], None] | None = None


@dataclass(eq=False)
class CsType:
    """A C# type as expressions see it.

    ``test`` says whether a runtime value is an instance (for ``is``,
    ``as`` and casts).  ``numeric`` names the numeric kind (``int``,
    ``long``, ``double``, ``decimal``, ``char``) that picks the arithmetic;
    ``value_type`` types cannot hold null unless ``nullable``.
    """

    name: str
    full_name: str
    test: Callable[[object], bool]
    properties: dict[str, Property] = field(default_factory=dict)
    methods: dict[str, Method] = field(default_factory=dict)
    statics: dict[str, Property] = field(default_factory=dict)
    static_methods: dict[str, Method] = field(default_factory=dict)
    constructor: Method | None = None
    indexer: Indexer | None = None
    element: CsType | None = None
    numeric: str | None = None
    value_type: bool = False
    nullable: bool = False

    def variant(self, **changes: Any) -> CsType:
        """A copy sharing the member tables (``string[]``, ``int?``)."""
        return dataclasses.replace(self, **changes)

    @property
    def can_be_null(self) -> bool:
        return self.nullable or not self.value_type

    def __repr__(self) -> str:
        return f"CsType({self.name})"


class Char(str):
    """A C# ``char``: a one-character string that is not a ``string``."""

    __slots__ = ()


class EnumValue:
    """A member (or a flags combination) of a C# enum such as StringComparison."""

    __slots__ = ("enum", "value", "names")

    def __init__(self, enum: str, value: int, names: Mapping[int, str]) -> None:
        self.enum = enum
        self.value = value
        self.names = names

    def with_value(self, value: int) -> EnumValue:
        return EnumValue(self.enum, value, self.names)

    def has(self, flag: int) -> bool:
        return self.value & flag == flag

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, EnumValue)
            and other.enum == self.enum
            and other.value == self.value
        )

    def __hash__(self) -> int:
        return hash((self.enum, self.value))

    def __str__(self) -> str:
        if self.value in self.names:
            return self.names[self.value]
        flags = [n for v, n in self.names.items() if v and self.value & v == v]
        return ", ".join(flags) if flags else str(self.value)


class AnonymousObject:
    """``new { code = "x", message = m }``: named values in declaration order."""

    __slots__ = ("names", "values")

    def __init__(self, names: tuple[str, ...], values: list[object]) -> None:
        self.names = names
        self.values = values

    def get(self, name: str) -> object:
        return self.values[self.names.index(name)]

    def items(self) -> list[tuple[str, object]]:
        return list(zip(self.names, self.values, strict=True))


@dataclass(frozen=True, slots=True)
class KeyValuePair:
    """An entry met when enumerating a dictionary or a JObject."""

    key: object
    value: object


def make_enum(name: str, namespace: str, members: Mapping[str, int]) -> CsType:
    """A CsType for an enum whose members are static properties."""
    names = {value: member for member, value in members.items()}

    def is_member(value: object) -> bool:
        return isinstance(value, EnumValue) and value.enum == name

    statics = {
        member: Property(_constant(EnumValue(name, value, names)), name)
        for member, value in members.items()
    }
    return CsType(
        name,
        f"{namespace}.{name}",
        is_member,
        statics=statics,
        numeric="enum",
        value_type=True,
    )


def _constant(value: object) -> Callable[[object], object]:
    return lambda _: value


def constant(value: object, type_name: TypeSpec) -> Property:
    """A static property that always reads ``value``."""
    return Property(_constant(value), type_name)


class Sequence:
    """A .NET collection written in Python; `elements` is what foreach meets."""

    __slots__ = ()

    def elements(self) -> list[object]:
        raise NotImplementedError
