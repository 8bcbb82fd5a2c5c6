"""The ``context`` object model: which C# member reads which Python attribute.

This is the only place that maps APIM's names (``context.Request.Headers``)
to the attributes of `tollhouse.policy.context` (``context.request.headers``).
A member missing here does not exist for expressions.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

from ..context import (
    Api,
    Body,
    Deployment,
    LastError,
    Operation,
    PolicyContext,
    Product,
    Request,
    Response,
    Subscription,
    Url,
    User,
)
from . import jtoken
from .lib_collections import DICTIONARY, _dict_get
from .lib_common import method, prop, with_common
from .runtime import Evaluation, fail
from .types import CsType, Indexer

_BODY_TYPES = ("string", "JObject", "JArray", "JToken", "byte[]")


def _model(
    name: str, cls: type, properties: dict[str, tuple[str, str | None]]
) -> CsType:
    """A read-only model type; ``properties`` maps C# names to (attribute, type)."""
    table = {cs: prop(_getter(attr), kind) for cs, (attr, kind) in properties.items()}
    return with_common(
        CsType(name, f"Tollhouse.Context.{name}", lambda v: isinstance(v, cls), table)
    )


def _getter(attribute: str) -> Callable[[object], object]:
    # The attribute names are the constants of the tables below, never input.
    return operator.attrgetter(attribute)


def check_body_type(target: CsType | None, args: list[object]) -> None:
    """Load-time check of ``As<T>``'s type argument."""
    if target is None:
        fail("As needs a type argument, as in As<JObject>(preserveContent: true)")
    if target.name not in _BODY_TYPES:
        fail(f"As<{target.name}> is not supported; use one of {', '.join(_BODY_TYPES)}")


def _read_body(
    ev: Evaluation, body: Body, target: CsType | None, preserve: object = False
) -> object:
    check_body_type(target, [])
    assert target is not None
    content = body.read(preserve=preserve is True)
    ev.charge(len(content))
    if target.name == "byte[]":
        return content
    text = content.decode("utf-8-sig", errors="replace")
    if target.name == "string":
        return text
    if not text.strip():
        return None
    token = jtoken.parse(text)
    if not target.test(token):
        fail(
            f"Error reading {target.name} from JsonReader: "
            f"the body holds {token.token_type()}."
        )
    return token


URL = _model(
    "IUrl",
    Url,
    {
        "Scheme": ("scheme", "string"),
        "Host": ("host", "string"),
        "Port": ("port", "int"),
        "Path": ("path", "string"),
        "Query": ("query", "IReadOnlyDictionary<string, string[]>"),
        "QueryString": ("query_string", "string"),
    },
)
BODY = with_common(
    CsType(
        "IMessageBody",
        "Tollhouse.Context.IMessageBody",
        lambda v: isinstance(v, Body),
        methods={
            "As": method(
                _read_body,
                "preserveContent",
                required=0,
                generic=True,
                budget=True,
                returns="T",
                check=check_body_type,
            ),
        },
    )
)
MATCHED_PARAMETERS = DICTIONARY.variant(
    name="IReadOnlyDictionary<string, string>", indexer=Indexer(_dict_get, "string")
)
REQUEST = _model(
    "IRequest",
    Request,
    {
        "Method": ("method", "string"),
        "Url": ("url", "IUrl"),
        "OriginalUrl": ("original_url", "IUrl"),
        "IpAddress": ("ip_address", "string"),
        "Headers": ("headers", "IReadOnlyDictionary<string, string[]>"),
        "MatchedParameters": (
            "matched_parameters",
            "IReadOnlyDictionary<string, string>",
        ),
        "Body": ("body", "IMessageBody"),
    },
)
REQUEST.properties["Certificate"] = prop(lambda _: None)
RESPONSE = _model(
    "IResponse",
    Response,
    {
        "StatusCode": ("status_code", "int"),
        "StatusReason": ("status_reason", "string"),
        "Headers": ("headers", "IReadOnlyDictionary<string, string[]>"),
        "Body": ("body", "IMessageBody"),
    },
)
SUBSCRIPTION = _model(
    "ISubscription",
    Subscription,
    {
        "Id": ("id", "string"),
        "Key": ("key", "string"),
        "Name": ("name", "string"),
        "PrimaryKey": ("primary_key", "string"),
        "SecondaryKey": ("secondary_key", "string"),
        "StartDate": ("start_date", "DateTime?"),
        "EndDate": ("end_date", "DateTime?"),
    },
)
PRODUCT = _model(
    "IProduct", Product, {"Id": ("id", "string"), "Name": ("name", "string")}
)
API = _model(
    "IApi",
    Api,
    {
        "Id": ("id", "string"),
        "Name": ("name", "string"),
        "Path": ("path", "string"),
        "Protocols": ("protocols", "string[]"),
        "ServiceUrl": ("service_url", "IUrl"),
        "Version": ("version", "string"),
    },
)
OPERATION = _model(
    "IOperation",
    Operation,
    {
        "Id": ("id", "string"),
        "Method": ("method", "string"),
        "Name": ("name", "string"),
        "UrlTemplate": ("url_template", "string"),
    },
)
USER = _model(
    "IUser",
    User,
    {
        "Id": ("id", "string"),
        "Email": ("email", "string"),
        "FirstName": ("first_name", "string"),
        "LastName": ("last_name", "string"),
    },
)
DEPLOYMENT = _model(
    "IDeployment",
    Deployment,
    {
        "Region": ("region", "string"),
        "ServiceName": ("service_name", "string"),
        "GatewayId": ("gateway_id", "string"),
    },
)
LAST_ERROR = _model(
    "ILastError",
    LastError,
    {
        "Source": ("source", "string"),
        "Reason": ("reason", "string"),
        "Message": ("message", "string"),
        "Scope": ("scope", "string"),
        "Section": ("section", "string"),
        "Path": ("path", "string"),
        "PolicyId": ("policy_id", "string"),
    },
)
CONTEXT = _model(
    "IProxyRequestContext",
    PolicyContext,
    {
        "Request": ("request", "IRequest"),
        "Response": ("response", "IResponse"),
        "Subscription": ("subscription", "ISubscription"),
        "Product": ("product", "IProduct"),
        "Api": ("api", "IApi"),
        "Operation": ("operation", "IOperation"),
        "User": ("user", "IUser"),
        "Deployment": ("deployment", "IDeployment"),
        "Variables": ("variables", "IReadOnlyDictionary<string, object>"),
        "RequestId": ("request_id", "Guid"),
        "Timestamp": ("timestamp", "DateTime"),
        "Elapsed": ("elapsed", "TimeSpan"),
        "LastError": ("last_error", "ILastError"),
    },
)
CONTEXT.properties["Tracing"] = prop(lambda _: False, "bool")
VARIABLES = DICTIONARY.variant(name="IReadOnlyDictionary<string, object>")

TYPES = [
    URL,
    BODY,
    MATCHED_PARAMETERS,
    VARIABLES,
    REQUEST,
    RESPONSE,
    SUBSCRIPTION,
    PRODUCT,
    API,
    OPERATION,
    USER,
    DEPLOYMENT,
    LAST_ERROR,
    CONTEXT,
]
