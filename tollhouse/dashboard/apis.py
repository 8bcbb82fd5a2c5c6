"""The APIs and policies page: what the gateway serves and the policies it runs.

    GET  /apis?api=&operation=&product=  the APIs, products and backends; the
                                         effective policy of the chosen
                                         operation, each policy's scope shown;
                                         an editor per scope of it
    POST /apis/policy/validate           check an editor's document
    POST /apis/policy/save               replace a scope's document and reload

Both POSTs take the form fields ``scope`` (``global``, ``products/{id}``,
``apis/{id}`` or ``apis/{id}/operations/{operation}``, as in the management
API's paths) and ``xml``, with the chosen ``api``, ``operation`` and
``product`` to show again.  Saving goes through the management API's own
replace, which refuses an invalid document and reloads the gateway's
documents: the next request runs the new one.  Backends show their URL
without credentials and the type of their credentials, never a secret.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..errors import ManagementError
from ..management.configuration import api_json, backend_json, product_json
from ..management.policies import PolicyRoutes, PolicyTarget, document_xml
from ..policy.document import Section

if TYPE_CHECKING:
    from .site import Dashboard

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    """An error of a document, where it is."""

    line: int
    column: int
    message: str


@dataclass
class Editor:
    """The editor of one scope's document, and what its last action said."""

    scope: str
    label: str
    key: str
    policy_file: str | None
    text: str = ""
    unreadable: str | None = None
    checked: str | None = None
    """``validate`` or ``save`` after that action on this editor."""
    problems: list[Problem] = field(default_factory=list)
    message: str | None = None
    failed: bool = False


class ApisPage:
    """The APIs and policies page's routes."""

    def __init__(self, dashboard: Dashboard, policies: PolicyRoutes) -> None:
        self._dashboard = dashboard
        self._policies = policies

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_get("/apis", self._page)
        router.add_post("/apis/policy/validate", self._validate)
        router.add_post("/apis/policy/save", self._save)

    async def _page(self, request: web.Request) -> web.Response:
        return await self._show(request, dict(request.query))

    async def _validate(self, request: web.Request) -> web.Response:
        form = {name: str(value) for name, value in (await request.post()).items()}
        scope, text = form.get("scope", ""), form.get("xml", "")
        target = self._target(scope)
        editor = Editor(scope, "", "", target.policy_file, text, checked="validate")
        path = self._policies.path_of(target)
        errors = await self._policies.validate(
            text, source=str(path) if path else "<editor>", scope=target.scope
        )
        editor.problems = [Problem(e.line, e.column, e.message) for e in errors]
        editor.failed = bool(errors)
        return await self._show(request, form, edited=editor)

    async def _save(self, request: web.Request) -> web.Response:
        form = {name: str(value) for name, value in (await request.post()).items()}
        scope, text = form.get("scope", ""), form.get("xml", "")
        target = self._target(scope)
        editor = Editor(scope, "", "", target.policy_file, text, checked="save")
        status = 200
        try:
            reloaded = await self._policies.replace(target, text)
        except ManagementError as error:
            if error.status not in (400, 409):
                raise
            status = error.status
            editor.failed = True
            editor.problems = [
                Problem(e["line"], e["column"], e["message"])
                for e in error.details.get("errors", [])
            ]
            editor.message = (
                "Not saved: the document has errors." if editor.problems else None
            ) or error.message
        else:
            editor.text = text
            editor.message = (
                "Saved; the gateway runs it from the next request."
                if reloaded
                else "Saved, but the gateway could not reload its documents; "
                "see its log."
            )
            editor.failed = not reloaded
            logger.info("dashboard replaced the policy document of %s", scope)
        return await self._show(request, form, status=status, edited=editor)

    def _target(self, scope: str) -> PolicyTarget:
        parts = scope.strip("/").split("/")
        if parts == ["global"]:
            return self._policies.target()
        if len(parts) == 2 and parts[0] == "products":
            return self._policies.target(product_id=parts[1])
        if len(parts) == 2 and parts[0] == "apis":
            return self._policies.target(api_id=parts[1])
        if len(parts) == 4 and parts[0] == "apis" and parts[2] == "operations":
            return self._policies.target(api_id=parts[1], operation_id=parts[3])
        raise web.HTTPBadRequest(text="Choose the scope of a policy document.")

    async def _show(
        self,
        request: web.Request,
        chosen: dict[str, str],
        *,
        status: int = 200,
        edited: Editor | None = None,
    ) -> web.Response:
        config = self._dashboard.config
        apis = [api_json(name, api) for name, api in config.apis.items()]
        for api in apis:
            backend = config.backends.get(api["backend"])
            api["backendInfo"] = (
                None if backend is None else backend_json(api["backend"], backend)
            )
            api["products"] = [
                name
                for name, product in config.products.items()
                if api["id"] in product.apis
            ]
        context: dict[str, Any] = {
            "apis": apis,
            "products": [product_json(n, p) for n, p in config.products.items()],
            "backends": [backend_json(n, b) for n, b in config.backends.items()],
            "chosen": None,
            "editors": [],
        }
        api_id = chosen.get("api") or (apis[0]["id"] if apis else "")
        if api_id:
            context["chosen"] = await self._chosen(api_id, chosen, apis, edited)
        return self._dashboard.render(request, "apis.html", status=status, **context)

    async def _chosen(
        self,
        api_id: str,
        chosen: dict[str, str],
        apis: list[dict[str, Any]],
        edited: Editor | None,
    ) -> dict[str, Any]:
        api = next((a for a in apis if a["id"] == api_id), None)
        if api is None:
            raise web.HTTPNotFound(text=f"There is no API {api_id!r}.")
        operation = chosen.get("operation") or api["operations"][0]["id"]
        product = chosen.get("product") or None
        document = self._policies.effective(api_id, operation, product)
        sections = [(str(section), document.section(section)) for section in Section]
        scopes = [
            ("global", "Global", self._policies.target()),
            *(
                (
                    f"products/{name}",
                    f"Product {name}",
                    self._policies.target(product_id=name),
                )
                for name in api["products"]
            ),
            (f"apis/{api_id}", f"API {api_id}", self._policies.target(api_id=api_id)),
            (
                f"apis/{api_id}/operations/{operation}",
                f"Operation {operation}",
                self._policies.target(api_id=api_id, operation_id=operation),
            ),
        ]
        editors = []
        for scope, label, target in scopes:
            editor = Editor(scope, label, target.key, target.policy_file)
            if edited is not None and edited.scope == scope:
                edited.label, edited.key = label, target.key
                editor = edited
            elif target.policy_file is not None:
                try:
                    editor.text = await self._policies.read(target)
                except ManagementError as error:
                    editor.unreadable = error.message
            editors.append(editor)
        return {
            "api": api,
            "operation": operation,
            "product": product,
            "sections": sections,
            "xml": document_xml(document),
            "editors": editors,
        }
