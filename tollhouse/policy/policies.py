"""The policies: one function per policy element, as APIM runs them.

Each handler takes the run and its element and returns the `Flow`: go on,
or a response is ready.  A refusal raises `PolicyFailure` with APIM's
source, reason and message; `PolicyRun.run_element` places it (scope,
section, path) and the pipeline runs on-error.  `HANDLERS` maps every
policy the loader accepts to its handler; a test keeps the two in step.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

from ..callers import parse_address
from ..errors import BackendError, BackendStatusFailure, PolicyFailure
from .catalogue import control_character, is_header_name
from .context import Body, Headers, Response, Url
from .document import Element, Section, Value
from .engine import Flow, Handler, PolicyRun, expression_failure, reason_phrase
from .samples import sample_body

logger = logging.getLogger(__name__)

_REQUEST_SECTIONS = (Section.INBOUND, Section.BACKEND)
_TEMPLATE_PARAMETER = re.compile(r"\{([^{}]+)\}")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Request headers a preflight may name without the policy listing them.
_SAFELISTED_HEADERS = frozenset({"accept", "accept-language", "content-language"})


# Access and refusal -------------------------------------------------------


async def ip_filter(run: PolicyRun, element: Element) -> Flow:
    caller = parse_address(run.context.request.ip_address)
    listed = caller is not None and _listed(run, element, caller)
    allow = run.attribute_text(element, "action").lower() == "allow"
    if listed == allow:
        return Flow.NEXT
    raise PolicyFailure(
        f"Caller IP address {run.context.request.ip_address} is not allowed. "
        "Access denied.",
        status=403,
        reason="CallerIpNotAllowed",
        source="ip-filter",
    )


def _listed(
    run: PolicyRun,
    element: Element,
    caller: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> bool:
    for part in element.children:
        if part.name == "address" and part.text is not None:
            address = _address(run, part, part.text)
            if address is None:
                raise expression_failure(element, "address is not an IP address")
            if address == caller:
                return True
        elif part.name == "address-range":
            low = _address(run, part, part.attributes["from"])
            high = _address(run, part, part.attributes["to"])
            if low is None or high is None or low.version != caller.version:
                continue
            if low <= caller <= high:  # type: ignore[operator]
                return True
    return False


def _address(
    run: PolicyRun, element: Element, value: Value
) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    # Constants were parsed when the document loaded.
    if isinstance(value.parsed, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value.parsed
    text = run.text(element, value) if value.is_expression else value.text
    return parse_address(text)


async def check_header(run: PolicyRun, element: Element) -> Flow:
    name = run.attribute_text(element, "name")
    code = run.status_code(element, "failed-check-httpcode")
    message = run.attribute_text(element, "failed-check-error-message")
    present = run.context.request.headers.get_all(name)
    if not present:
        raise PolicyFailure(
            message, status=code, reason="HeaderNotFound", source="check-header"
        )
    allowed = [run.text(v, v.text) for v in element.children if v.text is not None]
    if not allowed:
        return Flow.NEXT
    fold = run.flag(element, "ignore-case")
    wanted = {a.lower() if fold else a for a in allowed}
    values = [part.strip() for value in present for part in value.split(",")]
    if any((v.lower() if fold else v) in wanted for v in values):
        return Flow.NEXT
    raise PolicyFailure(
        message, status=code, reason="HeaderValueNotAllowed", source="check-header"
    )


# Flow ---------------------------------------------------------------------


async def choose(run: PolicyRun, element: Element) -> Flow:
    for branch in element.children:
        if branch.name == "otherwise" or _holds(run, branch, "condition"):
            run.note(branch, "taken")
            return await run.run_elements(branch.children)
    return Flow.NEXT


def _holds(run: PolicyRun, element: Element, name: str) -> bool:
    value = element.attribute(name)
    if value is None:
        return False
    result = run.evaluate(element, value)
    if isinstance(result, bool):
        return result
    raise expression_failure(element, f"{name} must give a bool, not {result!r}")


async def retry(run: PolicyRun, element: Element) -> Flow:
    count = int(run.number(element, "count"))
    interval = run.number(element, "interval")
    ceiling = run.number(element, "max-interval", interval)
    delta = run.number(element, "delta")
    fast = run.flag(element, "first-fast-retry")
    attempt = 0
    while True:
        flow = await run.run_elements(element.children)
        if flow is Flow.RETURN or attempt >= count:
            return flow
        if not _holds(run, element, "condition"):
            return flow
        wait = _retry_wait(attempt, interval, ceiling, delta, fast)
        await run.services.sleep(min(wait, run.services.max_retry_wait))
        attempt += 1


def _retry_wait(
    attempt: int, interval: float, ceiling: float, delta: float, fast: bool
) -> float:
    if fast and attempt == 0:
        return 0.0
    if not delta:
        return interval
    # Exponential from interval by delta, as APIM documents, jittered a little.
    wait = interval + (2**attempt - 1) * delta * random.uniform(0.8, 1.2)
    return float(min(wait, ceiling)) if ceiling else float(wait)


async def return_response(run: PolicyRun, element: Element) -> Flow:
    name = element.attribute("response-variable-name")
    response = Response()
    if name is not None:
        stored = run.context.variables.get(name.text)
        if isinstance(stored, Response):
            response = stored
    outer, run.building = run.building, response
    try:
        await run.run_elements(element.children)
    finally:
        run.building = outer
    run.returned = response
    return Flow.RETURN


async def mock_response(run: PolicyRun, element: Element) -> Flow:
    status = run.status_code(element, "status-code")
    response = Response(status_code=status, status_reason=reason_phrase(status))
    given = element.attribute("content-type")
    media = given.text if given is not None else None
    operation = run.context.operation
    body = sample_body(operation.id if operation else "", status, media)
    if body:
        media = media or "application/json"
        response.body = Body(body)
    if media is not None:
        response.headers.set("Content-Type", media)
    run.returned = response
    return Flow.RETURN


# Messages -----------------------------------------------------------------


def _message_headers(run: PolicyRun) -> Headers:
    if run.building is not None:
        return run.building.headers
    if run.section in _REQUEST_SECTIONS:
        return run.context.request.headers
    return run.context.response.headers


async def set_header(run: PolicyRun, element: Element) -> Flow:
    name = _header_name(run, element)
    action = run.attribute_text(element, "exists-action", "override").lower()
    headers = _message_headers(run)
    values = [run.text(v, v.text) for v in element.children if v.text is not None]
    if action == "delete":
        headers.remove(name)
        return Flow.NEXT
    if action == "skip" and name in headers:
        return Flow.NEXT
    for value in values:
        _field(element, f"the value of header {name!r}", value)
    if action == "append":
        for value in values:
            headers.append(name, value)
    else:
        headers.set(name, values)
    if headers is run.context.request.headers:
        run.headers_set.add(name.lower())  # a credential it sets goes on
    return Flow.NEXT


def _header_name(run: PolicyRun, element: Element) -> str:
    name = run.attribute_text(element, "name")
    if not is_header_name(name):
        raise expression_failure(element, f"{name!r} is not a header name")
    return name


def _field(element: Element, what: str, value: str) -> str:
    """``value``, when HTTP allows it in a header or a reason phrase.

    aiohttp refuses the others only once it sends the message, too late for
    on-error and for the log: the policy that sets one fails instead.
    """
    found = control_character(value)
    if found is not None:
        message = f"{what} holds a control character HTTP does not allow ({found})"
        raise expression_failure(element, message)
    return value


async def set_query_parameter(run: PolicyRun, element: Element) -> Flow:
    name = run.attribute_text(element, "name")
    action = run.attribute_text(element, "exists-action", "override").lower()
    query = run.context.request.url.query
    values = [run.text(v, v.text) for v in element.children if v.text is not None]
    if action == "delete":
        query.remove(name)
    elif action == "skip":
        if name not in query:
            query.set(name, values)
    elif action == "append":
        for value in values:
            query.append(name, value)
    else:
        query.set(name, values)
    run.target.rewritten = True
    return Flow.NEXT


async def set_status(run: PolicyRun, element: Element) -> Flow:
    code = run.status_code(element, "code")
    reason = _field(element, "reason", run.attribute_text(element, "reason"))
    response = run.building or run.context.response
    response.status_code, response.status_reason = code, reason
    return Flow.NEXT


async def set_body(run: PolicyRun, element: Element) -> Flow:
    content = run.text(element, element.text) if element.text is not None else ""
    body = Body(content.encode("utf-8"))
    if run.building is not None:
        run.building.body = body
    elif run.section in _REQUEST_SECTIONS:
        run.context.request.body = body
    else:
        run.context.response.body = body
    return Flow.NEXT


async def set_method(run: PolicyRun, element: Element) -> Flow:
    method = run.text(element, element.text).strip().upper()
    if not method or not method.isascii() or not method.isalpha():
        raise expression_failure(element, f"{method!r} is not an HTTP method")
    run.context.request.method = method
    return Flow.NEXT


async def set_variable(run: PolicyRun, element: Element) -> Flow:
    name = element.attributes["name"].text
    value = element.attributes["value"]
    run.context.variables[name] = run.evaluate(element, value)
    return Flow.NEXT


# Backends -----------------------------------------------------------------


async def set_backend_service(run: PolicyRun, element: Element) -> Flow:
    backend_id = element.attribute("backend-id")
    if backend_id is not None:
        name = run.text(element, backend_id)
        if name == run.target.backend and not run.target.rewritten:
            return Flow.NEXT  # where the request goes already
        base = run.services.backend_urls.get(name)
        if base is None:
            raise PolicyFailure(
                f"Backend with id '{name}' could not be found.",
                status=500,
                reason="BackendNotFound",
                source="set-backend-service",
            )
        _move_to(run, base, backend=name)
        return Flow.NEXT
    base_url = run.attribute_text(element, "base-url")
    if urlsplit(base_url).scheme not in ("http", "https"):
        raise expression_failure(element, f"{base_url!r} is not an http(s) URL")
    _move_to(run, base_url, backend=None)
    return Flow.NEXT


def _move_to(run: PolicyRun, base: str, *, backend: str | None) -> None:
    url = run.context.request.url
    base = base.partition("?")[0].rstrip("/")
    if backend is not None and not run.target.path_rewritten and run.url_for:
        moved = Url.parse(run.url_for(backend))
        moved.query = url.query
    else:
        old_path = urlsplit(run.target.base).path.rstrip("/")
        rest = url.path[len(old_path) :] if url.path.startswith(old_path) else url.path
        moved = Url.parse(base + rest)
        moved.query = url.query
    run.context.request.url = moved
    run.target.base = base
    run.target.rewritten = True
    if backend is not None:
        run.target.backend = backend
        run.target.credentials = True
    else:
        run.target.credentials = False


async def rewrite_uri(run: PolicyRun, element: Element) -> Flow:
    template = run.attribute_text(element, "template")
    keep_unmatched = run.flag(element, "copy-unmatched-params", True)
    path, _, query_text = template.partition("?")
    parameters = run.context.request.matched_parameters
    path = _TEMPLATE_PARAMETER.sub(lambda m: parameters.get(m.group(1), ""), path)
    query = Headers(parse_qsl(query_text, keep_blank_values=True))
    if keep_unmatched:
        for name, value in run.context.request.url.query.items():
            if name not in query:
                query.append(name, value)
    url = run.context.request.url
    base_path = urlsplit(run.target.base).path.rstrip("/")
    url.path = base_path + "/" + path.lstrip("/")
    url.query = query
    run.target.rewritten = True
    run.target.path_rewritten = True
    return Flow.NEXT


async def forward_request(run: PolicyRun, element: Element) -> Flow:
    timeout: float | None = None
    if element.attribute("timeout-ms") is not None:
        timeout = run.number(element, "timeout-ms") / 1000.0
    elif element.attribute("timeout") is not None:
        timeout = run.number(element, "timeout")
    try:
        await run.forward(run, timeout)
    except BackendError as error:
        # A timeout or a refused connection is this policy's failure.
        error.scope = element.scope.value
        error.section = run.section.value
        raise
    run.forwarded = True
    if run.flag(element, "fail-on-error-status-code"):
        status = run.context.response.status_code
        if status >= 400:
            raise BackendStatusFailure(
                f"The backend answered {status}.",
                status=status,
                reason="BackendResponseError",
                source="forward-request",
            )
    return Flow.NEXT


async def authentication_managed_identity(run: PolicyRun, element: Element) -> Flow:
    resource = run.attribute_text(element, "resource")
    client_id = run.attribute_text(element, "client-id") or None
    variable = element.attribute("output-token-variable-name")
    try:
        if run.services.token is None:
            raise LookupError("no managed identity is configured")
        token = await run.services.token(resource, client_id)
    except Exception as exc:
        if run.flag(element, "ignore-error"):
            logger.warning("managed identity token for %s failed", resource)
            return Flow.NEXT
        raise PolicyFailure(
            f"Could not obtain a managed identity token for {resource}.",
            status=500,
            reason="ManagedIdentityTokenFailure",
            source="authentication-managed-identity",
        ) from exc
    if variable is not None:
        run.context.variables[variable.text] = token
    else:
        run.context.request.headers.set("Authorization", f"Bearer {token}")
    return Flow.NEXT


# CORS and trace -------------------------------------------------------------


async def cors(run: PolicyRun, element: Element) -> Flow:
    request = run.context.request
    origin = request.headers.get("Origin")
    if origin is None:
        return Flow.NEXT
    preflight = request.method == "OPTIONS" and (
        "Access-Control-Request-Method" in request.headers
    )
    allowed = _cors_values(run, element, "allowed-origins")
    matched = _origin_allowed(origin, allowed)
    if matched and preflight:
        matched = _preflight_allowed(run, element, request.headers)
    if not matched:
        return _cors_unmatched(run, element, request.method, preflight)
    credentials = run.flag(element, "allow-credentials")
    allow_origin = origin if credentials or "*" not in allowed else "*"
    headers = [("Access-Control-Allow-Origin", allow_origin)]
    if credentials:
        headers.append(("Access-Control-Allow-Credentials", "true"))
    if preflight:
        run.returned = _preflight(run, element, request.headers, headers)
        return Flow.RETURN
    exposed = _cors_values(run, element, "expose-headers")
    if exposed:
        headers.append(("Access-Control-Expose-Headers", ",".join(exposed)))
    run.response_headers.extend(headers)
    return Flow.NEXT


def _cors_unmatched(
    run: PolicyRun, element: Element, method: str, preflight: bool
) -> Flow:
    # As APIM: an unmatched preflight, GET or HEAD ends with an empty 200
    # unless the policy says to go on; other requests go on without CORS
    # headers.
    ends = preflight or method in ("GET", "HEAD")
    if ends and run.flag(element, "terminate-unmatched-request", True):
        run.returned = Response()
        return Flow.RETURN
    return Flow.NEXT


def _origin_allowed(origin: str, allowed: list[str]) -> bool:
    if "*" in allowed:
        return True
    wanted = _origin_key(origin)
    return any(_origin_key(candidate) == wanted for candidate in allowed)


def _origin_key(text: str) -> str:
    """An origin as compared: scheme, host and port, without the path.

    Policies often write origins as URLs (``http://localhost:8080/``) while
    browsers send ``http://localhost:8080``; both are the same origin.
    """
    text = text.strip()
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        return text.lower()
    if not parts.scheme or not parts.hostname:
        return text.lower()
    scheme = parts.scheme.lower()
    shown = "" if port in (None, _DEFAULT_PORTS.get(scheme)) else f":{port}"
    return f"{scheme}://{parts.hostname}{shown}"


def _preflight_allowed(run: PolicyRun, element: Element, asked: Headers) -> bool:
    methods = _cors_values(run, element, "allowed-methods") or ["GET", "POST"]
    method = (asked.get("Access-Control-Request-Method") or "").strip().upper()
    if "*" not in methods and method not in {m.upper() for m in methods}:
        return False
    allowed = {name.lower() for name in _cors_values(run, element, "allowed-headers")}
    if "*" in allowed:
        return True
    safe = allowed | _SAFELISTED_HEADERS
    return all(name.lower() in safe for name in _requested_headers(asked))


def _requested_headers(asked: Headers) -> list[str]:
    text = asked.get("Access-Control-Request-Headers") or ""
    return [name.strip() for name in text.split(",") if name.strip()]


def _preflight(
    run: PolicyRun,
    element: Element,
    asked: Headers,
    headers: list[tuple[str, str]],
) -> Response:
    # What the browser asked for, once it is allowed, as .NET's CORS does.
    method = (asked.get("Access-Control-Request-Method") or "").strip()
    headers.append(("Access-Control-Allow-Methods", method))
    requested = _requested_headers(asked)
    if requested:
        headers.append(("Access-Control-Allow-Headers", ",".join(requested)))
    for part in element.children_named("allowed-methods"):
        age = part.attribute("preflight-result-max-age")
        if age is not None:
            seconds = _field(part, "preflight-result-max-age", run.text(part, age))
            headers.append(("Access-Control-Max-Age", seconds))
    response = Response()
    for name, value in headers:
        response.headers.append(name, value)
    return response


def _cors_values(run: PolicyRun, element: Element, part_name: str) -> list[str]:
    values: list[str] = []
    for part in element.children_named(part_name):
        values.extend(run.text(v, v.text) for v in part.children if v.text is not None)
    return values


async def trace(run: PolicyRun, element: Element) -> Flow:
    source = element.attributes["source"].text
    message = ""
    metadata: dict[str, str] = {}
    for part in element.children:
        if part.name == "message" and part.text is not None:
            message = run.text(part, part.text)
        elif part.name == "metadata":
            key = run.attribute_text(part, "name")
            metadata[key] = run.attribute_text(part, "value")
    # Kept in the request's trace only: a trace may quote prompts, which
    # never go to the process log.
    shown = "".join(f" {key}={value}" for key, value in metadata.items())
    run.note(element, f"trace {source}: {message}{shown}")
    return Flow.NEXT


HANDLERS: Mapping[str, Handler] = {
    "authentication-managed-identity": authentication_managed_identity,
    "check-header": check_header,
    "choose": choose,
    "cors": cors,
    "forward-request": forward_request,
    "ip-filter": ip_filter,
    "mock-response": mock_response,
    "retry": retry,
    "return-response": return_response,
    "rewrite-uri": rewrite_uri,
    "set-backend-service": set_backend_service,
    "set-body": set_body,
    "set-header": set_header,
    "set-method": set_method,
    "set-query-parameter": set_query_parameter,
    "set-status": set_status,
    "set-variable": set_variable,
    "trace": trace,
}
"""Every policy element Tollhouse runs, by name."""
