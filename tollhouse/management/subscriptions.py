"""Subscription routes of the management API.

    GET  /subscriptions                    the list, never a key
    POST /subscriptions                    create; both keys, shown this once
    GET  /subscriptions/{id}               one subscription, never a key
    POST /subscriptions/{id}/regenerate    a new key for one slot, shown once
    POST /subscriptions/{id}/suspend       state "suspended"
    POST /subscriptions/{id}/activate      state "active"
    POST /subscriptions/{id}/cancel        state "cancelled"

After every change the gateway's key index is reloaded from the store (the
same revision check the gateway runs every second for changes made by
``tollhouse keys``), so the next request through the gateway sees it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Any

from aiohttp import web

from ..config import GatewayConfig
from ..errors import ManagementError
from ..subscriptions import (
    ALL_APIS,
    Slot,
    State,
    Subscription,
    SubscriptionError,
    SubscriptionStore,
)
from .bodies import (
    NO_STORE,
    bad_body,
    json_response,
    not_found,
    optional_string,
    read_object,
)

logger = logging.getLogger(__name__)

_NEW_FIELDS = ("id", "displayName", "scope")
#: The key slots of a subscription.
SLOTS: tuple[Slot, ...] = ("primary", "secondary")
#: The state each action of ``POST /subscriptions/{id}/ACTION`` sets.
STATE_BY_ACTION: dict[str, State] = {
    "suspend": "suspended",
    "activate": "active",
    "cancel": "cancelled",
}


def subscription_json(sub: Subscription) -> dict[str, Any]:
    """What the API shows of a subscription: everything but its keys."""
    return {
        "id": sub.id,
        "displayName": sub.display_name,
        "scope": sub.scope,
        "state": sub.state,
        "createdDate": sub.created_at,
        "updatedDate": sub.updated_at,
    }


class SubscriptionRoutes:
    """The ``/subscriptions`` routes over the gateway's subscription store."""

    def __init__(
        self,
        config: GatewayConfig,
        store: SubscriptionStore,
        keys_changed: Callable[[], None],
    ) -> None:
        self._config = config
        self._store = store
        self._keys_changed = keys_changed
        self._limit = config.management.max_request_bytes

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_get("/subscriptions", self._list)
        router.add_post("/subscriptions", self._create)
        router.add_get("/subscriptions/{id}", self._get)
        router.add_post("/subscriptions/{id}/regenerate", self._regenerate)
        for action in STATE_BY_ACTION:
            router.add_post(f"/subscriptions/{{id}}/{action}", self._set_state)

    async def _list(self, request: web.Request) -> web.Response:
        subs = [subscription_json(sub) for sub in self._store.list()]
        return json_response({"value": subs, "count": len(subs)})

    async def _get(self, request: web.Request) -> web.Response:
        return json_response(subscription_json(self._require(request)))

    async def _create(self, request: web.Request) -> web.Response:
        body = await read_object(
            request,
            self._limit,
            _NEW_FIELDS,
            example='{"id": "team-a", "displayName": "Team A", "scope": "/apis"}',
        )
        sub_id = body.get("id")
        if not isinstance(sub_id, str):
            raise bad_body("'id' must be a string such as 'team-a'.")
        name = optional_string(body, "displayName", sub_id)
        scope = optional_string(body, "scope", ALL_APIS)
        sub, primary, secondary = self.create(sub_id, name, scope)

        shown = {
            **subscription_json(sub),
            "primaryKey": primary,
            "secondaryKey": secondary,
        }
        headers = {**NO_STORE, "Location": f"/subscriptions/{sub.id}"}
        return json_response(shown, status=201, headers=headers)

    async def _regenerate(self, request: web.Request) -> web.Response:
        sub = self._require(request)
        body = await read_object(
            request, self._limit, ("key",), example='{"key": "primary"}'
        )
        slot = body.get("key")
        if slot not in SLOTS:
            raise bad_body("'key' must be 'primary' or 'secondary'.")

        key = self.regenerate(sub.id, slot)
        shown = {**subscription_json(self._store.require(sub.id)), f"{slot}Key": key}
        return json_response(shown, headers=NO_STORE)

    async def _set_state(self, request: web.Request) -> web.Response:
        sub = self._require(request)
        action = request.path.rsplit("/", 1)[1]
        changed = self.set_state(sub.id, STATE_BY_ACTION[action])
        return json_response(subscription_json(changed))

    # Operations, shared with the dashboard -----------------------------------

    def list(self) -> list[Subscription]:
        """Every subscription, the built-in ``master`` among them."""
        return self._store.list()

    def require(self, sub_id: str) -> Subscription:
        """The subscription ``sub_id``; a 404 `ManagementError` if there is none."""
        sub = self._store.get(sub_id)
        if sub is None:
            raise not_found("subscription", sub_id)
        return sub

    def create(
        self, sub_id: str, name: str, scope: str
    ) -> tuple[Subscription, str, str]:
        """A new active subscription, its primary key and its secondary key.

        Refused with a `ManagementError`: 400 for a bad id or scope (or a
        scope naming no configured API or product), 409 for a taken id.
        The gateway accepts the keys once this returns.
        """
        self._check_target(scope)
        if self._store.get(sub_id) is not None:
            raise ManagementError(
                409, "Conflict", f"There is already a subscription {sub_id!r}."
            )
        try:
            sub = self._store.create(sub_id, name, scope)
        except SubscriptionError as exc:
            raise bad_body(_sentence(str(exc))) from exc
        self._keys_changed()
        logger.info("management API created subscription %s (%s)", sub.id, scope)

        primary = self._store.key(sub.id, "primary")
        return sub, primary, self._store.key(sub.id, "secondary")

    def regenerate(self, sub_id: str, slot: Slot) -> str:
        """A new key in ``slot`` of ``sub_id``; the old one stops working now."""
        self.require(sub_id)
        key = self._store.regenerate(sub_id, slot)
        self._keys_changed()
        logger.info("management API regenerated the %s key of %s", slot, sub_id)
        return key

    def set_state(self, sub_id: str, state: State) -> Subscription:
        """``sub_id`` in ``state``, which the gateway enforces at once."""
        self.require(sub_id)
        changed = self._store.set_state(sub_id, state)
        self._keys_changed()
        logger.info("management API set subscription %s %s", sub_id, state)
        return changed

    def _require(self, request: web.Request) -> Subscription:
        return self.require(request.match_info["id"])

    def _check_target(self, scope: str) -> None:
        # The store checks the scope's shape; the API or product must exist
        # here too, or the subscription could call nothing.
        kind, _, target = scope.strip("/").partition("/")
        known: dict[str, Collection[str]] = {
            "API": self._config.apis,
            "product": self._config.products,
        }
        noun = {"apis": "API", "products": "product"}.get(kind)
        if noun is not None and target and target not in known[noun]:
            raise bad_body(f"'scope' names no configured {noun}: {target!r}.")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."
