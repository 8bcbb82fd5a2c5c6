"""Diagnostics settings: what the LLM log keeps, per API, changed at run time.

Each field of an API's setting comes from the first of these that has it:

1. the API's setting stored by the management API (``PUT
   /apis/{api}/diagnostics``);
2. the API's ``apis.NAME.diagnostics`` in the configuration file;
3. the global setting stored by the management API (``PUT /diagnostics``);
4. the file's top-level ``diagnostics``;
5. the built-in default.

The stored layers live in the settings database's ``meta`` table, so they
survive a restart; a change applies to the next request logged.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from collections.abc import Mapping
from typing import Any

import orjson

from .config import MAX_BODY_BYTES, MAX_MESSAGE_BYTES, DiagnosticsConfig, GatewayConfig
from .errors import TollhouseError

logger = logging.getLogger(__name__)

_META_KEY = "diagnostics"
_DEFAULTS = DiagnosticsConfig()

#: The settings' names, in the order they are shown.
FIELDS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(DiagnosticsConfig) if f.name != "given"
)

#: The integer settings' least and greatest values, as the file allows them.
INTEGER_BOUNDS = {
    "max_message_bytes": (1, MAX_MESSAGE_BYTES),
    "body_bytes": (0, MAX_BODY_BYTES),
}

Layer = dict[str, Any]


class InvalidDiagnostics(TollhouseError):
    """A stored setting that is not valid; the message says which and why."""


def check_layer(body: Mapping[str, Any]) -> Layer:
    """``body`` as a layer of settings, or `InvalidDiagnostics` saying why not."""
    for name, value in body.items():
        if name not in FIELDS:
            known = ", ".join(FIELDS)
            raise InvalidDiagnostics(
                f"Unknown setting {name!r}; the settings are {known}."
            )
        _check_value(name, value)
    return dict(body)


def _check_value(name: str, value: Any) -> None:
    if name in ("log_llm_messages", "always_log_errors"):
        if not isinstance(value, bool):
            raise InvalidDiagnostics(f"{name!r} must be true or false.")
        return
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if name == "sampling_percentage":
        if not number or not 0 <= value <= 100:
            raise InvalidDiagnostics(f"{name!r} must be a number from 0 to 100.")
        return
    low, high = INTEGER_BOUNDS[name]
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not low <= value <= high
    ):
        raise InvalidDiagnostics(f"{name!r} must be an integer from {low} to {high}.")


def file_layer(diagnostics: DiagnosticsConfig) -> Layer:
    """The fields a configuration file gave (or that differ from the defaults)."""
    given = diagnostics.given
    if given is None:
        given = frozenset(
            n for n in FIELDS if getattr(diagnostics, n) != getattr(_DEFAULTS, n)
        )
    return {n: getattr(diagnostics, n) for n in FIELDS if n in given}


class DiagnosticsSettings:
    """The effective diagnostics of every API, the file's layered with the store's.

    `for_api` is what the LLM log reads for each request; `set_global` and
    `set_api` store a layer and rebuild the effective settings at once.
    """

    def __init__(
        self, config: GatewayConfig, conn: sqlite3.Connection | None = None
    ) -> None:
        self._config = config
        self._conn = conn
        self._stored: dict[str, Any] = {"global": {}, "apis": {}}
        self._effective: dict[str, DiagnosticsConfig] = {}
        if conn is not None:
            self._stored = self._load(conn)
        self._rebuild()

    def for_api(self, api_id: str) -> DiagnosticsConfig:
        """The setting a request to ``api_id`` is logged with."""
        found = self._effective.get(api_id)
        return found if found is not None else self._global()

    def describe_global(self) -> dict[str, Any]:
        """The global setting: effective values and the stored layer."""
        return {
            "effective": _values(self._global()),
            "configured": file_layer(self._config.diagnostics),
            "stored": dict(self._stored["global"]),
        }

    def describe_api(self, api_id: str) -> dict[str, Any]:
        """An API's effective setting and where each overriding field comes from."""
        stored = self._stored["apis"].get(api_id, {})
        configured = file_layer(self._config.apis[api_id].diagnostics)
        overrides = {n: "configuration" for n in configured}
        overrides.update({n: "store" for n in stored})
        return {
            "api": api_id,
            "effective": _values(self.for_api(api_id)),
            "overrides": {n: overrides[n] for n in FIELDS if n in overrides},
            "configured": configured,
            "stored": dict(stored),
        }

    def set_global(self, layer: Mapping[str, Any]) -> None:
        """Replace the stored global layer (``{}`` removes it)."""
        self._save({**self._stored, "global": check_layer(layer)})

    def set_api(self, api_id: str, layer: Mapping[str, Any]) -> None:
        """Replace the stored layer of ``api_id`` (``{}`` removes it)."""
        apis = dict(self._stored["apis"])
        apis[api_id] = check_layer(layer)
        if not apis[api_id]:
            del apis[api_id]
        self._save({**self._stored, "apis": apis})

    # Layers ------------------------------------------------------------

    def _global(self) -> DiagnosticsConfig:
        layer = {**file_layer(self._config.diagnostics), **self._stored["global"]}
        return DiagnosticsConfig(**layer)

    def _rebuild(self) -> None:
        base = _values(self._global())
        effective = {}
        for api_id, api in self._config.apis.items():
            layer = {
                **base,
                **file_layer(api.diagnostics),
                **self._stored["apis"].get(api_id, {}),
            }
            effective[api_id] = DiagnosticsConfig(**layer)
        # One assignment: a request reads either the old or the new settings.
        self._effective = effective

    def _load(self, conn: sqlite3.Connection) -> dict[str, Any]:
        row = conn.execute(
            "SELECT value FROM meta WHERE key = ?", (_META_KEY,)
        ).fetchone()
        empty: dict[str, Any] = {"global": {}, "apis": {}}
        if row is None:
            return empty
        try:
            stored = orjson.loads(row[0])
            layers = {
                "global": check_layer(stored.get("global", {})),
                "apis": {
                    api: check_layer(layer)
                    for api, layer in stored.get("apis", {}).items()
                    if api in self._config.apis
                },
            }
        except (orjson.JSONDecodeError, AttributeError, InvalidDiagnostics) as exc:
            logger.warning("stored diagnostics settings ignored: %s", exc)
            return empty
        return layers

    def _save(self, stored: dict[str, Any]) -> None:
        if self._conn is not None:
            with self._conn:
                self._conn.execute(
                    "INSERT INTO meta(key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (_META_KEY, orjson.dumps(stored).decode()),
                )
        self._stored = stored
        self._rebuild()
        logger.info("diagnostics settings changed", extra={"diagnostics": stored})


def _values(diagnostics: DiagnosticsConfig) -> dict[str, Any]:
    return {n: getattr(diagnostics, n) for n in FIELDS}
