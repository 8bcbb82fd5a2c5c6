"""The management API's admin key.

One admin key per data directory.  Like a subscription key it is derived
from the secret in ``secrets.json`` and a nonce, and the store keeps only the
nonce and an HMAC hash of the key (in the ``meta`` table), so whoever can
read the data directory can show the key again (``tollhouse admin-key``)
while a copy of the database alone reveals nothing.  The key is 64 hex
characters, longer than a subscription key, and is never accepted as one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3

import orjson

from ..errors import TollhouseError
from ..subscriptions import KeySecrets

_META_KEY = "admin_key"


class AdminKeys:
    """The admin key of one store: created, shown, replaced and checked."""

    def __init__(self, conn: sqlite3.Connection, key_secrets: KeySecrets) -> None:
        self._conn = conn
        self._secrets = key_secrets

    def ensure(self) -> bool:
        """Create the admin key unless there is one; True if it was created."""
        with self._conn:
            cursor = self._conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO NOTHING",
                (_META_KEY, self._record(secrets.token_hex(16))),
            )
        return cursor.rowcount == 1

    def key(self) -> str:
        """Derive the admin key again, for the operator."""
        stored = self._stored()
        if stored is None:
            raise TollhouseError("this data directory has no admin key yet")
        return self._derive(stored["nonce"])

    def regenerate(self) -> str:
        """Replace the admin key; the old one is refused from now on."""
        nonce = secrets.token_hex(16)
        with self._conn:
            self._conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (_META_KEY, self._record(nonce)),
            )
        return self._derive(nonce)

    def verify(self, presented: str) -> bool:
        """Whether ``presented`` is the current admin key.

        The stored hash is read on every call, so a key replaced by
        ``tollhouse admin-key --regenerate`` in another process stops working
        at once.
        """
        stored = self._stored()
        if stored is None or not presented:
            return False
        return hmac.compare_digest(stored["hash"], self._secrets.hash(presented))

    def _stored(self) -> dict[str, str] | None:
        row = self._conn.execute(
            "SELECT value FROM meta WHERE key = ?", (_META_KEY,)
        ).fetchone()
        if row is None:
            return None
        record: dict[str, str] = orjson.loads(row[0])
        return record

    def _record(self, nonce: str) -> str:
        digest = self._secrets.hash(self._derive(nonce))
        return orjson.dumps({"nonce": nonce, "hash": digest}).decode()

    def _derive(self, nonce: str) -> str:
        # Subscription keys derive from "ID\0SLOT\0NONCE" with an id that
        # starts with a letter or digit, so this message cannot be one.
        message = f"\x00admin\x00{nonce}".encode()
        return hmac.new(self._secrets.derive, message, hashlib.sha256).hexdigest()
