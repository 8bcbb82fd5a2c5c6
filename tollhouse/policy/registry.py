"""The policy documents of one gateway, and the effective one per operation.

The registry loads every document the configuration names (global, product,
API and operation scope) when the gateway starts, so that an invalid one
stops the gateway before it listens.  The effective document of a request,
its scopes merged, depends on the subscription's product, the API and the
operation; it is built on first use and kept.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from ..config import EMBEDDED, GatewayConfig
from ..errors import ConfigError
from ..routing import OPERATIONS, PASSTHROUGH
from .document import Document, Element, Scope, Section
from .loader import (
    DEFAULT_GLOBAL_POLICY,
    PolicyLoader,
    effective,
    fragments_in,
    named_values_from_config,
)

logger = logging.getLogger(__name__)

_OPERATION_IDS = frozenset(op.id for op in (*OPERATIONS, PASSTHROUGH))

Key = tuple[str | None, str, str]
"""Product id (None without one), API id, operation id."""

#: A product's, API's or operation's document as APIM starts it: the parent
#: scope's policies in each section, nothing else.
DEFAULT_SCOPE_POLICY = """\
<policies>
    <inbound>
        <base />
    </inbound>
    <backend>
        <base />
    </backend>
    <outbound>
        <base />
    </outbound>
    <on-error>
        <base />
    </on-error>
</policies>
"""


def write_embedded_documents(config: GatewayConfig) -> list[Path]:
    """Write the embedded default's policy documents that do not exist yet.

    Any other configuration is left alone: its documents are the operator's.
    The written files are returned; an unwritable one raises `ConfigError`.
    """
    if config.source != EMBEDDED:
        return []
    wanted = [(config.policy_file, DEFAULT_GLOBAL_POLICY)]
    wanted += [(api.policy_file, DEFAULT_SCOPE_POLICY) for api in config.apis.values()]
    written = []
    for name, text in wanted:
        if name is None or Path(name).exists():
            continue
        path = Path(name)
        try:
            Path(config.data_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot write the default policy document: {exc.strerror or exc}",
                source=str(path),
            ) from exc
        written.append(path)
    return written


class PolicyRegistry:
    """Loaded documents by scope; `effective` merges them for one request."""

    def __init__(
        self,
        default_global: Document,
        *,
        global_document: Document | None = None,
        products: Mapping[str, Document] | None = None,
        apis: Mapping[str, Document] | None = None,
        operations: Mapping[tuple[str, str], Document] | None = None,
    ) -> None:
        self._global = global_document or default_global
        self._products = dict(products or {})
        self._apis = dict(apis or {})
        self._operations = dict(operations or {})
        self._cache: dict[Key, Document] = {}
        self.configured = bool(
            global_document or self._products or self._apis or self._operations
        )

    @classmethod
    def forwarding(cls) -> PolicyRegistry:
        """No documents: APIM's default global policy, which only forwards."""
        return cls(PolicyLoader().default_global())

    @classmethod
    def load(
        cls, config: GatewayConfig, environ: Mapping[str, str] | None = None
    ) -> PolicyRegistry:
        """Every document ``config`` names; raises `ConfigError` on the first bad one.

        A document with errors raises `InvalidPolicyDocument` (a `ConfigError`)
        listing them all.
        """
        base = config_dir(config)
        embedded = config.source == EMBEDDED
        loader = gateway_loader(config, os.environ if environ is None else environ)
        _check_operation_ids(config)

        def load(path: str | None, scope: Scope) -> Document | None:
            if path is None or (embedded and not (base / path).exists()):
                return None  # the embedded default's, until they are written
            return loader.load(base / path, scope)

        products = {
            pid: load(product.policy_file, Scope.PRODUCT)
            for pid, product in config.products.items()
        }
        apis = {
            aid: load(api.policy_file, Scope.API) for aid, api in config.apis.items()
        }
        operations = {
            (aid, oid): load(op.policy_file, Scope.OPERATION)
            for aid, api in config.apis.items()
            for oid, op in api.operations.items()
        }
        return cls(
            loader.default_global(),
            global_document=load(config.policy_file, Scope.GLOBAL),
            products={k: v for k, v in products.items() if v is not None},
            apis={k: v for k, v in apis.items() if v is not None},
            operations={k: v for k, v in operations.items() if v is not None},
        )

    def effective(
        self, product_id: str | None, api_id: str | None, operation_id: str | None
    ) -> Document:
        """The merged document for a request; global only before an API matched."""
        key = (product_id, api_id or "", operation_id or "")
        found = self._cache.get(key)
        if found is None:
            found = effective(
                self._global,
                self._products.get(product_id) if product_id else None,
                self._apis.get(api_id or ""),
                self._operations.get((api_id or "", operation_id or "")),
            )
            self._cache[key] = found
        return found


def gateway_loader(config: GatewayConfig, environ: Mapping[str, str]) -> PolicyLoader:
    """A loader with the named values, fragments and backends of ``config``."""
    fragments_dir = config.policy_fragments_dir
    return PolicyLoader(
        named_values=named_values_from_config(config, environ),
        fragments=(
            fragments_in(config_dir(config) / fragments_dir) if fragments_dir else {}
        ),
        backends=set(config.backends),
    )


def is_plain_forward(document: Document) -> bool:
    """Whether ``document`` only forwards: APIM's default, nothing else to run."""
    if any(document.section(s) for s in (Section.INBOUND, Section.OUTBOUND)):
        return False
    if document.section(Section.ON_ERROR):
        return False
    backend = document.section(Section.BACKEND)
    return len(backend) == 1 and _bare_forward(backend[0])


def _bare_forward(element: Element) -> bool:
    if element.name != "forward-request":
        return False
    return not any(value.given for value in element.attributes.values())


def config_dir(config: GatewayConfig) -> Path:
    """The directory relative file names of the configuration start from."""
    if config.source and config.source != "command line":
        return Path(config.source).parent
    return Path(".")


def _check_operation_ids(config: GatewayConfig) -> None:
    for aid, api in config.apis.items():
        for oid in api.operations:
            if oid not in _OPERATION_IDS:
                known = ", ".join(sorted(_OPERATION_IDS))
                raise ConfigError(
                    f"unknown operation {oid!r}; operations are {known}",
                    source=config.source,
                    path=f"apis.{aid}.operations.{oid}",
                )
