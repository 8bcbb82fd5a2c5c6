"""Subscriptions and their keys.

A subscription has a display name, a scope (all APIs ``/apis``, one product
``/products/{id}``, one API ``/apis/{id}``), a state and two keys.  The store
holds only HMAC-SHA256 hashes of the keys.  The keys themselves are derived
from a secret in the data directory (``secrets.json``, mode 0600) and a nonce
per key slot, so an operator who can read the data directory can show a key
again (``tollhouse keys show``) while a copy of the database alone reveals
none.  Regenerating a key changes its nonce.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import orjson

from .errors import TollhouseError

logger = logging.getLogger(__name__)

MASTER_ID = "master"
MASTER_NAME = "Built-in all-access subscription"
ALL_APIS = "/apis"
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,79}")

State = Literal["active", "suspended", "cancelled", "expired", "rejected", "submitted"]
STATES: tuple[State, ...] = (
    "active",
    "suspended",
    "cancelled",
    "expired",
    "rejected",
    "submitted",
)
Slot = Literal["primary", "secondary"]


class SubscriptionError(TollhouseError):
    """A subscription operation was refused (unknown id, bad scope, ...)."""


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    display_name: str
    scope: str
    state: str
    primary_hash: str
    secondary_hash: str
    primary_nonce: str
    secondary_nonce: str
    created_at: str
    updated_at: str

    @property
    def active(self) -> bool:
        return self.state == "active"

    def allows(self, api_id: str, products: dict[str, tuple[str, ...]]) -> bool:
        """Whether this subscription's scope covers the API ``api_id``."""
        if self.scope == ALL_APIS:
            return True
        kind, _, target = self.scope.strip("/").partition("/")
        if kind == "apis":
            return target == api_id
        if kind == "products":
            return api_id in products.get(target, ())
        return False

    @property
    def product_id(self) -> str | None:
        kind, _, target = self.scope.strip("/").partition("/")
        return target if kind == "products" else None


@dataclass(frozen=True)
class KeySecrets:
    """The two secrets behind every key: one derives keys, one hashes them."""

    derive: bytes
    lookup: bytes

    @classmethod
    def load_or_create(cls, data_dir: Path) -> KeySecrets:
        path = data_dir / "secrets.json"
        if path.exists():
            doc = orjson.loads(path.read_bytes())
            return cls(bytes.fromhex(doc["derive"]), bytes.fromhex(doc["lookup"]))
        data_dir.mkdir(parents=True, exist_ok=True)
        made = cls(secrets.token_bytes(32), secrets.token_bytes(32))
        body = orjson.dumps({"derive": made.derive.hex(), "lookup": made.lookup.hex()})
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        return made

    def key(self, subscription_id: str, slot: Slot, nonce: str) -> str:
        """The key of one slot: 32 hex characters, like APIM's."""
        message = f"{subscription_id}\x00{slot}\x00{nonce}".encode()
        return hmac.new(self.derive, message, hashlib.sha256).hexdigest()[:32]

    def hash(self, key: str) -> str:
        """The lookup hash stored for a key."""
        # A header value that is not UTF-8 arrives surrogate-escaped.
        raw = key.encode("utf-8", "surrogateescape")
        return hmac.new(self.lookup, raw, hashlib.sha256).hexdigest()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class SubscriptionStore:
    """Subscriptions in the settings tables of the store."""

    def __init__(self, conn: sqlite3.Connection, key_secrets: KeySecrets) -> None:
        self._conn = conn
        self._secrets = key_secrets

    def ensure_master(self) -> bool:
        """Create the built-in all-access subscription; True if it was new."""
        if self.get(MASTER_ID) is not None:
            return False
        self.create(MASTER_ID, MASTER_NAME, ALL_APIS)
        return True

    def list(self) -> list[Subscription]:
        rows = self._conn.execute("SELECT * FROM subscriptions ORDER BY created_at, id")
        return [Subscription(**dict(row)) for row in rows]

    def get(self, subscription_id: str) -> Subscription | None:
        row = self._conn.execute(
            "SELECT * FROM subscriptions WHERE id = ?", (subscription_id,)
        ).fetchone()
        return Subscription(**dict(row)) if row is not None else None

    def require(self, subscription_id: str) -> Subscription:
        sub = self.get(subscription_id)
        if sub is None:
            raise SubscriptionError(f"no subscription with id {subscription_id!r}")
        return sub

    def create(
        self, subscription_id: str, display_name: str, scope: str
    ) -> Subscription:
        _check_id(subscription_id)
        _check_scope(scope)
        if self.get(subscription_id) is not None:
            raise SubscriptionError(f"subscription {subscription_id!r} already exists")
        nonces = (secrets.token_hex(8), secrets.token_hex(8))
        primary = self._secrets.key(subscription_id, "primary", nonces[0])
        secondary = self._secrets.key(subscription_id, "secondary", nonces[1])
        now = _now()
        with self._conn:
            self._conn.execute(
                "INSERT INTO subscriptions "
                "VALUES (?, ?, ?, 'active', ?, ?, ?, ?, ?, ?)",
                (
                    subscription_id,
                    display_name,
                    scope,
                    self._secrets.hash(primary),
                    self._secrets.hash(secondary),
                    nonces[0],
                    nonces[1],
                    now,
                    now,
                ),
            )
            self._bump_revision()
        return self.require(subscription_id)

    def key(self, subscription_id: str, slot: Slot = "primary") -> str:
        """Derive a subscription's key again, for the operator."""
        sub = self.require(subscription_id)
        nonce = sub.primary_nonce if slot == "primary" else sub.secondary_nonce
        return self._secrets.key(sub.id, slot, nonce)

    def regenerate(self, subscription_id: str, slot: Slot) -> str:
        self.require(subscription_id)
        nonce = secrets.token_hex(8)
        key = self._secrets.key(subscription_id, slot, nonce)
        with self._conn:
            self._conn.execute(
                f"UPDATE subscriptions SET {slot}_hash = ?, {slot}_nonce = ?, "
                "updated_at = ? WHERE id = ?",
                (self._secrets.hash(key), nonce, _now(), subscription_id),
            )
            self._bump_revision()
        return key

    def set_state(self, subscription_id: str, state: State) -> Subscription:
        if state not in STATES:
            raise SubscriptionError(f"unknown state {state!r}")
        self.require(subscription_id)
        with self._conn:
            self._conn.execute(
                "UPDATE subscriptions SET state = ?, updated_at = ? WHERE id = ?",
                (state, _now(), subscription_id),
            )
            self._bump_revision()
        return self.require(subscription_id)

    def revision(self) -> str:
        row = self._conn.execute(
            "SELECT value FROM meta WHERE key = 'subscriptions_revision'"
        ).fetchone()
        return str(row[0]) if row is not None else "0"

    def _bump_revision(self) -> None:
        self._conn.execute(
            "INSERT INTO meta(key, value) VALUES ('subscriptions_revision', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (secrets.token_hex(8),),
        )


def _check_id(subscription_id: str) -> None:
    if not _ID.fullmatch(subscription_id):
        raise SubscriptionError(
            "a subscription id is 1 to 80 letters, digits, '.', '_', '-' or '~', "
            f"starting with a letter or digit; got {subscription_id!r}"
        )


def _check_scope(scope: str) -> None:
    if scope == ALL_APIS:
        return
    kind, _, target = scope[1:].partition("/")
    well_formed = scope.startswith("/") and _ID.fullmatch(target) is not None
    if kind not in ("apis", "products") or not well_formed:
        raise SubscriptionError(
            f"scope must be /apis, /apis/API-ID or /products/PRODUCT-ID, got {scope!r}"
        )


class KeyIndex:
    """The in-memory index the gateway checks keys against.

    Looking a key up hashes it once and finds the hash in a dict; the found
    hash is then compared with ``hmac.compare_digest`` so the answer does not
    depend on how much of a wrong key matched.
    """

    def __init__(self, key_secrets: KeySecrets) -> None:
        self._secrets = key_secrets
        self._by_hash: dict[str, Subscription] = {}
        self._by_id: dict[str, Subscription] = {}
        self.revision = ""

    def load(self, subscriptions: Iterable[Subscription], revision: str) -> None:
        index: dict[str, Subscription] = {}
        by_id: dict[str, Subscription] = {}
        for sub in subscriptions:
            index[sub.primary_hash] = sub
            index[sub.secondary_hash] = sub
            by_id[sub.id] = sub
        self._by_hash, self._by_id = index, by_id
        self.revision = revision

    def by_id(self, subscription_id: str) -> Subscription | None:
        """The subscription ``subscription_id``, as of the last load."""
        return self._by_id.get(subscription_id)

    def find(self, key: str) -> Subscription | None:
        digest = self._secrets.hash(key)
        sub = self._by_hash.get(digest)
        if sub is None:
            return None
        stored = sub.primary_hash if sub.primary_hash == digest else sub.secondary_hash
        return sub if hmac.compare_digest(stored, digest) else None
