"""``AsJwt()`` and ``TryParseJwt()``: reading a JSON Web Token without checking it.

APIM's string extensions decode a compact JWT (``header.payload.signature``,
each part base64url) and show its registered claims as properties of a
`Jwt`.  Nothing is validated: not the signature, not the lifetime, not the
issuer; that is the ``validate-jwt`` policy's work.  Text that is not a
JWT gives null (``AsJwt``) or false (``TryParseJwt``), never an error.

Claim values are strings, as .NET's ``Claim.Value`` is: a JSON string as
is, numbers and booleans as their JSON text (``"true"``), an array as one
value per item, an object as its compact JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .lib_collections import HEADERS
from .lib_common import method, prop, with_common
from .runtime import Evaluation
from .types import CsType, KeyValuePair, Sequence

# Registered claims with a property of their own.
_AUDIENCE, _ISSUED, _NOT_BEFORE, _EXPIRES = "aud", "iat", "nbf", "exp"


class Claims(Sequence):
    """A token's claims: case-sensitive names, each with one or more values.

    It answers what the ``IReadOnlyDictionary<string, string[]>`` table of
    headers asks (``get`` joins several values with ``","``), so both share
    one member table.
    """

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, list[str]]) -> None:
        self._values = values

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._values.get(name)
        return ",".join(values) if values is not None else default

    def get_all(self, name: str) -> list[str]:
        return list(self._values.get(name, []))

    def names(self) -> list[str]:
        return list(self._values)

    def elements(self) -> list[object]:
        return [KeyValuePair(n, list(v)) for n, v in self._values.items()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._values

    def __len__(self) -> int:
        return len(self._values)


@dataclass(frozen=True, slots=True)
class Jwt:
    """A decoded token: its header's algorithm and type, and its claims."""

    algorithm: str | None
    type: str | None
    claims: Claims
    payload: dict[str, object] = field(repr=False)

    def text_claim(self, name: str) -> str | None:
        return self.claims.get(name)

    def audiences(self) -> list[object]:
        return list(self.claims.get_all(_AUDIENCE))

    def moment(self, name: str) -> datetime | None:
        """A NumericDate claim (seconds since 1970) as a UTC DateTime."""
        seconds = self.payload.get(name)
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            return None
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None


def decode(text: str) -> Jwt | None:
    """The token in ``text``, or None when it is not a compact JWT."""
    parts = text.strip().split(".")
    if len(parts) != 3:
        return None
    header, payload = _json_part(parts[0]), _json_part(parts[1])
    if header is None or payload is None:
        return None
    claims = Claims({name: _claim_values(v) for name, v in payload.items()})
    return Jwt(_text(header.get("alg")), _text(header.get("typ")), claims, payload)


def _json_part(part: str) -> dict[str, object] | None:
    """A base64url-encoded JSON object, or None."""
    try:
        data = base64.b64decode(part + "=" * (-len(part) % 4), b"-_", validate=True)
        value = json.loads(data.decode("utf-8"))
    except (binascii.Error, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _claim_values(value: object) -> list[str]:
    if isinstance(value, list):
        return [_claim_text(item) for item in value]
    return [_claim_text(value)]


def _claim_text(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _as_jwt(ev: Evaluation, text: str) -> Jwt | None:
    ev.charge(len(text))
    return decode(text)


def _try_parse_jwt(ev: Evaluation, text: str) -> tuple[bool, Jwt | None]:
    token = _as_jwt(ev, text)
    return token is not None, token


CLAIMS = HEADERS.variant(
    name="JwtClaims",
    full_name="Tollhouse.Jwt.Claims",
    test=lambda v: isinstance(v, Claims),
)
JWT = with_common(
    CsType(
        "Jwt",
        "Tollhouse.Jwt",
        lambda v: isinstance(v, Jwt),
        properties={
            "Id": prop(lambda t: t.text_claim("jti"), "string"),
            "Issuer": prop(lambda t: t.text_claim("iss"), "string"),
            "Subject": prop(lambda t: t.text_claim("sub"), "string"),
            "Audiences": prop(Jwt.audiences, "string[]"),
            "IssuedAt": prop(lambda t: t.moment(_ISSUED), "DateTime?"),
            "NotBefore": prop(lambda t: t.moment(_NOT_BEFORE), "DateTime?"),
            "ExpirationTime": prop(lambda t: t.moment(_EXPIRES), "DateTime?"),
            "Algorithm": prop(lambda t: t.algorithm, "string"),
            "Type": prop(lambda t: t.type, "string"),
            "Claims": prop(lambda t: t.claims, "JwtClaims"),
        },
    )
)
# Added to string's table by `lib_text`.
STRING_METHODS = {
    "AsJwt": method(_as_jwt, budget=True, returns="Jwt"),
    "TryParseJwt": method(_try_parse_jwt, budget=True, returns="bool", out="Jwt"),
}

TYPES = [JWT, CLAIMS]
