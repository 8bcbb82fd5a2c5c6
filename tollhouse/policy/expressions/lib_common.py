"""Helpers the library tables share: members every type has, argument checks.

Every object in C# has ``ToString()`` and ``Equals(object)``; `with_common`
adds them to a type's method table unless the type declares its own.
``IFormatProvider`` arguments (``CultureInfo.InvariantCulture``) are
accepted and ignored: expressions always format in the invariant culture.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .formatting import format_value, to_text
from .operators import equals, type_name
from .runtime import fail
from .types import AnonymousObject, Char, CsType, Method, Property


class Culture:
    """``CultureInfo.InvariantCulture`` and friends, which change nothing here."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def cs_text(self) -> str:
        return self.name


def method(
    call: Callable[..., object],
    *params: str,
    required: int | None = None,
    returns: str | None = None,
    **options: Any,
) -> Method:
    """A `Method` written compactly in the tables."""
    return Method(call, params, required, returns, **options)


def prop(get: Callable[[Any], object], type_name: str | None = None) -> Property:
    """A `Property` written compactly in the tables."""
    return Property(get, type_name)


def text_of(value: object, what: str = "value") -> str:
    """A required string argument (null is refused, as .NET does)."""
    if value is None:
        fail(f"Value cannot be null. (Parameter '{what}')")
    if not isinstance(value, str):
        fail(f"Argument '{what}': cannot convert from '{type_name(value)}' to 'string'")
    return str(value)


def int_of(value: object, what: str = "value") -> int:
    """A required integer argument."""
    if type(value) is Char:
        return ord(value)
    if type(value) is not int:
        fail(f"Argument '{what}': cannot convert from '{type_name(value)}' to 'int'")
    return value


def _to_string(value: object, spec: object = None, provider: object = None) -> str:
    if spec is None or isinstance(spec, Culture):
        return to_text(value)
    return format_value(value, text_of(spec, "format"))


def _equals(value: object, other: object) -> bool:
    if isinstance(value, AnonymousObject) and isinstance(other, AnonymousObject):
        return value.names == other.names and all(
            _equals(a, b) for a, b in zip(value.values, other.values, strict=True)
        )
    return equals(value, other)


COMMON = {
    "ToString": method(_to_string, "format", "provider", required=0, returns="string"),
    "Equals": method(_equals, "obj", returns="bool"),
}


def with_common(cs_type: CsType) -> CsType:
    """``cs_type`` with ToString and Equals where it has none of its own."""
    for name, member in COMMON.items():
        cs_type.methods.setdefault(name, member)
    return cs_type
