"""``AsJwt()``, ``TryParseJwt(out var jwt)`` and the ``Jwt`` they return."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from tollhouse.errors import PolicyDocumentError
from tollhouse.policy.context import PolicyContext
from tollhouse.policy.expressions import compile_expression
from tollhouse.policy.expressions.lib_jwt import decode


def encode(part: object) -> str:
    data = json.dumps(part).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


HEADER = {"alg": "RS256", "typ": "JWT", "kid": "k1"}
CLAIMS = {
    "jti": "id-1",
    "iss": "https://login.example/tenant/v2.0",
    "sub": "subject-1",
    "aud": ["api://gateway", "api://other"],
    "iat": 1700000000,
    "nbf": 1700000000,
    "exp": 1700003600.5,
    "oid": "00000000-0000-0000-0000-0000000000aa",
    "roles": ["reader", "writer"],
    "admin": True,
    "level": 3,
    "address": {"country": "FR"},
    "ünï": "çødé",
}
TOKEN = f"{encode(HEADER)}.{encode(CLAIMS)}.c2lnbmF0dXJl"
BEARER = f'"{TOKEN}"'


def run(text: str, authorization: str = f"Bearer {TOKEN}") -> object:
    context = PolicyContext.for_request(
        "GET", "https://gw.example/", headers=[("Authorization", authorization)]
    )
    context.variables["token"] = TOKEN
    return compile_expression(text).evaluate(context)


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        ("Id", "id-1"),
        ("Issuer", "https://login.example/tenant/v2.0"),
        ("Subject", "subject-1"),
        ("Algorithm", "RS256"),
        ("Type", "JWT"),
        ('Audiences.Contains("api://other")', True),
        ("Audiences.Length", 2),
        ("IssuedAt", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("NotBefore", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("ExpirationTime", datetime(2023, 11, 14, 23, 13, 20, 500000, tzinfo=UTC)),
        ('ExpirationTime?.ToString("o")', "2023-11-14T23:13:20.5000000Z"),
        ("ExpirationTime.Year", 2023),
        ('Claims.GetValueOrDefault("oid", "")', "00000000-0000-0000-0000-0000000000aa"),
        ('Claims.GetValueOrDefault("roles", "")', "reader,writer"),
        ('Claims.GetValueOrDefault("missing", "none")', "none"),
        ('Claims.GetValueOrDefault("OID", "case-sensitive")', "case-sensitive"),
        ('Claims["roles"][1]', "writer"),
        ('Claims["admin"][0]', "true"),
        ('Claims["level"][0]', "3"),
        ('Claims["address"][0]', '{"country":"FR"}'),
        ('Claims["ünï"][0]', "çødé"),
        ('Claims.ContainsKey("sub")', True),
        ("Claims.Count", len(CLAIMS)),
        ('Claims.Keys.Contains("aud")', True),
        ('Claims.Any(c => c.Key == "roles")', True),
    ],
)
def test_jwt_members(member: str, expected: object) -> None:
    assert run(f"@({BEARER}.AsJwt().{member})") == expected


def test_bearer_header_claim() -> None:
    text = (
        '@(context.Request.Headers.GetValueOrDefault("Authorization","")'
        '.Split(\' \').Last().AsJwt()?.Claims.GetValueOrDefault("oid", ""))'
    )
    assert run(text) == "00000000-0000-0000-0000-0000000000aa"
    assert run(text, authorization="Bearer not-a-token") is None
    assert run(text, authorization="") is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        f"Bearer {TOKEN}",
        f"{encode(HEADER)}.!!!.sig",
        f"{encode(HEADER)}.{encode(['not', 'an', 'object'])}.sig",
        f"{encode('text')}.{encode(CLAIMS)}.sig",
        f"{base64.urlsafe_b64encode(b'{not json').decode()}.{encode(CLAIMS)}.sig",
        f"{base64.urlsafe_b64encode(bytes([255, 254])).decode()}.{encode(CLAIMS)}.",
    ],
)
def test_text_that_is_not_a_jwt(token: str) -> None:
    assert decode(token) is None
    assert run(f"@({json.dumps(token)}.AsJwt() == null)") is True
    assert (
        run(f"@({json.dumps(token)}.TryParseJwt(out var jwt) || jwt != null)") is False
    )


@pytest.mark.parametrize(
    ("claims", "member", "expected"),
    [
        ({"aud": "single"}, 'string.Join(",", jwt.Audiences)', "single"),
        ({}, "jwt.Audiences.Length", 0),
        ({}, "jwt.Subject == null", True),
        ({}, "jwt.ExpirationTime != null", False),
        ({"exp": "soon"}, "jwt.ExpirationTime == null", True),
        ({"exp": True}, "jwt.ExpirationTime == null", True),
        ({"exp": 10**20}, "jwt.ExpirationTime == null", True),
        ({"iss": 42}, "jwt.Issuer", "42"),
        ({"v": None}, 'jwt.Claims["v"][0]', "null"),
        ({"v": [1, [2, 3]]}, 'jwt.Claims.GetValueOrDefault("v", "")', "1,[2,3]"),
    ],
)
def test_claims_of_unusual_tokens(
    claims: dict[str, object], member: str, expected: object
) -> None:
    token = json.dumps(f"{encode({'alg': 'none'})}.{encode(claims)}.")
    assert run(f"@({token}.TryParseJwt(out var jwt) ? {member} : null)") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "@{ var raw = context.Request.Headers.GetValueOrDefault"
            '("Authorization", "").Split(\' \').Last();'
            ' if (!raw.TryParseJwt(out var jwt)) { return "anonymous"; }'
            " return jwt.Subject; }",
            "subject-1",
        ),
        (f'@({BEARER}.TryParseJwt(out Jwt jwt) && jwt.Algorithm == "RS256")', True),
        (f"@({BEARER}.TryParseJwt(out _))", True),
        (f"@({BEARER}.TryParseJwt(out var _))", True),
        (
            '@{ Jwt jwt = null; var found = ((string)context.Variables["token"])'
            '.TryParseJwt(out jwt); return found && jwt.Id == "id-1"; }',
            True,
        ),
        ('@(((string)context.Variables["token"]).AsJwt().Subject)', "subject-1"),
        ('@(context.Variables["token"].AsJwt().Subject)', "subject-1"),
    ],
)
def test_try_parse_jwt(text: str, expected: object) -> None:
    assert run(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('@("x".TryParseJwt())', "'TryParseJwt' needs a last 'out' argument"),
        (
            '@(context.Variables["token"].TryParseJwt(out var jwt))',
            "an 'out' argument needs a receiver whose type is known",
        ),
        ('@("x".Contains(out var y))', "'Contains' takes no 'out' argument here"),
        ("@(out var x)", "'out' is only supported in an argument"),
        (
            '@{ var jwt = 1; return "x".TryParseJwt(out var jwt); }',
            "a local named 'jwt' is already defined in this scope",
        ),
        ('@("x".TryParseJwt(out missing))', "unknown name 'missing'"),
        ('@("x".TryParseJwt(ref var jwt))', "'ref' arguments are not supported"),
    ],
)
def test_out_argument_errors(text: str, message: str) -> None:
    with pytest.raises(PolicyDocumentError) as caught:
        compile_expression(text)
    assert caught.value.message.startswith(message)
