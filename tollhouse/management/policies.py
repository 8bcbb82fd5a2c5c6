"""Policy routes of the management API: read, validate and replace documents.

    GET  /apis/{api}/operations/{operation}/policy    the effective document
    POST /policies/validate                           check a document
    GET  /policies/{scope}                            a scope's document text
    PUT  /policies/{scope}                            replace it

A scope is ``global``, ``products/{id}``, ``apis/{id}`` or
``apis/{id}/operations/{operation}``.  A document is sent as the body, with
the content type ``application/xml`` or ``text/xml``, or as the JSON object
``{"xml": "..."}``.  Validation uses the loader the gateway uses, with its
named values, fragments and backends, so it reports the errors
``tollhouse policy check --config`` prints.

A replacement that validates is written to the scope's ``policy_file``
(a temporary file renamed over it, so a reader never sees half a document)
and the gateway reloads its documents as SIGHUP makes it do, before the
response: the next request runs the new document.  A scope without a
``policy_file`` has nowhere to write; the refusal names the key to set.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import orjson
from aiohttp import web

from ..config import GatewayConfig
from ..errors import ManagementError, PolicyDocumentError
from ..policy.document import Document, Element, Scope, Section
from ..policy.registry import PolicyRegistry, config_dir, gateway_loader
from ..routing import OPERATIONS, PASSTHROUGH
from .bodies import bad_body, json_response, not_found, too_large

logger = logging.getLogger(__name__)

_XML_TYPES = frozenset({"application/xml", "text/xml"})


@dataclass(frozen=True)
class PolicyAccess:
    """What the policy routes need of the running gateway."""

    environ: Mapping[str, str]
    registry: Callable[[], PolicyRegistry]
    """The documents in use."""
    reload: Callable[[], Awaitable[bool]]
    """Reload every document as SIGHUP does; False when it failed."""


@dataclass(frozen=True)
class PolicyTarget:
    """One scope of the configuration and where its document lives."""

    scope: Scope
    name: str
    key: str
    policy_file: str | None


class PolicyRoutes:
    """The routes that show, check and replace policy documents."""

    def __init__(self, config: GatewayConfig, access: PolicyAccess) -> None:
        self._config = config
        self._access = access
        self._limit = config.management.max_request_bytes
        self._writing = asyncio.Lock()

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_get("/apis/{api}/operations/{operation}/policy", self._effective)
        router.add_post("/policies/validate", self._validate)
        for path in (
            "/policies/global",
            "/policies/products/{product}",
            "/policies/apis/{api}",
            "/policies/apis/{api}/operations/{operation}",
        ):
            router.add_get(path, self._get)
            router.add_put(path, self._put)

    # GET /apis/{api}/operations/{operation}/policy -------------------------

    async def _effective(self, request: web.Request) -> web.Response:
        api_id = request.match_info["api"]
        operation_id = request.match_info["operation"]
        product_id = request.query.get("product")
        document = self.effective(api_id, operation_id, product_id)
        return json_response(
            {
                "api": api_id,
                "operation": operation_id,
                "product": product_id,
                "xml": document_xml(document),
                "elements": [_element_json(e) for e in document.walk()],
            }
        )

    def effective(
        self, api_id: str, operation_id: str, product_id: str | None = None
    ) -> Document:
        """The document an operation of an API runs, for a product or none."""
        api = self._config.apis.get(api_id)
        if api is None:
            raise not_found("API", api_id)
        operations = OPERATIONS if api.template == "azure-openai" else (PASSTHROUGH,)
        if operation_id not in {op.id for op in operations}:
            raise not_found(f"operation of API {api_id!r}", operation_id)
        if product_id is not None and product_id not in self._config.products:
            raise not_found("product", product_id)
        return self._access.registry().effective(product_id, api_id, operation_id)

    # POST /policies/validate ----------------------------------------------

    async def _validate(self, request: web.Request) -> web.Response:
        errors = await self.validate(await self._read_document(request))
        return json_response(
            {"valid": not errors, "errors": [_error_json(e) for e in errors]}
        )

    async def validate(
        self, text: str, *, source: str = "<request>", scope: Scope = Scope.API
    ) -> list[PolicyDocumentError]:
        """The errors of ``text`` as the gateway's loader sees them; none if valid.

        A large document takes a while to check: not on the event loop.
        """
        loader = gateway_loader(self._config, self._access.environ)
        return await asyncio.to_thread(
            loader.check_text, text, source=source, scope=scope
        )

    # GET and PUT /policies/{scope} ----------------------------------------

    async def _get(self, request: web.Request) -> web.Response:
        target = self._target(request)
        text = await self.read(target)
        return json_response(
            {"scope": str(target.scope), "policyFile": target.policy_file, "xml": text}
        )

    async def _put(self, request: web.Request) -> web.Response:
        target = self._target(request)
        if target.policy_file is None:
            raise _no_file(target)
        text = await self._read_document(request)
        reloaded = await self.replace(target, text)
        return json_response(
            {
                "scope": str(target.scope),
                "policyFile": target.policy_file,
                "reloaded": reloaded,
            }
        )

    def path_of(self, target: PolicyTarget) -> Path | None:
        """Where the document of ``target`` lives; None without a policy file."""
        if target.policy_file is None:
            return None
        return config_dir(self._config) / target.policy_file

    async def read(self, target: PolicyTarget) -> str:
        """The text of the document of ``target``; 404 if it has none."""
        path = self.path_of(target)
        if path is None:
            raise ManagementError(
                404,
                "NotFound",
                f"The {target.name} has no policy document; {target.key} is not set.",
            )
        try:
            return await asyncio.to_thread(path.read_text, encoding="utf-8-sig")
        except OSError as exc:
            raise ManagementError(
                404, "NotFound", f"The policy file of the {target.name} cannot be read."
            ) from exc

    async def replace(self, target: PolicyTarget, text: str) -> bool:
        """Write ``text`` as the document of ``target`` and reload every document.

        Refuses (400 ``InvalidPolicyDocument``, the errors in its details) a
        document that does not validate, and (409) a scope without a file.
        True when the reload succeeded.
        """
        path = self.path_of(target)
        if path is None:
            raise _no_file(target)
        errors = await self.validate(text, source=str(path), scope=target.scope)
        if errors:
            raise ManagementError(
                400,
                "InvalidPolicyDocument",
                f"The document has {len(errors)} error(s); the first: "
                f"{errors[0].line}:{errors[0].column}: {errors[0].message}",
                details={"errors": [_error_json(e) for e in errors]},
            )

        async with self._writing:
            await asyncio.to_thread(_replace_file, path, text)
            reloaded = await self._access.reload()
        logger.info(
            "management API replaced the policy document of the %s (%s)",
            target.name,
            path,
            extra={"reloaded": reloaded},
        )
        return reloaded

    def _target(self, request: web.Request) -> PolicyTarget:
        info = request.match_info
        return self.target(
            api_id=info.get("api"),
            operation_id=info.get("operation"),
            product_id=info.get("product"),
        )

    def target(
        self,
        *,
        api_id: str | None = None,
        operation_id: str | None = None,
        product_id: str | None = None,
    ) -> PolicyTarget:
        """A scope: global with no argument, a product, an API or an operation."""
        config = self._config
        if api_id is None and product_id is None:
            return PolicyTarget(
                Scope.GLOBAL, "global scope", "policy_file", config.policy_file
            )
        if product_id is not None:
            product = config.products.get(product_id)
            if product is None:
                raise not_found("product", product_id)
            key = f"products.{product_id}.policy_file"
            name = f"product {product_id!r}"
            return PolicyTarget(Scope.PRODUCT, name, key, product.policy_file)

        assert api_id is not None
        api = config.apis.get(api_id)
        if api is None:
            raise not_found("API", api_id)
        if operation_id is None:
            key = f"apis.{api_id}.policy_file"
            return PolicyTarget(Scope.API, f"API {api_id!r}", key, api.policy_file)
        operations = OPERATIONS if api.template == "azure-openai" else (PASSTHROUGH,)
        if operation_id not in {op.id for op in operations}:
            raise not_found(f"operation of API {api_id!r}", operation_id)
        settings = api.operations.get(operation_id)
        key = f"apis.{api_id}.operations.{operation_id}.policy_file"
        name = f"operation {operation_id!r} of API {api_id!r}"
        policy_file = settings.policy_file if settings is not None else None
        return PolicyTarget(Scope.OPERATION, name, key, policy_file)

    async def _read_document(self, request: web.Request) -> str:
        """The document the body holds: XML itself, or ``{"xml": "..."}``."""
        if request.content_length is not None and request.content_length > self._limit:
            raise too_large(self._limit)
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise too_large(self._limit) from None
        if request.content_type in _XML_TYPES:
            return _decoded(raw)
        if request.content_type != "application/json":
            raise bad_body(
                "Send the document as application/xml or text/xml, "
                'or as the JSON object {"xml": "<policies>...</policies>"}.'
            )
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise bad_body(f"The body is not valid JSON: {exc}") from None
        if not isinstance(body, dict) or set(body) != {"xml"}:
            raise bad_body('The body must be the JSON object {"xml": "..."}.')
        text = body["xml"]
        if not isinstance(text, str) or not text.strip():
            raise bad_body("'xml' must be the text of a policy document.")
        return text


def document_xml(document: Document) -> str:
    """An effective document as XML, each policy led by a comment of its scope.

    Values appear as loaded, with secret named values as their ``{{name}}``;
    attributes left out and filled with their defaults are left out here too.
    """
    lines = ["<policies>"]
    for section in Section:
        elements = document.section(section)
        if not elements:
            lines.append(f"    <{section} />")
            continue
        lines.append(f"    <{section}>")
        for element in elements:
            lines.append(f"        <!-- {element.scope} scope: {element.source} -->")
            lines.extend(_element_lines(element, "        "))
        lines.append(f"    </{section}>")
    lines.append("</policies>")
    return "\n".join(lines) + "\n"


def _element_lines(element: Element, indent: str) -> list[str]:
    attributes = "".join(
        f" {name}={quoteattr(value.shown)}"
        for name, value in element.attributes.items()
        if value.given
    )
    start = f"{indent}<{element.name}{attributes}"
    if element.children:
        inner = [
            line
            for child in element.children
            for line in _element_lines(child, indent + "    ")
        ]
        return [f"{start}>", *inner, f"{indent}</{element.name}>"]
    if element.text is not None:
        return [f"{start}>{escape(element.text.shown)}</{element.name}>"]
    return [f"{start} />"]


def _element_json(element: Element) -> dict[str, Any]:
    return {
        "name": element.name,
        "scope": str(element.scope),
        "section": str(element.section) if element.section else None,
        "path": element.policy_id,
        "source": element.source,
        "line": element.position.line,
        "column": element.position.column,
    }


def _no_file(target: PolicyTarget) -> ManagementError:
    return ManagementError(
        409,
        "Conflict",
        f"The {target.name} has no policy file to write; set "
        f"{target.key} in the configuration, then restart the gateway.",
    )


def _error_json(error: PolicyDocumentError) -> dict[str, Any]:
    return {"line": error.line, "column": error.column, "message": error.message}


def _decoded(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise bad_body("The document is not UTF-8 text.") from None
    if not text.strip():
        raise bad_body("The body is empty; send the text of a policy document.")
    return text


def _replace_file(path: Path, text: str) -> None:
    # Write beside the target and rename over it: atomic on one file system.
    handle, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
