"""Every type expressions can name or meet, and the names they may not use.

`LIBRARY` answers three questions for the compiler: what a type name in
the source means (``JObject``, ``System.String``, ``string[]``), what the
static type of a member's result is, and which type table serves a value
met at run time.  Reflection, I/O, networking and threading are named in
`FORBIDDEN_NAMES` and `FORBIDDEN_MEMBERS` so that using them is a load-time
error that says so.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

import regex

from .. import context as model
from . import (
    jtoken,
    lib_collections,
    lib_context,
    lib_json,
    lib_jwt,
    lib_regex,
    lib_text,
    lib_time,
    lib_values,
)
from .lib_common import Culture, with_common
from .syntax import TypeName
from .types import AnonymousObject, Char, CsType, EnumValue, KeyValuePair, TypeSpec

NAMESPACES = frozenset(
    {
        "System",
        "System.Text",
        "System.Text.RegularExpressions",
        "System.Linq",
        "System.Globalization",
        "System.Collections",
        "System.Collections.Generic",
        "Newtonsoft",
        "Newtonsoft.Json",
        "Newtonsoft.Json.Linq",
    }
)
_REFLECTION = "reflection ('{}') is not available in policy expressions"
_UNAVAILABLE = "'{}' is not available in policy expressions"
# Members no expression may name, whatever the receiver.
FORBIDDEN_MEMBERS = {
    name: _REFLECTION.format(name)
    for name in (
        "GetType",
        "GetTypeInfo",
        "GetMethod",
        "GetMethods",
        "GetProperty",
        "GetProperties",
        "GetField",
        "GetFields",
        "GetMember",
        "GetMembers",
        "InvokeMember",
        "Invoke",
        "DynamicInvoke",
        "CreateInstance",
        "CreateDelegate",
        "MakeGenericType",
        "MemberwiseClone",
        "Finalize",
        "Assembly",
    )
}
# Types and namespaces no expression may name.
FORBIDDEN_NAMES = {
    **{
        name: _REFLECTION.format(name)
        for name in (
            "Activator",
            "Assembly",
            "Type",
            "TypeInfo",
            "MethodInfo",
            "PropertyInfo",
            "AppDomain",
            "Delegate",
            "dynamic",
            "System.Reflection",
            "System.Type",
            "System.Activator",
        )
    },
    **{
        name: _UNAVAILABLE.format(name)
        for name in (
            "System.IO",
            "System.Net",
            "System.Diagnostics",
            "System.Threading",
            "System.Runtime",
            "System.Security",
            "System.Web",
            "System.Data",
            "System.Xml",
            "Microsoft",
            "Environment",
            "Process",
            "File",
            "Directory",
            "Console",
            "GC",
            "Marshal",
            "Thread",
            "HttpClient",
            "WebClient",
            "XDocument",
            "XElement",
            "System.Environment",
            "System.Console",
            "System.GC",
            "System.AppDomain",
        )
    },
    "Task": (
        "'Task' is not available: policy expressions run synchronously, with "
        "no async, await or Task; to pause between attempts use the 'retry' "
        "policy's 'interval' instead of Task.Delay"
    ),
}


VOID = CsType("void", "System.Void", lambda v: False)
ANONYMOUS = with_common(
    CsType(
        "<anonymous type>", "<anonymous type>", lambda v: isinstance(v, AnonymousObject)
    )
)


class Library:
    """Types by name and by runtime class."""

    def __init__(self, types: Iterable[CsType], aliases: dict[str, str]) -> None:
        self.by_name: dict[str, CsType] = {}
        for cs_type in types:
            with_common(cs_type)
            self.by_name.setdefault(cs_type.name, cs_type)
            self.by_name.setdefault(cs_type.full_name, cs_type)
        for alias, name in aliases.items():
            self.by_name[alias] = self.by_name[name]
            for namespace in ("System", "System.Collections.Generic", "System.Linq"):
                self.by_name.setdefault(f"{namespace}.{alias}", self.by_name[name])
        self.by_class = self._classes()

    def _classes(self) -> dict[type, CsType]:
        named = self.by_name
        return {
            str: named["string"],
            Char: named["char"],
            bool: named["bool"],
            int: named["long"],
            float: named["double"],
            Decimal: named["decimal"],
            datetime: named["DateTime"],
            timedelta: named["TimeSpan"],
            uuid.UUID: named["Guid"],
            bytes: named["byte[]"],
            list: named["List"],
            dict: named["IReadOnlyDictionary"],
            KeyValuePair: named["KeyValuePair"],
            model.Headers: named["IReadOnlyDictionary<string, string[]>"],
            jtoken.JObject: named["JObject"],
            jtoken.JArray: named["JArray"],
            jtoken.JValue: named["JValue"],
            jtoken.JProperty: named["JProperty"],
            Culture: named["CultureInfo"],
            lib_text.Encoding: named["Encoding"],
            regex.Pattern: named["Regex"],
            lib_regex.Match: named["Match"],
            lib_regex.Group: named["Group"],
            lib_regex.GroupCollection: named["GroupCollection"],
            lib_regex.MatchCollection: named["MatchCollection"],
            model.Url: named["IUrl"],
            model.Body: named["IMessageBody"],
            model.Request: named["IRequest"],
            model.Response: named["IResponse"],
            model.Subscription: named["ISubscription"],
            model.Product: named["IProduct"],
            model.Api: named["IApi"],
            model.Operation: named["IOperation"],
            model.User: named["IUser"],
            model.Deployment: named["IDeployment"],
            model.LastError: named["ILastError"],
            model.PolicyContext: named["IProxyRequestContext"],
            lib_jwt.Jwt: named["Jwt"],
            lib_jwt.Claims: named["JwtClaims"],
            AnonymousObject: ANONYMOUS,
        }

    def runtime_type(self, value: object) -> CsType | None:
        """The type table for a value met at run time."""
        found = self.by_class.get(type(value))
        if found is None and isinstance(value, EnumValue):
            return self.by_name.get(value.enum)
        return found

    def named(self, name: str) -> CsType | None:
        return self.by_name.get(name)

    def resolve(self, name: TypeName) -> CsType | str:
        """The type a name in the source means, or why it cannot be used."""
        dotted = name.dotted
        refused = self.refusal(name.parts)
        if refused:
            return refused
        if dotted in ("byte", "Byte", "System.Byte") and name.rank == 1:
            return self.by_name["byte[]"]
        base = self.by_name.get(dotted)
        if base is None and len(name.parts) > 1:
            namespace = ".".join(name.parts[:-1])
            if namespace in NAMESPACES:
                base = self.by_name.get(name.parts[-1])
        if base is None:
            return f"type '{dotted}' is not supported in policy expressions"
        if name.args:
            generic = self._generic(base, name)
            if isinstance(generic, str):
                return generic
            base = generic
        if name.nullable:
            base = base.variant(name=base.name + "?", nullable=True)
        for _ in range(name.rank):
            base = self.array_of(base)
        return base

    def _generic(self, base: CsType, name: TypeName) -> CsType | str:
        args = [self.resolve(arg) for arg in name.args]
        failed = next((a for a in args if isinstance(a, str)), None)
        if failed is not None:
            return failed
        kinds = {"List": 1, "Array": 1, "IReadOnlyDictionary": 2}
        if kinds.get(base.name) != len(args):
            return f"generic type '{name}' is not supported in policy expressions"
        element = args[-1]
        assert isinstance(element, CsType)
        return base.variant(name=str(name), element=element)

    def refusal(self, parts: list[str]) -> str | None:
        """Why a dotted type or namespace name may not be used, if it may not."""
        found = self.refused_at(parts)
        return found[1] if found else None

    def refused_at(self, parts: list[str]) -> tuple[int, str] | None:
        """The index of the part that makes a dotted name forbidden, and why."""
        for end in range(1, len(parts) + 1):
            prefix = ".".join(parts[:end])
            if prefix in FORBIDDEN_NAMES:
                return end - 1, FORBIDDEN_NAMES[prefix]
        return None

    def array_of(self, element: CsType | None) -> CsType:
        array = self.by_name["Array"]
        if element is None:
            return array
        return array.variant(name=f"{element.name}[]", element=element)

    def spec(
        self, spec: TypeSpec, receiver: CsType | None, type_arg: CsType | None
    ) -> CsType | None:
        """The static type a member's declared return type means here."""
        if spec is None or isinstance(spec, CsType):
            return spec
        element = receiver.element if receiver is not None else None
        if spec == "T":
            return type_arg
        if spec == "E":
            return element
        if spec in ("E[]", "T[]"):
            return self.array_of(element if spec == "E[]" else type_arg)
        if spec == "List<E>":
            return self.by_name["List"].variant(
                name=f"List<{element.name if element else 'object'}>", element=element
            )
        found = self.by_name.get(spec)
        if found is not None:
            return found
        if spec.endswith("[]"):
            return self.array_of(self.spec(spec[:-2], receiver, type_arg))
        if spec.endswith("?"):
            inner = self.by_name[spec[:-1]]
            return inner.variant(name=spec, nullable=True)
        raise LookupError(f"unknown type in the library tables: {spec}")


def _build() -> Library:
    types: list[CsType] = [
        *lib_values.TYPES,
        *lib_time.TYPES,
        *lib_text.TYPES,
        *lib_collections.TYPES,
        *lib_regex.TYPES,
        *lib_json.TYPES,
        *lib_jwt.TYPES,
        *lib_context.TYPES,
    ]
    aliases = {**lib_values.ALIASES, **lib_text.ALIASES, **lib_collections.ALIASES}
    library = Library([*types, VOID], aliases)
    library.by_name["string[]"] = library.array_of(library.by_name["string"])
    library.by_name["char[]"] = library.array_of(library.by_name["char"])
    return library


LIBRARY = _build()
