"""Configuration: every setting declared once, with its type, default and help.

The YAML loader, ``tollhouse serve``'s options and ``docs/configuration.md``
all come from the dataclasses below.  Each field's ``metadata["help"]`` is its
documentation; a test fails when a setting has none or the docs miss it.

A file is validated whole before anything starts: an unknown key, a wrong
type or a reference to a backend that does not exist stops the gateway with
the file, the key path and what is wrong (`ConfigError`).
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .callers import parse_networks
from .errors import ConfigError

AZURE_OPENAI_TEMPLATE = "azure-openai"
PASSTHROUGH_TEMPLATE = "passthrough"
COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"


def setting(default: Any = dataclasses.MISSING, *, help: str, **kwargs: Any) -> Any:
    """A dataclass field that documents itself."""
    if isinstance(default, list | dict):
        raise TypeError("use default_factory for mutable defaults")
    metadata = {"help": help}
    if default is dataclasses.MISSING:
        return field(metadata=metadata, **kwargs)
    return field(default=default, metadata=metadata, **kwargs)


@dataclass(frozen=True)
class ListenerConfig:
    host: str = setting("127.0.0.1", help="Address the gateway listens on.")
    port: int = setting(8080, help="TCP port the gateway listens on.")
    max_request_bytes: int = setting(
        32 * 2**20,
        help="Largest request body accepted; larger ones get 413.",
    )
    body_timeout: float = setting(
        30.0,
        help="Seconds a client may take to send its request body; a slower "
        "one gets 408.",
    )
    region: str = setting(
        "local", help="Written to the Region column, like APIM's gateway region."
    )
    shutdown_timeout: float = setting(
        30.0,
        help="Seconds a stopping gateway waits for requests in flight before "
        "it cuts them off (a second SIGTERM/SIGINT cuts them off at once).",
    )
    trusted_proxies: tuple[str, ...] = setting(
        default_factory=tuple,
        help="Addresses or CIDR ranges of proxies in front of the gateway whose "
        "`X-Forwarded-For` is believed; the caller is otherwise the TCP peer.",
    )


@dataclass(frozen=True)
class ManagementConfig:
    enabled: bool = setting(
        False,
        help="Run the management API (admin key required). The embedded default "
        "turns it on.",
    )
    host: str = setting(
        "127.0.0.1",
        help="Address the management API listens on; anything but loopback "
        "exposes it to the network.",
    )
    port: int = setting(8081, help="TCP port the management API listens on.")
    max_request_bytes: int = setting(
        2**20, help="Largest management request body accepted; larger ones get 413."
    )


@dataclass(frozen=True)
class StoreConfig:
    kind: Literal["sqlite", "postgres"] = setting(
        "sqlite",
        help="Where the gateway log and the LLM log live: `sqlite` (the file "
        "`path`) or `postgres` (the database `dsn`). Settings and subscriptions "
        "stay in the SQLite file.",
    )
    path: str = setting(
        "tollhouse.db", help="SQLite file, relative to the data directory."
    )
    dsn: str | None = setting(
        None,
        help="PostgreSQL connection string for `kind: postgres`, e.g. "
        "`host=db user=tollhouse dbname=tollhouse`; the tables go in the "
        "schema first on its `search_path`.",
    )


@dataclass(frozen=True)
class QueryConfig:
    max_rows: int = setting(
        10_000,
        help="Most rows a KQL query returns; a query with more says it was truncated.",
    )
    timeout_seconds: float = setting(
        10.0, help="Seconds a KQL query may run before it is stopped."
    )


@dataclass(frozen=True)
class NamedValueConfig:
    value: str | None = setting(None, help="The value itself.")
    env: str | None = setting(
        None, help="Take the value from this environment variable at start."
    )
    secret: bool = setting(
        False, help="A secret is never written to logs, errors or the store."
    )


@dataclass(frozen=True)
class CredentialsConfig:
    type: Literal["none", "header", "entra"] = setting(
        "none",
        help="How the gateway authenticates to the backend: `header` (a key in "
        "a header), `entra` (an Entra ID token) or `none`.",
    )
    header: str = setting(
        "api-key",
        help="Header carrying the key for `type: header`; `Authorization` "
        "sends `Bearer <value>`.",
    )
    value: str | None = setting(
        None, help="The key, usually `{{named-value}}`, for `type: header`."
    )
    env: str | None = setting(
        None, help="Environment variable holding the key, for `type: header`."
    )
    client_id: str | None = setting(
        None, help="Client id of a user-assigned managed identity (`entra`)."
    )
    scope: str = setting(
        COGNITIVE_SERVICES_SCOPE, help="Token scope requested for `entra`."
    )


@dataclass(frozen=True)
class TimeoutsConfig:
    connect: float = setting(10.0, help="Seconds to open a backend connection.")
    first_byte: float = setting(
        120.0, help="Seconds from sending the request to the response head."
    )
    idle: float = setting(
        300.0, help="Seconds a stream may stay silent before it is ended."
    )
    total: float = setting(900.0, help="Seconds a whole backend exchange may take.")
    keepalive: float = setting(
        15.0,
        help="Seconds of backend silence after which an SSE keep-alive comment "
        "is sent to the client.",
    )


@dataclass(frozen=True)
class BackendConfig:
    url: str = setting(
        help="Base URL; for Azure OpenAI `https://NAME.openai.azure.com/openai`."
    )
    kind: Literal["azure-openai", "openai"] = setting(
        "azure-openai",
        help="`azure-openai` (deployments in the URL) or `openai` "
        "(OpenAI-compatible: model in the body).",
    )
    credentials: CredentialsConfig = setting(
        default_factory=CredentialsConfig, help="How to authenticate to it."
    )
    timeouts: TimeoutsConfig = setting(
        default_factory=TimeoutsConfig, help="Backend timeouts."
    )
    stream_usage: Literal["auto", "always", "never"] = setting(
        "auto",
        help="Ask for usage in streams (`stream_options.include_usage`) when the "
        "client did not: `auto` does so where the api-version accepts it, "
        "`always` everywhere, `never` nowhere.",
    )
    max_connections: int = setting(
        256, help="Pooled keep-alive connections to this backend."
    )
    max_response_bytes: int = setting(
        64 * 2**20,
        help="Largest response body relayed whole (not streamed); a larger "
        "one ends the request with 500.",
    )


@dataclass(frozen=True)
class SubscriptionKeyConfig:
    header: str | None = setting(
        None,
        help="Header carrying the subscription key (default `api-key` for the "
        "Azure OpenAI template, `Ocp-Apim-Subscription-Key` otherwise).",
    )
    query: str = setting(
        "subscription-key", help="Query parameter carrying the subscription key."
    )


#: The largest ``max_message_bytes``: a logged message of 1 GiB.
MAX_MESSAGE_BYTES = 2**30
#: The largest ``body_bytes``, as in APIM's diagnostics.
MAX_BODY_BYTES = 8192


@dataclass(frozen=True)
class DiagnosticsConfig:
    log_llm_messages: bool = setting(
        True, help="Store prompts and completions in the LLM log."
    )
    max_message_bytes: int = setting(
        2 * 2**20, help="Each logged message is cut to this size, with a marker."
    )
    sampling_percentage: float = setting(
        100.0, help="Share of requests whose messages are stored (0-100)."
    )
    always_log_errors: bool = setting(
        True, help="Store the body of failed responses, whatever the sampling."
    )
    body_bytes: int = setting(
        0,
        help="First bytes of each request and response body kept in the gateway "
        "log's RequestBody and ResponseBody; 0 keeps none.",
    )
    # The fields the file gave; None (built in code) means those that differ
    # from the defaults.  An API's given fields override the global setting.
    given: frozenset[str] | None = field(
        default=None, compare=False, metadata={"internal": True}
    )


@dataclass(frozen=True)
class OperationConfig:
    policy_file: str | None = setting(
        None,
        help="APIM policy document at operation scope (relative to the config).",
    )


@dataclass(frozen=True)
class DeploymentConfig:
    model: str | None = setting(
        None, help="Model name sent to an `openai` backend for this deployment."
    )


@dataclass(frozen=True)
class ApiConfig:
    path: str = setting(help="Base path of the API, e.g. `openai`.")
    backend: str = setting(help="Name of the backend the API forwards to.")
    template: Literal["azure-openai", "passthrough"] = setting(
        AZURE_OPENAI_TEMPLATE,
        help="`azure-openai` creates the Azure OpenAI operations; "
        "`passthrough` forwards every path.",
    )
    display_name: str | None = setting(None, help="Name shown to people.")
    subscription_required: bool = setting(
        True, help="Refuse calls without a valid subscription key."
    )
    subscription_key: SubscriptionKeyConfig = setting(
        default_factory=SubscriptionKeyConfig,
        help="Where clients put their subscription key.",
    )
    default_api_version: str | None = setting(
        None,
        help="api-version added when a client leaves it out; without it such "
        "calls get 400.",
    )
    deployments: dict[str, DeploymentConfig] = setting(
        default_factory=dict,
        help="Known deployments; when set, others get 404 and `/v1` calls map "
        "`model` to them.",
    )
    policy_file: str | None = setting(
        None, help="APIM policy document at API scope (relative to the config)."
    )
    operations: dict[str, OperationConfig] = setting(
        default_factory=dict,
        help="Settings per operation id (`ChatCompletions_Create`, ...).",
    )
    diagnostics: DiagnosticsConfig = setting(
        default_factory=DiagnosticsConfig, help="What is logged for this API."
    )
    openai_routes: bool = setting(
        True,
        help="Also serve OpenAI-style `/v1/...` calls at the root for this API.",
    )


@dataclass(frozen=True)
class ProductConfig:
    apis: tuple[str, ...] = setting(
        default_factory=tuple, help="APIs that subscriptions to it may call."
    )
    display_name: str | None = setting(None, help="Name shown to people.")
    policy_file: str | None = setting(
        None,
        help="APIM policy document at product scope, run for calls made with a "
        "subscription to this product.",
    )


@dataclass(frozen=True)
class GatewayConfig:
    """The whole configuration of one gateway."""

    listener: ListenerConfig = setting(
        default_factory=ListenerConfig, help="The gateway listener."
    )
    data_dir: str = setting(
        ".tollhouse", help="Directory for the database, secrets and spool."
    )
    management: ManagementConfig = setting(
        default_factory=ManagementConfig, help="The management API listener."
    )
    store: StoreConfig = setting(default_factory=StoreConfig, help="The store.")
    query: QueryConfig = setting(
        default_factory=QueryConfig, help="Limits of KQL queries."
    )
    named_values: dict[str, NamedValueConfig] = setting(
        default_factory=dict, help="Values referenced as `{{name}}`."
    )
    backends: dict[str, BackendConfig] = setting(
        default_factory=dict, help="Backends by name."
    )
    apis: dict[str, ApiConfig] = setting(default_factory=dict, help="APIs by id.")
    diagnostics: DiagnosticsConfig = setting(
        default_factory=DiagnosticsConfig,
        help="What is logged for every API; an API's own `diagnostics` "
        "override it field by field.",
    )
    products: dict[str, ProductConfig] = setting(
        default_factory=dict, help="Products by id."
    )
    policy_file: str | None = setting(
        None,
        help="APIM policy document at global scope (relative to the config); "
        "without one, the global policy forwards every request.",
    )
    policy_fragments_dir: str | None = setting(
        None,
        help="Directory of policy fragments for `include-fragment`, one "
        "`<fragment-id>.xml` file each (relative to the config).",
    )
    mock_backend: bool = setting(
        False,
        help="Run the built-in mock backend in-process; a backend whose url is "
        "`mock:` points at it (`mock:` alone means `/openai` for `azure-openai` "
        "backends and `/v1` for `openai` ones).",
    )
    source: str = field(default="", compare=False, metadata={"internal": True})

    @property
    def database_path(self) -> Path:
        return Path(self.data_dir) / self.store.path


#: The ``source`` of `embedded_default`'s configuration.
EMBEDDED = "embedded default"


def embedded_default(data_dir: str = ".tollhouse") -> GatewayConfig:
    """The configuration `tollhouse serve` runs without a file.

    Its global and API policy documents live in ``DATA_DIR/policies``, written
    with APIM's defaults on first start (`write_embedded_documents`), so
    that they can be edited from the dashboard or in a text editor.
    """
    policies = Path(data_dir) / "policies"
    return GatewayConfig(
        data_dir=data_dir,
        mock_backend=True,
        management=ManagementConfig(enabled=True),
        backends={"mock": BackendConfig(url="mock:/openai")},
        policy_file=str(policies / "global.xml"),
        apis={
            "azure-openai": ApiConfig(
                path="openai",
                backend="mock",
                display_name="Azure OpenAI",
                deployments={"gpt-4o-deployment": DeploymentConfig(model="gpt-4o")},
                policy_file=str(policies / "azure-openai.xml"),
            )
        },
        source=EMBEDDED,
    )


# Loading ------------------------------------------------------------------

_NAMED_VALUE = re.compile(r"\{\{\s*([A-Za-z0-9._-]+)\s*\}\}")


def load_config(path: str | os.PathLike[str]) -> GatewayConfig:
    """Read and validate a YAML configuration file."""
    source = str(path)
    try:
        with open(path, encoding="utf-8") as stream:
            document = yaml.load(stream, Loader=_StrictLoader)
    except OSError as exc:
        raise ConfigError(
            f"cannot read the file: {exc.strerror}", source=source
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", source=source) from exc
    except ConfigError as exc:
        raise ConfigError(exc.message, source=source, path=exc.path) from None
    if document is None:
        document = {}
    built: GatewayConfig = _build(GatewayConfig, document, "", source)
    config = dataclasses.replace(built, source=source)
    validate(config)
    return config


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                mark = key_node.start_mark
                raise ConfigError(
                    f"{key!r} is given twice in one mapping "
                    f"(line {mark.line + 1}, column {mark.column + 1})",
                    path=str(key),
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _build(cls: type[Any], data: Any, path: str, source: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"expected a mapping, got {_kind(data)}", source=source, path=path
        )
    hints = typing.get_type_hints(cls)
    fields = {
        f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")
    }
    values: dict[str, Any] = {}
    for key, raw in data.items():
        name = str(key).replace("-", "_")
        where = f"{path}.{key}" if path else str(key)
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(
                f"unknown setting (known: {known})", source=source, path=where
            )
        values[name] = _convert(hints[name], raw, where, source)
    for name, f in fields.items():
        if name not in values and _required(f):
            where = f"{path}.{name}" if path else name
            raise ConfigError("required setting is missing", source=source, path=where)
    if any(f.name == "given" for f in dataclasses.fields(cls)):
        values["given"] = frozenset(values)
    return cls(**values)


def _required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _convert(hint: Any, raw: Any, path: str, source: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(typing.cast(type[Any], hint), raw, path, source)
    if origin in (types.UnionType, typing.Union):
        return _convert_optional(args, raw, path, source)
    if origin is Literal:
        if raw not in args:
            allowed = ", ".join(repr(a) for a in args)
            raise ConfigError(
                f"must be one of {allowed}, got {raw!r}", source=source, path=path
            )
        return raw
    if origin is dict:
        return _convert_dict(args[1], raw, path, source)
    if origin is tuple:
        return _convert_tuple(args[0], raw, path, source)
    return _convert_scalar(hint, raw, path, source)


def _convert_optional(args: tuple[Any, ...], raw: Any, path: str, source: str) -> Any:
    if raw is None:
        return None
    inner = next(a for a in args if a is not type(None))
    return _convert(inner, raw, path, source)


def _convert_dict(value_hint: Any, raw: Any, path: str, source: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"expected a mapping, got {_kind(raw)}", source=source, path=path
        )
    return {
        str(k): _convert(value_hint, {} if v is None else v, f"{path}.{k}", source)
        for k, v in raw.items()
    }


def _convert_tuple(item_hint: Any, raw: Any, path: str, source: str) -> tuple[Any, ...]:
    if not isinstance(raw, list):
        raise ConfigError(
            f"expected a list, got {_kind(raw)}", source=source, path=path
        )
    return tuple(
        _convert(item_hint, item, f"{path}[{i}]", source) for i, item in enumerate(raw)
    )


def _convert_scalar(hint: Any, raw: Any, path: str, source: str) -> Any:
    if hint is float and isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    if hint is str and isinstance(raw, int | float) and not isinstance(raw, bool):
        return str(raw)
    if isinstance(raw, hint) and not (hint is int and isinstance(raw, bool)):
        return raw
    raise ConfigError(
        f"expected {hint.__name__}, got {_kind(raw)} {raw!r}", source=source, path=path
    )


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )


# Validation ---------------------------------------------------------------


def validate(config: GatewayConfig) -> None:
    """Check the references between sections; raise `ConfigError` on the first."""
    source = config.source
    _check_port(config.listener.port, source)
    _check_port(config.management.port, source, "management.port")
    _check_trusted_proxies(config.listener.trusted_proxies, source)
    scopes = [("diagnostics", config.diagnostics)] + [
        (f"apis.{name}.diagnostics", api.diagnostics)
        for name, api in config.apis.items()
    ]
    for where, diagnostics in scopes:
        _check_diagnostics(diagnostics, source, where)
    for name, api in config.apis.items():
        if api.backend not in config.backends:
            raise ConfigError(
                f"backend {api.backend!r} is not defined under backends",
                source=source,
                path=f"apis.{name}.backend",
            )
    _check_paths_unique(config)
    _check_openai_routes(config)
    _check_numbers(config)
    _check_store(config.store, source)
    for name, backend in config.backends.items():
        _check_backend(config, name, backend)
    for name, product in config.products.items():
        for i, api_id in enumerate(product.apis):
            if api_id not in config.apis:
                raise ConfigError(
                    f"API {api_id!r} is not defined under apis",
                    source=source,
                    path=f"products.{name}.apis[{i}]",
                )


def _check_port(port: int, source: str, path: str = "listener.port") -> None:
    if not 0 <= port <= 65535:
        raise ConfigError("must be between 0 and 65535", source=source, path=path)


def _check_trusted_proxies(values: tuple[str, ...], source: str) -> None:
    for index, value in enumerate(values):
        try:
            parse_networks([value])
        except ValueError as exc:
            raise ConfigError(
                str(exc), source=source, path=f"listener.trusted_proxies[{index}]"
            ) from None


def _check_store(store: StoreConfig, source: str) -> None:
    if store.kind == "postgres" and not store.dsn:
        raise ConfigError("`kind: postgres` needs `dsn`", source=source, path="store")


def _check_paths_unique(config: GatewayConfig) -> None:
    seen: dict[str, str] = {}
    for name, api in config.apis.items():
        key = api.path.strip("/")
        if key in seen:
            raise ConfigError(
                f"path {api.path!r} is already used by API {seen[key]!r}",
                source=config.source,
                path=f"apis.{name}.path",
            )
        seen[key] = name


def _check_openai_routes(config: GatewayConfig) -> None:
    serving = [
        name
        for name, api in config.apis.items()
        if api.template == AZURE_OPENAI_TEMPLATE and api.openai_routes
    ]
    if len(serving) > 1:
        raise ConfigError(
            f"APIs {', '.join(map(repr, serving))} would all serve the root /v1 "
            "routes; set `openai_routes: false` on all but one",
            source=config.source,
            path=f"apis.{serving[1]}.openai_routes",
        )


def _check_numbers(config: GatewayConfig) -> None:
    checks: list[tuple[str, float]] = [
        ("listener.max_request_bytes", config.listener.max_request_bytes),
        ("management.max_request_bytes", config.management.max_request_bytes),
        ("listener.shutdown_timeout", config.listener.shutdown_timeout + 1e-9),
    ]
    for name, backend in config.backends.items():
        timeouts = backend.timeouts
        for key in ("connect", "first_byte", "idle", "total", "keepalive"):
            checks.append((f"backends.{name}.timeouts.{key}", getattr(timeouts, key)))
        checks.append((f"backends.{name}.max_connections", backend.max_connections))
        checks.append(
            (f"backends.{name}.max_response_bytes", backend.max_response_bytes)
        )
    checks.append(("listener.body_timeout", config.listener.body_timeout))
    checks.append(("query.max_rows", config.query.max_rows))
    checks.append(("query.timeout_seconds", config.query.timeout_seconds))
    for path, value in checks:
        if value <= 0:
            raise ConfigError("must be greater than 0", source=config.source, path=path)


def _check_diagnostics(diagnostics: DiagnosticsConfig, source: str, where: str) -> None:
    bounds = [
        ("sampling_percentage", 0, 100),
        ("max_message_bytes", 1, MAX_MESSAGE_BYTES),
        ("body_bytes", 0, MAX_BODY_BYTES),
    ]
    for name, low, high in bounds:
        if not low <= getattr(diagnostics, name) <= high:
            raise ConfigError(
                f"must be between {low} and {high}",
                source=source,
                path=f"{where}.{name}",
            )


def _check_backend(config: GatewayConfig, name: str, backend: BackendConfig) -> None:
    where = f"backends.{name}"
    url = backend.url
    if url.startswith("mock:"):
        if url[len("mock:") :][:1] not in ("", "/"):
            raise ConfigError(
                f"a mock URL is `mock:` or `mock:/PATH`, got {url!r}",
                source=config.source,
                path=f"{where}.url",
            )
        if not config.mock_backend:
            raise ConfigError(
                "a `mock:` url needs `mock_backend: true`",
                source=config.source,
                path=f"{where}.url",
            )
    elif not re.match(r"^https?://[^/\s]+", url):
        raise ConfigError(
            f"must be an http:// or https:// URL, got {url!r}",
            source=config.source,
            path=f"{where}.url",
        )
    creds = backend.credentials
    if creds.type == "header" and not (creds.value or creds.env):
        raise ConfigError(
            "`type: header` needs `value` or `env`",
            source=config.source,
            path=f"{where}.credentials",
        )
    for ref in _NAMED_VALUE.findall(creds.value or ""):
        if ref not in config.named_values:
            raise ConfigError(
                f"named value {ref!r} is not defined under named_values",
                source=config.source,
                path=f"{where}.credentials.value",
            )


# Named values -------------------------------------------------------------


def resolve_named_values(
    config: GatewayConfig, environ: Mapping[str, str]
) -> dict[str, str]:
    """The named values' current values; a missing environment variable is an error."""
    values: dict[str, str] = {}
    for name, nv in config.named_values.items():
        if nv.env is not None:
            if nv.env not in environ:
                raise ConfigError(
                    f"environment variable {nv.env} is not set",
                    source=config.source,
                    path=f"named_values.{name}.env",
                )
            values[name] = environ[nv.env]
        elif nv.value is not None:
            values[name] = nv.value
        else:
            raise ConfigError(
                "needs `value` or `env`",
                source=config.source,
                path=f"named_values.{name}",
            )
    return values


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace each ``{{name}}`` in ``text`` with its named value."""
    return _NAMED_VALUE.sub(lambda m: values[m.group(1)], text)


def secret_values(config: GatewayConfig, values: Mapping[str, str]) -> list[str]:
    """Values that must never appear in any log or error."""
    return [
        values[n] for n, nv in config.named_values.items() if nv.secret and n in values
    ]


def iter_settings(
    cls: type[Any] = GatewayConfig, prefix: str = ""
) -> list[tuple[str, str]]:
    """Every documented setting as (key path, help), for the docs and their test."""
    rows: list[tuple[str, str]] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        path = f"{prefix}{f.name}"
        rows.append((path, f.metadata.get("help", "")))
        hint = hints[f.name]
        nested = _nested_dataclass(hint)
        if nested is not None:
            infix = ".NAME." if typing.get_origin(hint) is dict else "."
            rows.extend(iter_settings(nested, path + infix))
    return rows


def _nested_dataclass(hint: Any) -> type[Any] | None:
    if dataclasses.is_dataclass(hint):
        return typing.cast(type[Any], hint)
    if typing.get_origin(hint) is dict:
        value = typing.get_args(hint)[1]
        if dataclasses.is_dataclass(value):
            return typing.cast(type[Any], value)
    return None
