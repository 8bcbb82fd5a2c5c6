"""The gateway process: start-up, the listener and a draining shutdown.

`Gateway` builds the `Runtime` from a `GatewayConfig`: it opens the store
(running its migrations), makes sure the built-in all-access subscription
exists, starts the log writer, the in-process mock backend when configured,
and the pooled backend transport.  `serve` runs it until SIGTERM or SIGINT,
then stops accepting, lets requests in flight finish and drains every
pending log record into the store before it returns.  SIGHUP reloads the
policy documents, as a change to their files does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
import signal
import socket
import sqlite3
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from aiohttp import web

from . import tokens
from .callers import TrustedProxies, parse_networks
from .config import (
    BackendConfig,
    GatewayConfig,
    resolve_named_values,
    secret_values,
)
from .credentials import (
    AsyncTokenCredential,
    BackendAuth,
    ManagedIdentityTokens,
    backend_auth,
)
from .diagnostics import DiagnosticsSettings
from .errors import TollhouseError
from .listener import Server, malformed_row
from .management.keys import AdminKeys
from .pipeline import Pipeline, key_header
from .policy.engine import Services
from .policy.registry import PolicyRegistry, write_embedded_documents
from .policy.reload import PolicyWatcher
from .routing import Router
from .runtime import Runtime, RuntimeBackend
from .store.sqlite import SqliteSink, connect
from .store.writer import LogRecord, LogSink, LogWriter
from .subscriptions import MASTER_ID, KeyIndex, KeySecrets, SubscriptionStore
from .transport import AiohttpTransport, Transport

if TYPE_CHECKING:
    from .management.api import ManagementApi

logger = logging.getLogger(__name__)

KEY_REFRESH_INTERVAL = 1.0
# Where `mock:` points for each kind of backend, when it names no path.
_MOCK_PATHS = {"azure-openai": "/openai", "openai": "/v1"}
CredentialFactory = Callable[[str], AsyncTokenCredential]


class Gateway:
    """One gateway: its runtime, listener and lifecycle."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        environ: Mapping[str, str] | None = None,
        transport: Transport | None = None,
        credential_factory: CredentialFactory | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.config = config
        self._environ = os.environ if environ is None else environ
        self._transport = transport
        self._credential_factory = credential_factory
        self._out = sys.stderr if out is None else out
        self._runtime: Runtime | None = None
        self._settings: sqlite3.Connection | None = None
        self._subscriptions: SubscriptionStore | None = None
        self._mock_runner: web.AppRunner | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._watching: asyncio.Task[None] | None = None
        self.policy_watcher: PolicyWatcher | None = None
        self.server: Server | None = None
        self.pipeline: Pipeline | None = None
        self.management: ManagementApi | None = None
        self.port = 0  # the listener's, once it listens

    @property
    def runtime(self) -> Runtime:
        assert self._runtime is not None, "the gateway has not started"
        return self._runtime

    @property
    def data_dir(self) -> Path:
        return Path(self.config.data_dir)

    async def start(self) -> None:
        """Open the store, the writer and the backends; raise on bad config."""
        config = self.config
        named = resolve_named_values(config, self._environ)
        # Credentials and policy documents first: a missing or invalid one
        # stops the gateway before it has created anything.
        auths = {
            name: self._auth(name, backend, named)
            for name, backend in config.backends.items()
        }
        for path in write_embedded_documents(config):
            logger.info("wrote the default policy document %s", path)
        policies = PolicyRegistry.load(config, self._environ)
        self._make_data_dir()

        # Settings and subscriptions.
        self._settings = connect(config.database_path)
        key_secrets = KeySecrets.load_or_create(self.data_dir)
        self._subscriptions = SubscriptionStore(self._settings, key_secrets)
        if self._subscriptions.ensure_master():
            self._announce_master_key()
        admin_keys = AdminKeys(self._settings, key_secrets)
        if config.management.enabled and admin_keys.ensure():
            self._announce_admin_key(admin_keys.key())
        keys = KeyIndex(key_secrets)
        self._reload_keys(keys)

        # The log writer, the backends and the runtime that ties them together.
        writer = LogWriter(self._log_sink(), spool_path=self.data_dir / "spool.jsonl")
        writer.start()
        backends = await self._backends(auths)
        transport = self._transport or AiohttpTransport(
            max_connections=max(
                (b.max_connections for b in config.backends.values()), default=256
            )
        )
        self._runtime = Runtime(
            config=config,
            router=Router(config.apis),
            keys=keys,
            backends=backends,
            transport=transport,
            writer=writer,
            product_apis={pid: p.apis for pid, p in config.products.items()},
            policies=policies,
            managed_identity=self._managed_identity(),
            callers=TrustedProxies(parse_networks(config.listener.trusted_proxies)),
            secrets=tuple(secret_values(config, named)),
            key_query_names=frozenset(
                api.subscription_key.query.lower() for api in config.apis.values()
            ),
            key_header_names=frozenset(
                key_header(api).lower() for api in config.apis.values()
            ),
            diagnostics=DiagnosticsSettings(config, self._settings),
        )
        self.pipeline = Pipeline(
            self._runtime,
            Services(
                backend_urls={n: b.base_url for n, b in backends.items()},
                token=self._runtime.managed_identity.token,
            ),
        )
        self.server = Server(
            self.pipeline.handle, access_log=None, on_malformed=self._log_malformed
        )
        if config.management.enabled:
            from .management.api import ManagementApi
            from .management.policies import PolicyAccess

            self.management = ManagementApi(
                config,
                admin_keys,
                self._subscriptions,
                functools.partial(self._reload_keys, keys),
                PolicyAccess(
                    self._environ,
                    lambda: self.runtime.policies,
                    self.reload_policies_now,
                ),
                diagnostics=self._runtime.diagnostics,
                console=self._runtime.console,
                gateway_url=self.local_url,
            )
        self._refresher = asyncio.create_task(self._refresh_keys(keys))
        if policies.configured or config.policy_fragments_dir:
            self.policy_watcher = PolicyWatcher(
                config, self._environ, self._use_policies
            )
            self._watching = asyncio.create_task(self.policy_watcher.run())

    def local_url(self) -> str:
        """Where this process reaches its own listener (the test console)."""
        host = self.config.listener.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def reload_policies(self) -> None:
        """Reload the policy documents now (SIGHUP)."""
        if self.policy_watcher is not None:
            self.policy_watcher.request()

    async def reload_policies_now(self) -> bool:
        """Reload the policy documents as SIGHUP does, and wait for it.

        False when the reload failed (the documents in use stay) or when no
        document is configured, so there is nothing to reload.
        """
        if self.policy_watcher is None:
            return False
        return await self.policy_watcher.reload_now()

    def _use_policies(self, registry: PolicyRegistry) -> None:
        self.runtime.policies = registry

    async def stop(self) -> None:
        """Drain logs and close everything `start` opened."""
        if self.management is not None:
            await self.management.stop()
        for task in (self._refresher, self._watching):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._runtime is not None:
            await self._runtime.transport.close()
            for backend in self._runtime.backends.values():
                await backend.auth.close()
            await self._runtime.managed_identity.close()
            await asyncio.to_thread(self._runtime.writer.close)
        if self._mock_runner is not None:
            await self._mock_runner.cleanup()
        if self._settings is not None:
            self._settings.close()

    def _log_malformed(self, remote: str, status: int, reason: str) -> None:
        region = self.config.listener.region
        row = malformed_row(remote, status, reason, region)
        self.runtime.writer.submit(LogRecord(gateway=row))

    # Start-up steps -------------------------------------------------------

    def _log_sink(self) -> LogSink:
        """Where the log writer stores records: the store's ``kind``."""
        store = self.config.store
        if store.kind == "postgres" and store.dsn:
            from .store.postgres import PostgresSink

            return PostgresSink(store.dsn)
        return SqliteSink(self.config.database_path)

    def _announce_master_key(self) -> None:
        assert self._subscriptions is not None
        key = self._subscriptions.key(MASTER_ID)
        command = self._own_command("keys show master")
        print(
            "Created the built-in all-access subscription (id: master).\n"
            f"Its primary key, shown this once: {key}\n"
            f"Show it again with: {command}",
            file=self._out,
            flush=True,
        )

    def _announce_admin_key(self, key: str) -> None:
        print(
            "Created the management API's admin key.\n"
            f"The admin key, shown this once: {key}\n"
            f"Show it again with: {self._own_command('admin-key')}",
            file=self._out,
            flush=True,
        )

    def _own_command(self, arguments: str) -> str:
        command = f"{_own_command()} {arguments}"
        if self.config.data_dir != ".tollhouse":
            command += f" --data-dir {self.config.data_dir}"
        return command

    def _reload_keys(self, keys: KeyIndex) -> None:
        assert self._subscriptions is not None
        revision = self._subscriptions.revision()
        if revision != keys.revision:
            keys.load(self._subscriptions.list(), revision)

    async def _refresh_keys(self, keys: KeyIndex) -> None:
        # `tollhouse keys ...` changes subscriptions from another process.
        while True:
            await asyncio.sleep(KEY_REFRESH_INTERVAL)
            try:
                self._reload_keys(keys)
            except sqlite3.Error:
                logger.exception("could not reload subscriptions")

    def _make_data_dir(self) -> None:
        # Prompts and completions live here: readable by the owner only.
        try:
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise TollhouseError(
                f"cannot use the data directory {self.data_dir}: {exc.strerror or exc}"
            ) from exc

    async def _backends(
        self, auths: Mapping[str, BackendAuth]
    ) -> dict[str, RuntimeBackend]:
        mock_base = await self._start_mock() if self.config.mock_backend else ""
        backends: dict[str, RuntimeBackend] = {}
        for name, backend in self.config.backends.items():
            url = backend.url
            if url.startswith("mock:"):
                url = mock_base + (url[len("mock:") :] or _MOCK_PATHS[backend.kind])
            backends[name] = RuntimeBackend(
                name=name, config=backend, base_url=url.rstrip("/"), auth=auths[name]
            )
        return backends

    def _managed_identity(self) -> ManagedIdentityTokens:
        factory = self._credential_factory
        if factory is None:
            return ManagedIdentityTokens()
        return ManagedIdentityTokens(
            lambda client_id: factory(f"managed-identity:{client_id or 'system'}")
        )

    def _auth(
        self, name: str, backend: BackendConfig, named: Mapping[str, str]
    ) -> BackendAuth:
        credential = None
        if backend.credentials.type == "entra" and self._credential_factory is not None:
            credential = self._credential_factory(name)
        return backend_auth(
            name, backend, named, self._environ, credential, source=self.config.source
        )

    async def _start_mock(self) -> str:
        from .mock_backend import start_mock

        self._mock_runner, port = await start_mock("127.0.0.1", 0)
        logger.info("built-in mock backend listening on 127.0.0.1:%d", port)
        # The mock counts tokens for every answer: load its tokenizer now, off
        # the event loop, rather than in the first request.
        loop = asyncio.get_running_loop()
        loop.run_in_executor(None, tokens.count_tokens, "warm-up", "gpt-4o")
        return f"http://127.0.0.1:{port}"


def _own_command() -> str:
    """How the operator can run `tollhouse` from here."""
    if shutil.which("tollhouse"):
        return "tollhouse"
    script = Path(sys.argv[0])
    if script.name == "tollhouse" and script.exists():
        return str(script.resolve())
    return f"{sys.executable} -m tollhouse"


# Serving ------------------------------------------------------------------


async def serve(
    gateway: Gateway,
    *,
    ready: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run ``gateway`` until SIGTERM/SIGINT (or ``stop`` is set), then drain.

    The listening socket is bound before anything else, so a port in use
    stops the gateway before it has created its data directory.  On the
    first signal the gateway stops accepting, waits for requests in flight
    up to ``listener.shutdown_timeout`` seconds, then drains its logs; a
    second signal ends the requests in flight at once.
    """
    listener = gateway.config.listener
    management = gateway.config.management
    sock = _bind(listener.host, listener.port)
    try:
        management_sock = (
            _bind(management.host, management.port) if management.enabled else None
        )
    except BaseException:
        sock.close()
        raise
    try:
        await gateway.start()
    except BaseException:
        sock.close()
        if management_sock is not None:
            management_sock.close()
        raise
    assert gateway.server is not None
    runner = web.ServerRunner(gateway.server, handle_signals=False, shutdown_timeout=1)
    await runner.setup()
    await web.SockSite(runner, sock, backlog=1024).start()
    port = gateway.port = int(sock.getsockname()[1])
    logger.info("Tollhouse listening on http://%s:%d", listener.host, port)
    if gateway.management is not None and management_sock is not None:
        await gateway.management.start(management_sock)
    if ready is not None:
        ready(port)

    signals = _Signals(stop, gateway.reload_policies)
    try:
        await signals.first.wait()
    finally:
        await _shut_down(gateway, runner, signals)


def _bind(host: str, port: int) -> socket.socket:
    try:
        return socket.create_server(
            (host, port), family=_family(host), backlog=1024, reuse_port=False
        )
    except OSError as exc:
        raise TollhouseError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from exc


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class _Signals:
    """SIGTERM/SIGINT: the first asks for a graceful stop, the second forces it.

    SIGHUP reloads the policy documents.
    """

    def __init__(
        self, stop: asyncio.Event | None, reload: Callable[[], None] | None = None
    ) -> None:
        self.first = stop if stop is not None else asyncio.Event()
        self.second = asyncio.Event()
        self.installed = False
        if stop is None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, self._received)
                    self.installed = True
            if reload is not None:
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(signal.SIGHUP, reload)

    def _received(self) -> None:
        if self.first.is_set():
            self.second.set()
        self.first.set()


async def _shut_down(
    gateway: Gateway, runner: web.ServerRunner, signals: _Signals
) -> None:
    pipeline = gateway.pipeline
    assert pipeline is not None
    grace = gateway.config.listener.shutdown_timeout
    gateway.runtime.lifecycle.stopping = True
    for site in list(runner.sites):
        await site.stop()
    if gateway.management is not None:
        await gateway.management.stop()
    logger.info(
        "shutting down: stopped listening; waiting up to %.0f s for requests in "
        "flight, then draining logs%s",
        grace,
        " (signal again to stop now)" if signals.installed else "",
    )

    idle = asyncio.create_task(pipeline.wait_idle())
    forced = asyncio.create_task(signals.second.wait())
    await asyncio.wait(
        {idle, forced}, timeout=grace, return_when=asyncio.FIRST_COMPLETED
    )
    if not idle.done():
        cut = pipeline.cancel_in_flight()
        logger.warning("stopping now: %d request(s) in flight cut off", cut)
        await asyncio.wait({idle}, timeout=10)
    idle.cancel()
    forced.cancel()

    await runner.cleanup()
    await gateway.stop()
