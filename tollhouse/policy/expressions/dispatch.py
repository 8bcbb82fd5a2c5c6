"""Member lookup for values whose type is only known at run time.

``context.Variables["x"].Length`` cannot be checked when the policy loads:
the variable may hold anything.  These functions find the member in the
type table of the value actually met, with the same rules the compiler
applies statically, and fail with an `ExpressionError` when there is none.
"""

from __future__ import annotations

from .library import Library
from .operators import type_name
from .runtime import Evaluation, Lambda, fail
from .types import AnonymousObject, CsType, Indexer, Method


def _table(library: Library, value: object) -> CsType:
    found = library.runtime_type(value)
    if found is None:
        fail(f"values of type '{type_name(value)}' have no members")
    return found


def property_of(library: Library, value: object, name: str) -> object:
    """``value.name`` for a property."""
    if type(value) is AnonymousObject and name in value.names:
        return value.get(name)
    table = _table(library, value)
    prop = table.properties.get(name)
    if prop is None:
        fail(f"'{name}' is not a property of '{type_name(value)}'")
    return prop.get(value)


def indexer_of(library: Library, value: object) -> Indexer:
    """The indexer of a value's type (``value[key]``)."""
    indexer = _table(library, value).indexer
    if indexer is None:
        fail(f"cannot apply indexing with [] to a value of type '{type_name(value)}'")
    return indexer


def method_of(library: Library, value: object, name: str) -> Method:
    """The method ``name`` of a value's type."""
    method = _table(library, value).methods.get(name)
    if method is None:
        fail(f"'{name}' is not a method of '{type_name(value)}'")
    return method


def ordered(
    method: Method, name: str, values: list[object], names: list[str | None]
) -> list[object]:
    """Arguments in parameter order, named ones placed where they belong."""
    if not any(names):
        return values
    positional = [v for v, n in zip(values, names, strict=True) if n is None]
    placed: dict[int, object] = {}
    for value, arg_name in zip(values, names, strict=True):
        if arg_name is None:
            continue
        if arg_name not in method.params:
            fail(f"'{name}' has no parameter named '{arg_name}'")
        placed[method.params.index(arg_name)] = value
    result = positional
    for index in sorted(placed):
        if index != len(result):
            fail(f"argument '{method.params[len(result)]}' of '{name}' must be given")
        result.append(placed[index])
    return result


def call(
    ev: Evaluation,
    method: Method,
    name: str,
    receiver: object,
    args: list[object],
    type_arg: CsType | None,
) -> object:
    """Call a method found at run time, checking what the compiler could not."""
    if method.out is not None:
        fail(
            f"'{name}' takes an 'out' argument, which needs a receiver whose type "
            "is known when the policy loads: cast the receiver"
        )
    if not method.accepts(len(args)):
        fail(f"'{name}' does not take {len(args)} arguments")
    if not method.lambdas and any(isinstance(a, Lambda) for a in args):
        fail(f"'{name}' does not accept a lambda")
    if type_arg is not None and not method.generic:
        fail(f"'{name}' does not take a type argument")
    lead: list[object] = [ev] if method.budget else []
    lead.append(receiver)
    if method.generic:
        lead.append(type_arg)
    return method.call(*lead, *args)
