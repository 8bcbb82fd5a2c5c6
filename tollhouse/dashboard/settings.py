"""The Settings page: what the LLM log keeps, globally and per API.

    GET  /settings                       the global setting and one card per API:
                                         each field's effective value, the layer
                                         it comes from and the layers it overrides
    POST /settings/global                store the global layer the form gives
    POST /settings/apis/{api}            store an API's layer the form gives
    POST /settings/global/inherit        remove the form's ``field`` from the
    POST /settings/apis/{api}/inherit    stored layer: it inherits again
    POST /settings/global/reset          store ``{}``: back to what the
    POST /settings/apis/{api}/reset      configuration file says

A field left empty (or "inherit" for a switch) is not stored, so the layer
below decides it; the order of the layers is in `tollhouse.diagnostics`.
Every change goes through `DiagnosticsSettings`, as the management API's
``PUT /diagnostics`` does, and applies to the next request logged.  A form
that is not valid is shown again, with each field's reason, as a 400.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from ..config import MAX_BODY_BYTES, MAX_MESSAGE_BYTES, DiagnosticsConfig
from ..diagnostics import (
    FIELDS,
    DiagnosticsSettings,
    InvalidDiagnostics,
    Layer,
    check_layer,
)
from .site import PREFIX, see_other

if TYPE_CHECKING:
    from .site import Dashboard

logger = logging.getLogger(__name__)

GLOBAL = "global"
#: The layers a field can come from, first wins: (key, badge, explanation).
LAYERS = (
    ("api-stored", "API · stored", "the API's setting stored here or by PUT"),
    ("api-file", "API · file", "the API's diagnostics in the configuration file"),
    ("global-stored", "global · stored", "the global setting stored here or by PUT"),
    ("global-file", "global · file", "the file's top-level diagnostics"),
    ("default", "default", "built into Tollhouse"),
)
_BADGES = {key: badge for key, badge, _ in LAYERS}
#: How people see each setting: (label, unit, minimum, maximum).
_SHOWN: dict[str, tuple[str, str, float | None, float | None]] = {
    "log_llm_messages": ("Log LLM messages", "", None, None),
    "max_message_bytes": ("Message size limit", "bytes", 1, MAX_MESSAGE_BYTES),
    "sampling_percentage": ("Sampling", "%", 0, 100),
    "always_log_errors": ("Always log errors", "", None, None),
    "body_bytes": ("Gateway log body size", "bytes", 0, MAX_BODY_BYTES),
}
_DEFAULTS = DiagnosticsConfig()


@dataclass(frozen=True)
class Field:
    """One setting as the page shows it, and how its input reads."""

    name: str
    label: str
    help: str
    kind: str
    """``bool``, ``int`` or ``float``: the type of its value."""
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None


@dataclass
class Row:
    """One field of one scope: effective value, its layer, the form's entry."""

    field: Field
    shown: str
    source: str
    overridden: list[tuple[str, str]]
    """(layer, value shown) of the layers below that also set the field."""
    stored: bool
    inherited: tuple[str, Any]
    """(layer, value) the field has when this scope does not store it."""
    entry: str
    error: str | None = None

    @property
    def placeholder(self) -> str:
        return f"inherit: {_entry(self.inherited[1])}"

    @property
    def inherit_label(self) -> str:
        layer, value = self.inherited
        return f"inherit ({_display(self.field, value)}, {_BADGES[layer]})"


@dataclass
class Card:
    """The setting of one scope: the global one or an API's."""

    key: str
    """``global`` or ``apis/{id}``, as in the management API's paths."""
    title: str
    api: str | None
    rows: list[Row]
    stored: bool
    saved: bool = False
    error: str | None = None

    @property
    def action(self) -> str:
        return f"{PREFIX}/settings/{quote(self.key)}"

    @property
    def anchor(self) -> str:
        return _anchor(self.key)


@dataclass
class Edited:
    """A form that was refused: what it said and why, by field."""

    key: str
    entries: dict[str, str]
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    message: str | None = None


def fields() -> list[Field]:
    """The settings, in the order they are shown."""
    described = {f.name: f for f in dataclasses.fields(DiagnosticsConfig)}
    shown = []
    for name in FIELDS:
        label, unit, minimum, maximum = _SHOWN.get(name, (name, "", None, None))
        default = getattr(_DEFAULTS, name)
        kind = "bool" if isinstance(default, bool) else type(default).__name__
        help_text = str(described[name].metadata.get("help", ""))
        shown.append(Field(name, label, help_text, kind, unit, minimum, maximum))
    return shown


class SettingsPage:
    """The Settings page's routes."""

    def __init__(self, dashboard: Dashboard, settings: DiagnosticsSettings) -> None:
        self._dashboard = dashboard
        self._settings = settings
        self._fields = fields()

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_get("/settings", self._page)
        for scope in ("/settings/global", "/settings/apis/{api}"):
            router.add_post(scope, self._save)
            router.add_post(scope + "/inherit", self._inherit)
            router.add_post(scope + "/reset", self._reset)

    async def _page(self, request: web.Request) -> web.Response:
        return self._show(request, saved=request.query.get("saved"))

    async def _save(self, request: web.Request) -> web.Response:
        key = self._scope(request)
        form = await request.post()
        entries = {f.name: str(form.get(f.name, "")).strip() for f in self._fields}
        layer, errors = self._read(entries)
        if errors:
            logger.info("dashboard refused diagnostics of %s: %s", key, list(errors))
            message = "Not saved: correct the settings marked below."
            edited = Edited(key, entries, errors, message)
            return self._show(request, status=400, edited=edited)
        return self._store(key, layer, "set")

    async def _inherit(self, request: web.Request) -> web.Response:
        key = self._scope(request)
        name = str((await request.post()).get("field", ""))
        if name not in FIELDS:
            raise web.HTTPBadRequest(text="Choose the setting that should inherit.")
        layer = {n: v for n, v in self._stored(key).items() if n != name}
        return self._store(key, layer, f"removed {name} from")

    async def _reset(self, request: web.Request) -> web.Response:
        return self._store(self._scope(request), {}, "reset")

    # Changing a layer ------------------------------------------------------

    def _scope(self, request: web.Request) -> str:
        api = request.match_info.get("api")
        if api is None:
            return GLOBAL
        if api not in self._dashboard.config.apis:
            raise web.HTTPNotFound(text=f"There is no API {api!r}.")
        return f"apis/{api}"

    def _read(self, entries: Mapping[str, str]) -> tuple[Layer, dict[str, str]]:
        """The layer the form's ``entries`` give, and the reason of each refusal."""
        layer: Layer = {}
        errors: dict[str, str] = {}
        for shown in self._fields:
            text = entries[shown.name]
            if not text:
                continue  # inherits
            value = _value(shown, text)
            try:
                layer.update(_checked(shown.name, value))
            except InvalidDiagnostics as exc:
                errors[shown.name] = str(exc)
        return layer, errors

    def _store(self, key: str, layer: Layer, change: str) -> web.Response:
        if key == GLOBAL:
            self._settings.set_global(layer)
        else:
            self._settings.set_api(key.removeprefix("apis/"), layer)
        logger.info(
            "dashboard %s the diagnostics of %s",
            change,
            key,
            extra={"scope": key, "diagnostics": layer},
        )
        anchor = quote(_anchor(key))
        return see_other(f"{PREFIX}/settings?saved={quote(key)}#{anchor}")

    def _stored(self, key: str) -> Layer:
        if key == GLOBAL:
            return dict(self._settings.describe_global()["stored"])
        api = key.removeprefix("apis/")
        return dict(self._settings.describe_api(api)["stored"])

    # Showing ---------------------------------------------------------------

    def _show(
        self,
        request: web.Request,
        *,
        status: int = 200,
        saved: str | None = None,
        edited: Edited | None = None,
    ) -> web.Response:
        cards = [self._card(GLOBAL, None, edited)]
        for api_id in self._dashboard.config.apis:
            cards.append(self._card(f"apis/{api_id}", api_id, edited))
        for card in cards:
            card.saved = card.key == saved
        return self._dashboard.render(
            request,
            "settings.html",
            status=status,
            cards=cards,
            layers=LAYERS,
            badges=_BADGES,
        )

    def _card(self, key: str, api_id: str | None, edited: Edited | None) -> Card:
        layers = self._layers(api_id)
        mine = edited if edited is not None and edited.key == key else None
        rows = [self._row(f, layers, mine) for f in self._fields]
        stored = bool(layers[0][1])
        card = Card(key, self._title(api_id), api_id, rows, stored)
        card.error = mine.message if mine is not None else None
        return card

    def _layers(self, api_id: str | None) -> list[tuple[str, Mapping[str, Any]]]:
        """A scope's layers, first wins, keyed as in LAYERS; its stored one first."""
        described = self._settings.describe_global()
        layers: list[tuple[str, Mapping[str, Any]]] = [
            ("global-stored", described["stored"]),
            ("global-file", described["configured"]),
            ("default", {n: getattr(_DEFAULTS, n) for n in FIELDS}),
        ]
        if api_id is not None:
            api = self._settings.describe_api(api_id)
            layers[:0] = [
                ("api-stored", api["stored"]),
                ("api-file", api["configured"]),
            ]
        return layers

    def _row(
        self,
        shown: Field,
        layers: list[tuple[str, Mapping[str, Any]]],
        edited: Edited | None,
    ) -> Row:
        name = shown.name
        own, stored = layers[0]
        found = [(key, layer[name]) for key, layer in layers if name in layer]
        (source, value), below = found[0], found[1:]
        if edited is not None:
            entry, error = edited.entries[name], edited.errors.get(name)
        else:
            entry, error = _entry(stored.get(name)), None
        return Row(
            field=shown,
            shown=_display(shown, value),
            source=source,
            overridden=[(_BADGES[k], _display(shown, v)) for k, v in below],
            stored=name in stored,
            inherited=next((k, v) for k, v in found if k != own),
            entry=entry,
            error=error,
        )

    def _title(self, api_id: str | None) -> str:
        if api_id is None:
            return "Global"
        api = self._dashboard.config.apis[api_id]
        return api.display_name or api_id


def _anchor(key: str) -> str:
    return "settings-" + key.replace("/", "-")


def _value(shown: Field, text: str) -> Any:
    """The value a form's ``text`` stands for; unreadable text as it is.

    `check_layer` then refuses what is not valid, with the reason the
    management API gives for the same value.
    """
    if shown.kind == "bool":
        return {"true": True, "false": False}.get(text, text)
    try:
        number: int | float = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            return text
    return float(number) if shown.kind == "float" else number


def _checked(name: str, value: Any) -> Layer:
    return check_layer({name: value})


def _entry(value: Any) -> str:
    """A stored value as the form's input holds it; ``""`` when not stored."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _display(shown: Field, value: Any) -> str:
    """A value for people: ``on``, ``2,097,152 bytes (2 MiB)``, ``25 %``."""
    if shown.kind == "bool":
        return "on" if value else "off"
    if shown.unit == "%":
        return f"{_entry(value)} %"
    text = f"{value:,}"
    if shown.unit == "bytes":
        text += " bytes"
        for size, unit in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
            if value >= size:
                text += f" ({value / size:.3g} {unit})"
                break
    return text
