"""The policies Tollhouse knows, each declared once.

For every policy element this module says where APIM allows it (its
sections), which attributes it takes (type, whether required, whether a policy
expression may stand in for the value, the documented default), whether it
holds text, which child elements it holds and how many, and the rules that
tie its values together (an ``address-range`` must not run backwards).  The
loader checks documents against these declarations and ``docs/policies.md``
describes them; a test fails when the two disagree.

The facts follow Microsoft's policy reference ("Usage: policy sections" and
the attribute tables of each policy).
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field

from .document import Element, Section
from .xml import Position

Problem = tuple[str, Position]
"""A rule's finding: the message and where it points."""


@dataclass(frozen=True)
class Kind:
    """A type of value: how the docs name it and how a constant is checked.

    ``parse`` returns the constant the engine uses (an ``int``, ``bool``, ...)
    or raises ``ValueError`` with a reason that follows the quoted value, as in
    ``'abc' is not an IP address``.
    """

    description: str
    parse: Callable[[str], object]


@dataclass(frozen=True)
class AttributeSpec:
    """One attribute of an element.

    ``unsupported`` names why Tollhouse refuses an attribute APIM knows.
    """

    name: str
    kind: Kind
    required: bool = False
    expressions: bool = False
    default: object = None
    unsupported: str = ""


@dataclass(frozen=True)
class TextSpec:
    """The text an element holds."""

    kind: Kind
    expressions: bool = False
    required: bool = False


@dataclass(frozen=True)
class ChildSpec:
    """A child element and how many times it may appear."""

    spec: ElementSpec
    least: int = 0
    most: int | None = None


@dataclass(frozen=True)
class RuleContext:
    """What a rule may consult beyond the element: the gateway's backends."""

    backends: Collection[str] | None = None


Rule = Callable[[Element, RuleContext], Iterator[Problem]]


@dataclass(frozen=True)
class ElementSpec:
    """One element: a policy (``policy``) or a part of one.

    ``holds_policies`` marks containers of other policies (``when``,
    ``otherwise``, ``retry``); ``children`` lists the fixed parts of the
    others.  ``sections`` matters for policies only.
    """

    name: str
    summary: str
    attributes: tuple[AttributeSpec, ...] = ()
    text: TextSpec | None = None
    children: tuple[ChildSpec, ...] = ()
    holds_policies: bool = False
    policy: bool = False
    sections: frozenset[Section] = frozenset(Section)
    rules: tuple[Rule, ...] = ()
    attribute_map: Mapping[str, AttributeSpec] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        known = {a.name: a for a in self.attributes}
        if self.policy:
            known.setdefault(POLICY_ID.name, POLICY_ID)
        object.__setattr__(self, "attribute_map", known)

    def child(self, name: str) -> ChildSpec | None:
        return next((c for c in self.children if c.spec.name == name), None)


# Kinds --------------------------------------------------------------------

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# What RFC 9110 (5.5) and aiohttp refuse in a header value or a reason
# phrase: control characters but tab, and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _any_text(value: str) -> str:
    return value


def _name(value: str) -> str:
    if not value.strip():
        raise ValueError("is empty")
    return value


def _boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise ValueError("is not a boolean (true or false)")
    return lowered == "true"


def integer(low: int, high: int, what: str = "") -> Kind:
    """Whole numbers from ``low`` to ``high``."""

    def parse(value: str) -> int:
        if not re.fullmatch(r"[+-]?[0-9]{1,10}", value):
            raise ValueError(f"is not {what or 'an integer'}")
        number = int(value)
        if not low <= number <= high:
            raise ValueError(f"is not {what or 'an integer'} from {low} to {high}")
        return number

    if high >= 2**31 - 1:
        return Kind(f"integer, at least {low}", parse)
    return Kind(f"integer {low}-{high}", parse)


def choice(*names: str) -> Kind:
    """One of ``names``, compared without regard to case."""
    listed = ", ".join(names[:-1]) + f" or {names[-1]}"

    def parse(value: str) -> str:
        if value.lower() not in names:
            raise ValueError(f"is not {listed}")
        return value.lower()

    return Kind(f"one of {', '.join(names)}", parse)


def is_header_name(value: str) -> bool:
    """True when ``value`` may name an HTTP header (an RFC 9110 token)."""
    return _TOKEN.fullmatch(value) is not None


def control_character(value: str) -> str | None:
    """The first character HTTP refuses in a header value, as ``U+000D``; or None.

    The same characters are refused in a status line's reason phrase.
    """
    found = _CONTROL.search(value)
    return None if found is None else f"U+{ord(found.group()):04X}"


def _field_value(value: str) -> str:
    found = control_character(value)
    if found is not None:
        raise ValueError(f"holds a control character HTTP does not allow ({found})")
    return value


def _media_type(value: str) -> str:
    return _field_value(_name(value))


def _ip_address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise ValueError("is not an IP address") from None


def _http_url(value: str) -> str:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("is not an absolute http:// or https:// URL")
    return value


def _token(what: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if not _TOKEN.fullmatch(value):
            raise ValueError(f"is not {what}")
        return value

    return parse


def _origin(value: str) -> str:
    if value == "*":
        return value
    parts = urllib.parse.urlsplit(value)
    if not parts.scheme or not parts.netloc:
        raise ValueError("is not '*' or an origin such as https://example.com")
    return value


TEXT = Kind("text", _any_text)
NAME = Kind("non-empty text", _name)
BOOLEAN = Kind("true or false", _boolean)
IP_ADDRESS = Kind("IPv4 or IPv6 address", _ip_address)
HTTP_URL = Kind("absolute http(s) URL", _http_url)
HTTP_METHOD = Kind("HTTP method", _token("an HTTP method"))
HEADER_NAME = Kind("header name", _token("a header name"))
ORIGIN = Kind("'*' or origin URL", _origin)
FIELD_VALUE = Kind("text without control characters", _field_value)
MEDIA_TYPE = Kind("media type", _media_type)
FINAL_STATUSES = range(200, 600)
"""The statuses a gateway may answer with: 1xx are interim, never final."""
STATUS_CODE = integer(FINAL_STATUSES[0], FINAL_STATUSES[-1], "an HTTP status code")
SECONDS = integer(0, 2**31 - 1)

POLICY_ID = AttributeSpec("id", NAME)
"""Every policy may carry an ``id``; APIM shows it as ``LastError.PolicyId``."""


# Rules --------------------------------------------------------------------


def _constant(element: Element, name: str) -> object:
    value = element.attribute(name)
    return None if value is None or value.is_expression else value.parsed


def _needs_an_address(element: Element, context: RuleContext) -> Iterator[Problem]:
    if not element.children:
        yield (
            "<ip-filter> needs at least one <address> or <address-range>",
            element.position,
        )


def _range_in_order(element: Element, context: RuleContext) -> Iterator[Problem]:
    low, high = element.attribute("from"), element.attribute("to")
    if low is None or high is None:
        return
    first, last = low.parsed, high.parsed
    if not isinstance(first, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return
    if not isinstance(last, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return
    if first.version != last.version:
        yield (
            f"{low.shown!r} and {high.shown!r} are not the same IP version",
            low.position,
        )
    elif int(first) > int(last):
        yield (
            f"{low.shown!r} is above the end of the range {high.shown!r}",
            low.position,
        )


def _one_backend(element: Element, context: RuleContext) -> Iterator[Problem]:
    url, backend = element.attribute("base-url"), element.attribute("backend-id")
    if url is None and backend is None:
        yield ("<set-backend-service> needs base-url or backend-id", element.position)
    elif url is not None and backend is not None:
        later = max(url, backend, key=lambda v: v.position)
        yield ("give base-url or backend-id, not both", later.position)
    elif backend is not None and context.backends is not None:
        name = backend.parsed
        if isinstance(name, str) and name not in context.backends:
            known = ", ".join(sorted(context.backends)) or "none"
            yield (
                f"{backend.shown!r} is not a backend of this gateway (known: {known})",
                backend.position,
            )


def _one_timeout(element: Element, context: RuleContext) -> Iterator[Problem]:
    seconds, millis = element.attribute("timeout"), element.attribute("timeout-ms")
    if seconds is not None and millis is not None:
        later = max(seconds, millis, key=lambda v: v.position)
        yield ("give timeout or timeout-ms, not both", later.position)


def _value_unless_deleting(element: Element, context: RuleContext) -> Iterator[Problem]:
    action = element.attribute("exists-action")
    deleting = action is not None and action.parsed == "delete"
    if not deleting and not element.children_named("value"):
        yield (
            f"<{element.name}> needs at least one <value> unless "
            'exists-action is "delete"',
            element.position,
        )


def _otherwise_last(element: Element, context: RuleContext) -> Iterator[Problem]:
    names = [child.name for child in element.children]
    if "otherwise" in names and names[-1] != "otherwise":
        where = element.children[names.index("otherwise")].position
        yield ("<otherwise> must come after every <when>", where)


def _origins(element: Element, context: RuleContext) -> Iterator[Problem]:
    origins = [o.text for o in element.children_named("origin") if o.text]
    wildcard = next((v for v in origins if v.parsed == "*"), None)
    if wildcard is not None and len(origins) > 1:
        yield ("'*' allows every origin and must stand alone", wildcard.position)


def _credentials(element: Element, context: RuleContext) -> Iterator[Problem]:
    if _constant(element, "allow-credentials") is not True:
        return
    for group in element.children_named("allowed-origins"):
        for origin in group.children_named("origin"):
            if origin.text is not None and origin.text.parsed == "*":
                yield (
                    "'*' cannot be an allowed origin when allow-credentials is true",
                    origin.text.position,
                )


def _interval_bounds(element: Element, context: RuleContext) -> Iterator[Problem]:
    interval = _constant(element, "interval")
    longest = element.attribute("max-interval")
    if longest is None or not isinstance(interval, int):
        return
    if isinstance(longest.parsed, int) and longest.parsed < interval:
        yield (f"{longest.shown!r} is below the interval {interval}", longest.position)


def _holds_a_policy(element: Element, context: RuleContext) -> Iterator[Problem]:
    if not element.children:
        yield (f"<{element.name}> needs at least one policy inside", element.position)


# The elements -------------------------------------------------------------

INBOUND = frozenset({Section.INBOUND})
INBOUND_BACKEND = frozenset({Section.INBOUND, Section.BACKEND})
NOT_ON_ERROR = frozenset({Section.INBOUND, Section.BACKEND, Section.OUTBOUND})
EVERYWHERE = frozenset(Section)


def _exists_action(*, default: str) -> AttributeSpec:
    kind = choice("override", "skip", "append", "delete")
    return AttributeSpec("exists-action", kind, expressions=True, default=default)


VALUE = ElementSpec(
    "value", "A value; several give several values.", text=TextSpec(TEXT, True)
)
HEADER_VALUE = ElementSpec(
    "value",
    "A value of the header; several give several values.",
    text=TextSpec(FIELD_VALUE, True),
)

BASE = ElementSpec(
    "base",
    "Runs the parent scope's policies of this section at this point.",
    policy=True,
)

ADDRESS = ElementSpec(
    "address", "One caller address.", text=TextSpec(IP_ADDRESS, True, True)
)
ADDRESS_RANGE = ElementSpec(
    "address-range",
    "Caller addresses from `from` to `to`, both included.",
    attributes=(
        AttributeSpec("from", IP_ADDRESS, required=True),
        AttributeSpec("to", IP_ADDRESS, required=True),
    ),
    rules=(_range_in_order,),
)
IP_FILTER = ElementSpec(
    "ip-filter",
    "Admits (allow) or refuses (forbid) callers by address.",
    attributes=(
        AttributeSpec(
            "action", choice("allow", "forbid"), required=True, expressions=True
        ),
    ),
    children=(ChildSpec(ADDRESS), ChildSpec(ADDRESS_RANGE)),
    policy=True,
    sections=INBOUND,
    rules=(_needs_an_address,),
)

_SERVICE_FABRIC = "Service Fabric backends are not supported by Tollhouse"
SET_BACKEND_SERVICE = ElementSpec(
    "set-backend-service",
    "Sends the request to another backend (by id) or base URL.",
    attributes=(
        AttributeSpec("base-url", HTTP_URL, expressions=True),
        AttributeSpec("backend-id", NAME, expressions=True),
        *(
            AttributeSpec(name, TEXT, unsupported=_SERVICE_FABRIC)
            for name in (
                "sf-resolve-condition",
                "sf-service-instance-name",
                "sf-partition-key",
                "sf-replica-type",
                "sf-listener-name",
            )
        ),
    ),
    policy=True,
    sections=INBOUND_BACKEND,
    rules=(_one_backend,),
)

FORWARD_REQUEST = ElementSpec(
    "forward-request",
    "Sends the request to the backend and waits for its response.",
    attributes=(
        AttributeSpec("timeout", integer(0, 240), expressions=True),
        AttributeSpec("timeout-ms", integer(0, 240_000), expressions=True),
        AttributeSpec("continue-timeout", integer(0, 240), expressions=True),
        AttributeSpec("http-version", choice("1", "2or1"), default="1"),
        AttributeSpec("follow-redirects", BOOLEAN, expressions=True, default=False),
        AttributeSpec("buffer-request-body", BOOLEAN, default=False),
        AttributeSpec("buffer-response", BOOLEAN, default=True),
        AttributeSpec("fail-on-error-status-code", BOOLEAN, default=False),
    ),
    policy=True,
    sections=frozenset({Section.BACKEND}),
    rules=(_one_timeout,),
)

SET_STATUS = ElementSpec(
    "set-status",
    "Sets the response status code and reason.",
    attributes=(
        AttributeSpec("code", STATUS_CODE, required=True, expressions=True),
        AttributeSpec("reason", FIELD_VALUE, required=True, expressions=True),
    ),
    policy=True,
)

SET_HEADER = ElementSpec(
    "set-header",
    "Sets, appends to, skips or deletes a request or response header.",
    attributes=(
        AttributeSpec("name", HEADER_NAME, required=True, expressions=True),
        _exists_action(default="override"),
    ),
    children=(ChildSpec(HEADER_VALUE),),
    policy=True,
)

SET_QUERY_PARAMETER = ElementSpec(
    "set-query-parameter",
    "Sets, appends to, skips or deletes a query parameter of the request.",
    attributes=(
        AttributeSpec("name", NAME, required=True, expressions=True),
        _exists_action(default="override"),
    ),
    children=(ChildSpec(VALUE),),
    policy=True,
    sections=INBOUND_BACKEND,
    rules=(_value_unless_deleting,),
)

SET_BODY = ElementSpec(
    "set-body",
    "Replaces the request or response body.",
    attributes=(
        AttributeSpec(
            "template",
            TEXT,
            unsupported="Liquid templates are not supported by Tollhouse yet",
        ),
        AttributeSpec("xsi-nil", choice("blank", "null"), default="blank"),
        AttributeSpec("parse-date", BOOLEAN, default=True),
    ),
    text=TextSpec(TEXT, True),
    policy=True,
    sections=NOT_ON_ERROR,
)

RETURN_RESPONSE = ElementSpec(
    "return-response",
    "Ends the pipeline and answers the caller with the response built inside.",
    attributes=(AttributeSpec("response-variable-name", NAME),),
    children=(
        ChildSpec(SET_STATUS, most=1),
        ChildSpec(SET_HEADER),
        ChildSpec(SET_BODY, most=1),
    ),
    policy=True,
)

REWRITE_URI = ElementSpec(
    "rewrite-uri",
    "Rewrites the path and query sent to the backend.",
    attributes=(
        AttributeSpec("template", NAME, required=True, expressions=True),
        AttributeSpec("copy-unmatched-params", BOOLEAN, expressions=True, default=True),
    ),
    policy=True,
    sections=INBOUND,
)

SET_VARIABLE = ElementSpec(
    "set-variable",
    "Stores a value in context.Variables.",
    attributes=(
        AttributeSpec("name", NAME, required=True),
        AttributeSpec("value", TEXT, required=True, expressions=True),
    ),
    policy=True,
)

SET_METHOD = ElementSpec(
    "set-method",
    "Changes the request method.",
    text=TextSpec(HTTP_METHOD, True, True),
    policy=True,
    sections=frozenset({Section.INBOUND, Section.ON_ERROR}),
)

WHEN = ElementSpec(
    "when",
    "Runs its policies when `condition` is true (the first such `when` only).",
    attributes=(AttributeSpec("condition", BOOLEAN, required=True, expressions=True),),
    holds_policies=True,
)
OTHERWISE = ElementSpec(
    "otherwise", "Runs its policies when no `when` matched.", holds_policies=True
)
CHOOSE = ElementSpec(
    "choose",
    "Runs the policies of the first `when` whose condition holds, else `otherwise`.",
    children=(ChildSpec(WHEN, least=1), ChildSpec(OTHERWISE, most=1)),
    policy=True,
    rules=(_otherwise_last,),
)

ACCEPTED_VALUE = ElementSpec("value", "An accepted value.", text=TextSpec(TEXT))
CHECK_HEADER = ElementSpec(
    "check-header",
    "Refuses requests without a header, or without one of the listed values.",
    attributes=(
        AttributeSpec("name", HEADER_NAME, required=True, expressions=True),
        AttributeSpec(
            "failed-check-httpcode", STATUS_CODE, required=True, expressions=True
        ),
        AttributeSpec(
            "failed-check-error-message", TEXT, required=True, expressions=True
        ),
        AttributeSpec("ignore-case", BOOLEAN, required=True, expressions=True),
    ),
    children=(ChildSpec(ACCEPTED_VALUE),),
    policy=True,
    sections=INBOUND,
)

ORIGIN_ELEMENT = ElementSpec(
    "origin", "An allowed origin.", text=TextSpec(ORIGIN, True)
)
ALLOWED_ORIGINS = ElementSpec(
    "allowed-origins",
    "The origins allowed to call.",
    children=(ChildSpec(ORIGIN_ELEMENT, least=1),),
    rules=(_origins,),
)
ALLOWED_METHODS = ElementSpec(
    "allowed-methods",
    "The methods allowed; without it GET and POST.",
    attributes=(
        AttributeSpec("preflight-result-max-age", SECONDS, expressions=True, default=0),
    ),
    children=(
        ChildSpec(
            ElementSpec(
                "method",
                "An allowed method, or '*'.",
                text=TextSpec(HTTP_METHOD, True, True),
            ),
            least=1,
        ),
    ),
)
_HEADER = ElementSpec(
    "header", "A header name, or '*'.", text=TextSpec(HEADER_NAME, False, True)
)
ALLOWED_HEADERS = ElementSpec(
    "allowed-headers",
    "The request headers allowed.",
    children=(ChildSpec(_HEADER, least=1),),
)
EXPOSE_HEADERS = ElementSpec(
    "expose-headers",
    "The response headers the browser may read.",
    children=(ChildSpec(_HEADER, least=1),),
)
CORS = ElementSpec(
    "cors",
    "Answers CORS preflight requests and adds CORS headers.",
    attributes=(
        AttributeSpec("allow-credentials", BOOLEAN, expressions=True, default=False),
        AttributeSpec(
            "terminate-unmatched-request", BOOLEAN, expressions=True, default=True
        ),
    ),
    children=(
        ChildSpec(ALLOWED_ORIGINS, least=1, most=1),
        ChildSpec(ALLOWED_METHODS, most=1),
        ChildSpec(ALLOWED_HEADERS, least=1, most=1),
        ChildSpec(EXPOSE_HEADERS, most=1),
    ),
    policy=True,
    sections=INBOUND,
    rules=(_credentials,),
)

MOCK_RESPONSE = ElementSpec(
    "mock-response",
    "Ends the pipeline with a sample response instead of calling the backend.",
    attributes=(
        AttributeSpec("status-code", STATUS_CODE, default=200),
        AttributeSpec("content-type", MEDIA_TYPE),
    ),
    policy=True,
    sections=frozenset({Section.INBOUND, Section.OUTBOUND, Section.ON_ERROR}),
)

RETRY = ElementSpec(
    "retry",
    "Runs its policies again while `condition` holds, up to `count` retries.",
    attributes=(
        AttributeSpec("condition", BOOLEAN, required=True, expressions=True),
        AttributeSpec("count", SECONDS, required=True, expressions=True),
        AttributeSpec("interval", SECONDS, required=True, expressions=True),
        AttributeSpec("max-interval", SECONDS, expressions=True),
        AttributeSpec("delta", SECONDS, expressions=True),
        AttributeSpec("first-fast-retry", BOOLEAN, expressions=True, default=False),
    ),
    holds_policies=True,
    policy=True,
    rules=(_interval_bounds, _holds_a_policy),
)

TRACE = ElementSpec(
    "trace",
    "Adds a message to the request trace.",
    attributes=(
        AttributeSpec("source", NAME, required=True),
        AttributeSpec(
            "severity", choice("verbose", "information", "error"), default="verbose"
        ),
    ),
    children=(
        ChildSpec(
            ElementSpec("message", "The message.", text=TextSpec(TEXT, True)),
            least=1,
            most=1,
        ),
        ChildSpec(
            ElementSpec(
                "metadata",
                "A name and value added to the trace.",
                attributes=(
                    AttributeSpec("name", NAME, required=True, expressions=True),
                    AttributeSpec("value", TEXT, required=True, expressions=True),
                ),
            )
        ),
    ),
    policy=True,
    sections=NOT_ON_ERROR,
)

AUTHENTICATION_MANAGED_IDENTITY = ElementSpec(
    "authentication-managed-identity",
    "Authenticates to the backend with an Entra ID token for `resource`.",
    attributes=(
        AttributeSpec("resource", NAME, required=True, expressions=True),
        AttributeSpec("client-id", NAME),
        AttributeSpec("output-token-variable-name", NAME),
        AttributeSpec("ignore-error", BOOLEAN, default=False),
    ),
    policy=True,
    sections=INBOUND,
)

INCLUDE_FRAGMENT = ElementSpec(
    "include-fragment",
    "Inserts the policies of a fragment file at this point.",
    attributes=(AttributeSpec("fragment-id", NAME, required=True),),
    policy=True,
)

POLICIES: Mapping[str, ElementSpec] = {
    spec.name: spec
    for spec in (
        BASE,
        IP_FILTER,
        SET_BACKEND_SERVICE,
        FORWARD_REQUEST,
        RETURN_RESPONSE,
        SET_STATUS,
        SET_HEADER,
        SET_QUERY_PARAMETER,
        SET_BODY,
        REWRITE_URI,
        SET_VARIABLE,
        SET_METHOD,
        CHOOSE,
        CHECK_HEADER,
        CORS,
        MOCK_RESPONSE,
        RETRY,
        TRACE,
        AUTHENTICATION_MANAGED_IDENTITY,
        INCLUDE_FRAGMENT,
    )
}
"""Every policy Tollhouse loads, by element name."""

APIM_ONLY = frozenset(
    {
        "authentication-basic",
        "authentication-certificate",
        "azure-openai-emit-token-metric",
        "azure-openai-semantic-cache-lookup",
        "azure-openai-semantic-cache-store",
        "azure-openai-token-limit",
        "cache-lookup",
        "cache-lookup-value",
        "cache-remove-value",
        "cache-store",
        "cache-store-value",
        "cross-domain",
        "emit-metric",
        "find-and-replace",
        "get-authorization-context",
        "invoke-dapr-binding",
        "json-to-xml",
        "jsonp",
        "limit-concurrency",
        "llm-content-safety",
        "llm-emit-token-metric",
        "llm-semantic-cache-lookup",
        "llm-semantic-cache-store",
        "llm-token-limit",
        "log-to-eventhub",
        "proxy",
        "publish-to-dapr",
        "quota",
        "quota-by-key",
        "rate-limit",
        "rate-limit-by-key",
        "redirect-content-urls",
        "send-one-way-request",
        "send-request",
        "set-graphql-resolver",
        "validate-azure-ad-token",
        "validate-client-certificate",
        "validate-content",
        "validate-graphql-request",
        "validate-headers",
        "validate-jwt",
        "validate-odata-request",
        "validate-parameters",
        "validate-status-code",
        "wait",
        "xml-to-json",
        "xsl-transform",
    }
)
"""APIM policies Tollhouse does not run (yet); named for a clearer error."""
