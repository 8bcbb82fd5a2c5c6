"""The catalogue: each policy's sections, attributes, values and parts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tollhouse.policy.catalogue import (
    BOOLEAN,
    FIELD_VALUE,
    HTTP_METHOD,
    IP_ADDRESS,
    MEDIA_TYPE,
    ORIGIN,
    POLICIES,
    STATUS_CODE,
    ElementSpec,
    Kind,
    choice,
    integer,
)
from tollhouse.policy.document import InvalidPolicyDocument, Section
from tollhouse.policy.loader import PolicyLoader

DOCS = Path(__file__).parents[2] / "docs" / "policies.md"


def errors_in(section: str, snippet: str, **options: object) -> list[str]:
    """Errors of a document holding ``snippet`` from line 3, column 1."""
    document = f"<policies>\n<{section}>\n{snippet}\n</{section}>\n</policies>\n"
    try:
        PolicyLoader(**options).parse(document, source="p.xml", scope="api")  # type: ignore[arg-type]
    except InvalidPolicyDocument as exc:
        return [str(error).removeprefix("p.xml:") for error in exc.errors]
    return []


ERRORS = [
    # Unknown and misplaced policies
    (
        "inbound",
        '<set-heder name="a" />',
        ["3:1: unknown policy <set-heder>; did you mean <set-header>?"],
    ),
    (
        "inbound",
        '<rate-limit calls="1" renewal-period="1" />',
        ["3:1: <rate-limit> is an APIM policy that Tollhouse does not support yet"],
    ),
    (
        "outbound",
        '<ip-filter action="allow"><address>10.0.0.1</address></ip-filter>',
        [
            "3:1: <ip-filter> is not allowed in the outbound section "
            "(APIM allows it in: inbound)"
        ],
    ),
    (
        "inbound",
        "<forward-request />",
        [
            "3:1: <forward-request> is not allowed in the inbound section "
            "(APIM allows it in: backend)"
        ],
    ),
    (
        "on-error",
        '<trace source="x"><message>m</message></trace>',
        [
            "3:1: <trace> is not allowed in the on-error section "
            "(APIM allows it in: inbound, backend, outbound)"
        ],
    ),
    (
        "outbound",
        '<choose><when condition="true"><rewrite-uri template="/x" /></when></choose>',
        [
            "3:32: <rewrite-uri> is not allowed in the outbound section "
            "(APIM allows it in: inbound)"
        ],
    ),
    (
        "inbound",
        '<choose><when condition="true"><base /></when></choose>\n<base />\n<base />',
        [
            "3:32: <base /> can only stand directly in a section",
            "5:1: <base /> appears more than once in this section",
        ],
    ),
    # Attributes
    (
        "inbound",
        '<set-variable name="x" />',
        ["3:1: <set-variable> needs the attribute 'value'"],
    ),
    (
        "inbound",
        '<set-header name="a" exist-action="skip" />',
        [
            "3:22: <set-header> has no attribute 'exist-action'; "
            "did you mean 'exists-action'?"
        ],
    ),
    ("inbound", '<base x="1" />', ["3:7: <base> has no attribute 'x'"]),
    (
        "inbound",
        '<ip-filter action="allow"><address id="a">10.0.0.1</address></ip-filter>',
        ["3:36: <address> has no attribute 'id' (it takes none)"],
    ),
    (
        "inbound",
        '<set-backend-service base-url="https://a.example" sf-partition-key="k" />',
        [
            "3:51: 'sf-partition-key' is not supported: "
            "Service Fabric backends are not supported by Tollhouse"
        ],
    ),
    # ip-filter
    (
        "inbound",
        '<ip-filter action="deny"><address>10.0.0.1</address></ip-filter>',
        ["3:20: 'deny' is not allow or forbid"],
    ),
    (
        "inbound",
        '<ip-filter action="allow"><address> 10.0.0 </address></ip-filter>',
        ["3:37: '10.0.0' is not an IP address"],
    ),
    (
        "inbound",
        '<ip-filter action="allow">\n<address-range from="10.0.0.9" to="10.0.0.1" />'
        '\n<address-range from="10.0.0.1" to="::1" />\n</ip-filter>',
        [
            "4:22: '10.0.0.9' is above the end of the range '10.0.0.1'",
            "5:22: '10.0.0.1' and '::1' are not the same IP version",
        ],
    ),
    (
        "inbound",
        '<ip-filter action="allow" />',
        ["3:1: <ip-filter> needs at least one <address> or <address-range>"],
    ),
    (
        "inbound",
        '<ip-filter action="allow">'
        '<address-range from="@(x)" to="10.0.0.1" /></ip-filter>',
        ["3:48: 'from' of <address-range> does not take a policy expression"],
    ),
    (
        "inbound",
        '<ip-filter action="allow"><address-range to="10.0.0.1" /></ip-filter>',
        ["3:27: <address-range> needs the attribute 'from'"],
    ),
    (
        "inbound",
        '<ip-filter action="allow"><address /></ip-filter>',
        ["3:27: <address> needs a value"],
    ),
    # Statuses, headers, query parameters
    (
        "outbound",
        '<set-status code="700" reason="x" />\n<set-status code="abc" reason="x" />',
        [
            "3:19: '700' is not an HTTP status code from 200 to 599",
            "4:19: 'abc' is not an HTTP status code",
        ],
    ),
    # A constant HTTP would refuse on the wire: a line break in a value (as
    # written, or as a character reference), in a reason, in a content type.
    (
        "outbound",
        '<set-header name="a"><value>one\ntwo</value>'
        "<value>x&#13;&#10;Injected: 1</value></set-header>\n"
        '<set-status code="200" reason="OK&#10;" />\n'
        '<mock-response content-type="text/plain&#127;" />',
        [
            "3:29: 'one\\ntwo' holds a control character HTTP does not allow (U+000A)",
            "4:19: 'x\\r\\nInjected: 1' holds a control character HTTP does not "
            "allow (U+000D)",
            "5:32: 'OK\\n' holds a control character HTTP does not allow (U+000A)",
            "6:30: 'text/plain\\x7f' holds a control character HTTP does not "
            "allow (U+007F)",
        ],
    ),
    (
        "outbound",
        '<set-header name="bad name" exists-action="replace" />',
        [
            "3:19: 'bad name' is not a header name",
            "3:44: 'replace' is not override, skip, append or delete",
        ],
    ),
    (
        "inbound",
        '<set-query-parameter name="a" />\n'
        '<set-query-parameter name="b" exists-action="delete" />',
        [
            "3:1: <set-query-parameter> needs at least one <value> unless "
            'exists-action is "delete"'
        ],
    ),
    (
        "inbound",
        '<set-header name="a"><value>1</value><values>2</values></set-header>',
        ["3:38: <set-header> cannot contain <values> (it holds <value>)"],
    ),
    (
        "inbound",
        '<check-header name="Authorization" failed-check-httpcode="401" '
        'failed-check-error-message="Not authorized" />',
        ["3:1: <check-header> needs the attribute 'ignore-case'"],
    ),
    # Backends and forwarding
    (
        "backend",
        '<forward-request timeout="300" buffer-response="yes" '
        'fail-on-error-status-code="@(true)" />',
        [
            "3:27: '300' is not an integer from 0 to 240",
            "3:49: 'yes' is not a boolean (true or false)",
            "3:81: 'fail-on-error-status-code' of <forward-request> does not take "
            "a policy expression",
        ],
    ),
    (
        "backend",
        '<forward-request timeout="10" timeout-ms="1000" http-version="2" />',
        [
            "3:43: give timeout or timeout-ms, not both",
            "3:63: '2' is not 1 or 2or1",
        ],
    ),
    (
        "inbound",
        "<set-backend-service />\n"
        '<set-backend-service base-url="ftp://a.example" />\n'
        '<set-backend-service base-url="http://a" backend-id="b" />',
        [
            "3:1: <set-backend-service> needs base-url or backend-id",
            "4:32: 'ftp://a.example' is not an absolute http:// or https:// URL",
            "5:54: give base-url or backend-id, not both",
        ],
    ),
    # Control flow
    (
        "inbound",
        "<choose />",
        ["3:1: <choose> needs at least one <when>"],
    ),
    (
        "inbound",
        '<choose><otherwise /><when condition="maybe" /><otherwise /></choose>',
        [
            "3:9: <otherwise> must come after every <when>",
            "3:39: 'maybe' is not a boolean (true or false)",
            "3:48: <choose> takes one <otherwise>",
        ],
    ),
    (
        "inbound",
        "<choose><when>text</when></choose>",
        [
            "3:9: <when> needs the attribute 'condition'",
            "3:15: <when> does not hold text",
        ],
    ),
    (
        "outbound",
        '<retry condition="true" count="3" interval="10" max-interval="5" />',
        [
            "3:1: <retry> needs at least one policy inside",
            "3:63: '5' is below the interval 10",
        ],
    ),
    (
        "outbound",
        '<retry condition="true" count="-1" interval="1"><set-status code="500" '
        'reason="x" /></retry>',
        ["3:32: '-1' is not an integer from 0 to 2147483647"],
    ),
    # Bodies, responses, methods
    (
        "outbound",
        '<set-body template="liquid">{{body.name}}</set-body>',
        [
            "3:11: 'template' is not supported: "
            "Liquid templates are not supported by Tollhouse yet"
        ],
    ),
    (
        "outbound",
        "<set-body><soap:Envelope /></set-body>",
        ["3:11: <set-body> does not hold elements, found <soap:Envelope>"],
    ),
    (
        "on-error",
        '<return-response><set-status code="500" reason="a" />'
        '<set-status code="501" reason="b" /><foo /></return-response>',
        [
            "3:54: <return-response> takes one <set-status>",
            "3:90: <return-response> cannot contain <foo> "
            "(it holds <set-status>, <set-header>, <set-body>)",
        ],
    ),
    (
        "inbound",
        "<set-method>GE T</set-method>\n<set-method> </set-method>",
        ["3:13: 'GE T' is not an HTTP method", "4:1: <set-method> needs a value"],
    ),
    (
        "inbound",
        '<mock-response status-code="@(200)" />',
        ["3:29: 'status-code' of <mock-response> does not take a policy expression"],
    ),
    # CORS and trace
    (
        "inbound",
        '<cors allow-credentials="true"><allowed-origins><origin>*</origin>'
        "<origin>https://a.example</origin></allowed-origins></cors>",
        [
            "3:1: <cors> needs a <allowed-headers>",
            "3:57: '*' allows every origin and must stand alone",
            "3:57: '*' cannot be an allowed origin when allow-credentials is true",
        ],
    ),
    (
        "inbound",
        "<cors><allowed-origins><origin>example.com</origin></allowed-origins>"
        "<allowed-headers /></cors>",
        [
            "3:32: 'example.com' is not '*' or an origin such as https://example.com",
            "3:70: <allowed-headers> needs at least one <header>",
        ],
    ),
    (
        "inbound",
        '<trace source="a" severity="debug" />',
        [
            "3:1: <trace> needs a <message>",
            "3:29: 'debug' is not verbose, information or error",
        ],
    ),
    # The document itself
    (
        "inbound",
        "loose text",
        ["3:1: <inbound> does not hold text"],
    ),
    (
        "inbound",
        '<include-fragment fragment-id="common" />',
        ["3:32: 'common' is not a known fragment (known: none)"],
    ),
]


@pytest.mark.parametrize(
    ("section", "snippet", "expected"),
    ERRORS,
    ids=[f"{i}-{case[1][1:20].split()[0]}" for i, case in enumerate(ERRORS)],
)
def test_errors_name_the_problem_and_its_place(
    section: str, snippet: str, expected: list[str]
) -> None:
    assert errors_in(section, snippet) == expected


VALID = [
    ("inbound", '<set-status code="@(418)" reason="@("I\'m a teapot")" />'),
    (
        "inbound",
        '<ip-filter action="@("allow")" id="office"><address>::1</address></ip-filter>',
    ),
    ("inbound", '<set-query-parameter name="b" exists-action="Delete" />'),
    ("backend", '<forward-request timeout="0" buffer-response="FALSE" />'),
    ("on-error", "<set-method>POST</set-method>"),
    ("on-error", '<mock-response status-code="503" content-type="application/json" />'),
    ("outbound", '<choose><when condition="false" /><otherwise /></choose>'),
]


@pytest.mark.parametrize(("section", "snippet"), VALID)
def test_valid_policies_load(section: str, snippet: str) -> None:
    assert errors_in(section, snippet) == []


def test_every_error_of_a_document_is_reported_in_order() -> None:
    snippet = (
        '<set-status code="1" reason="x" />\n'
        "<unknown />\n"
        '<ip-filter action="allow"><address>x</address></ip-filter>'
    )

    assert errors_in("inbound", snippet) == [
        "3:19: '1' is not an HTTP status code from 200 to 599",
        "4:1: unknown policy <unknown>",
        "5:36: 'x' is not an IP address",
    ]


# Kinds --------------------------------------------------------------------

KINDS: list[tuple[Kind, str, object]] = [
    (BOOLEAN, "True", True),
    (BOOLEAN, "false", False),
    (IP_ADDRESS, "2001:db8::1", __import__("ipaddress").ip_address("2001:db8::1")),
    (STATUS_CODE, "403", 403),
    (STATUS_CODE, "200", 200),
    (STATUS_CODE, "599", 599),
    (FIELD_VALUE, "a\tb é", "a\tb é"),
    (MEDIA_TYPE, "application/json", "application/json"),
    (integer(0, 240), "+10", 10),
    (choice("allow", "forbid"), "Allow", "allow"),
    (HTTP_METHOD, "PATCH", "PATCH"),
    (ORIGIN, "*", "*"),
    (ORIGIN, "http://localhost:8080", "http://localhost:8080"),
]


@pytest.mark.parametrize(("kind", "text", "parsed"), KINDS)
def test_kinds_parse_constants(kind: Kind, text: str, parsed: object) -> None:
    assert kind.parse(text) == parsed


KIND_ERRORS: list[tuple[Kind, str, str]] = [
    (BOOLEAN, "1", "is not a boolean (true or false)"),
    (IP_ADDRESS, "010.0.0.1", "is not an IP address"),
    (IP_ADDRESS, "10.0.0.1/8", "is not an IP address"),
    (STATUS_CODE, "99", "is not an HTTP status code from 200 to 599"),
    # 1xx are interim answers: a gateway's answer is final.
    (STATUS_CODE, "101", "is not an HTTP status code from 200 to 599"),
    (FIELD_VALUE, "a\r\nb", "holds a control character HTTP does not allow (U+000D)"),
    (FIELD_VALUE, "a\x7f", "holds a control character HTTP does not allow (U+007F)"),
    (MEDIA_TYPE, " ", "is empty"),
    (integer(0, 240), "1.5", "is not an integer"),
    (integer(0, 240), "12345678901", "is not an integer"),
]


@pytest.mark.parametrize(("kind", "text", "reason"), KIND_ERRORS)
def test_kinds_refuse_bad_constants(kind: Kind, text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        kind.parse(text)


# Sections -----------------------------------------------------------------

SECTIONS = {
    "base": "inbound backend outbound on-error",
    "ip-filter": "inbound",
    "set-backend-service": "inbound backend",
    "forward-request": "backend",
    "return-response": "inbound backend outbound on-error",
    "set-status": "inbound backend outbound on-error",
    "set-header": "inbound backend outbound on-error",
    "set-query-parameter": "inbound backend",
    "set-body": "inbound backend outbound",
    "rewrite-uri": "inbound",
    "set-variable": "inbound backend outbound on-error",
    "set-method": "inbound on-error",
    "choose": "inbound backend outbound on-error",
    "check-header": "inbound",
    "cors": "inbound",
    "mock-response": "inbound outbound on-error",
    "retry": "inbound backend outbound on-error",
    "trace": "inbound backend outbound",
    "authentication-managed-identity": "inbound",
    "include-fragment": "inbound backend outbound on-error",
}


def test_each_policy_is_allowed_where_apim_allows_it() -> None:
    assert {
        name: " ".join(s for s in Section if s in spec.sections)
        for name, spec in POLICIES.items()
    } == SECTIONS


# Documentation ------------------------------------------------------------


def _parts(spec: ElementSpec) -> list[ElementSpec]:
    """The element and its parts; a part that is a policy has its own heading."""
    found = [spec]
    for child in spec.children:
        if child.spec.policy:
            found.append(child.spec)
        else:
            found.extend(_parts(child.spec))
    return found


def test_the_docs_describe_every_policy_and_attribute() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    headings = re.findall(r"^## `([a-z-]+)`", docs, flags=re.MULTILINE)

    assert headings == list(POLICIES)
    for name, spec in POLICIES.items():
        section = docs.split(f"## `{name}`", 1)[1].split("\n## ", 1)[0]
        for part in _parts(spec):
            assert part is spec or f"`{part.name}`" in section, (name, part.name)
            if part.policy and part is not spec:
                continue
            for attribute in part.attributes:
                assert f"`{attribute.name}`" in section, (name, attribute.name)
        sections = ", ".join(s for s in Section if s in spec.sections)
        assert f"Sections: {sections}." in section, name
