"""The Subscriptions page: the list with usage, and what the API can change.

    GET  /subscriptions                  the page: new-subscription form, list
    POST /subscriptions                  create; shows both keys this once
    POST /subscriptions/{id}/regenerate  a new key for ``slot``, shown once
    POST /subscriptions/{id}/suspend     and ``activate``, ``cancel``

Every change goes through the management API's own operations, so the
gateway sees it at once.  A POST answers with the page's body (htmx swaps
it in) or, without htmx, the whole page: a key is in that one answer and
in no other, so a reload or a later visit never shows it again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..errors import ManagementError
from ..management.subscriptions import (
    SLOTS,
    STATE_BY_ACTION,
    SubscriptionRoutes,
    subscription_json,
)
from ..management.usage import UsageRoutes
from ..subscriptions import ALL_APIS, MASTER_ID

if TYPE_CHECKING:
    from .site import Dashboard

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShownKey:
    """A key shown once: whose, which slot, and the key."""

    subscription: str
    slot: str
    key: str


class SubscriptionsPage:
    """The Subscriptions page's routes."""

    def __init__(
        self,
        dashboard: Dashboard,
        subscriptions: SubscriptionRoutes,
        usage: UsageRoutes,
    ) -> None:
        self._dashboard = dashboard
        self._subscriptions = subscriptions
        self._usage = usage

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_get("/subscriptions", self._page)
        router.add_post("/subscriptions", self._create)
        router.add_post("/subscriptions/{id}/regenerate", self._regenerate)
        for action in STATE_BY_ACTION:
            router.add_post(f"/subscriptions/{{id}}/{action}", self._set_state)

    async def _page(self, request: web.Request) -> web.Response:
        return await self._show(request)

    async def _create(self, request: web.Request) -> web.Response:
        form = await request.post()
        fields = {
            name: str(form.get(name, "")).strip() for name in ("id", "name", "scope")
        }
        try:
            _, primary, secondary = self._subscriptions.create(
                fields["id"],
                fields["name"] or fields["id"],
                fields["scope"] or ALL_APIS,
            )
        except ManagementError as error:
            if error.status not in (400, 409):
                raise
            return await self._show(
                request, status=error.status, error=error.message, fields=fields
            )

        keys = [
            ShownKey(fields["id"], "primary", primary),
            ShownKey(fields["id"], "secondary", secondary),
        ]
        return await self._show(request, status=201, keys=keys)

    async def _regenerate(self, request: web.Request) -> web.Response:
        sub_id = request.match_info["id"]
        slot = str((await request.post()).get("slot", ""))
        if slot not in SLOTS:
            raise web.HTTPBadRequest(text="Choose the primary or the secondary key.")
        key = self._subscriptions.regenerate(sub_id, slot)
        return await self._show(request, keys=[ShownKey(sub_id, slot, key)])

    async def _set_state(self, request: web.Request) -> web.Response:
        sub_id = request.match_info["id"]
        action = request.path.rsplit("/", 1)[1]
        self._subscriptions.set_state(sub_id, STATE_BY_ACTION[action])
        return await self._show(request)

    async def _show(
        self,
        request: web.Request,
        *,
        status: int = 200,
        error: str | None = None,
        fields: dict[str, str] | None = None,
        keys: list[ShownKey] | None = None,
    ) -> web.Response:
        # htmx swaps only 2xx answers: a refused form is still the body to
        # show, with its error, so htmx gets it as a 200.
        htmx = request.headers.get("HX-Request") == "true"
        context: dict[str, Any] = {
            "items": await self._items(),
            "scopes": self._scopes(),
            "error": error,
            "fields": fields or {"id": "", "name": "", "scope": ALL_APIS},
            "keys": keys or [],
        }
        return self._dashboard.render(
            request,
            "subscriptions_body.html" if htmx else "subscriptions.html",
            status=200 if htmx else status,
            **context,
        )

    async def _items(self) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        month = today.replace(day=1)
        end = today + timedelta(days=1)
        today_usage = await self._usage_by_subscription(today, end)
        month_usage = await self._usage_by_subscription(month, end)
        return [
            {
                **subscription_json(sub),
                "master": sub.id == MASTER_ID,
                "scopeName": self._scope_name(sub.scope),
                "today": today_usage.get(sub.id),
                "month": month_usage.get(sub.id),
            }
            for sub in self._subscriptions.list()
        ]

    async def _usage_by_subscription(
        self, start: datetime, end: datetime
    ) -> dict[str, dict[str, Any]]:
        summary = await self._usage.summary(start, end, "subscription")
        return {group["key"]: group for group in summary["value"]}

    def _scopes(self) -> list[tuple[str, str]]:
        """The scopes a new subscription may take: (scope, label)."""
        config = self._dashboard.config
        scopes = [
            ALL_APIS,
            *(f"/apis/{api}" for api in config.apis),
            *(f"/products/{product}" for product in config.products),
        ]
        return [(scope, self._scope_name(scope)) for scope in scopes]

    def _scope_name(self, scope: str) -> str:
        """``scope`` for people: ``All APIs``, ``API Azure OpenAI``..."""
        if scope == ALL_APIS:
            return "All APIs"
        config = self._dashboard.config
        kind, _, target = scope.strip("/").partition("/")
        if kind == "apis":
            api = config.apis.get(target)
            return f"API: {api.display_name if api and api.display_name else target}"
        product = config.products.get(target)
        shown = product.display_name if product and product.display_name else target
        return f"Product: {shown}"
