"""Reloading policy documents while the gateway runs.

The watcher checks the files of every configured document (and the
fragments directory) once a second, and reloads when one changed or when
asked (SIGHUP).  A reload loads everything anew, off the event loop, and
swaps the registry in one assignment: requests in flight finish with the
documents they started with, new ones get the new documents.  A reload that
fails keeps the documents in use and logs every error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from ..config import GatewayConfig
from ..errors import ConfigError
from .registry import PolicyRegistry, config_dir

logger = logging.getLogger(__name__)

Stamp = tuple[tuple[str, int, int], ...]


class PolicyWatcher:
    """Reloads a gateway's policy documents when their files change."""

    def __init__(
        self,
        config: GatewayConfig,
        environ: Mapping[str, str],
        apply: Callable[[PolicyRegistry], None],
        *,
        interval: float = 1.0,
    ) -> None:
        self.config = config
        self.environ = environ
        self.apply = apply
        self.interval = interval
        self.reloads = 0
        self.failures = 0
        self._wake = asyncio.Event()
        self._stamp = self.stamp()

    def request(self) -> None:
        """Reload at once, whether or not a file changed (SIGHUP)."""
        self._wake.set()

    async def run(self) -> None:
        """Watch until cancelled."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            asked = self._wake.is_set()
            self._wake.clear()
            stamp = await asyncio.to_thread(self.stamp)
            if asked or stamp != self._stamp:
                self._stamp = stamp
                await self.reload()

    async def reload_now(self) -> bool:
        """Reload at once and wait for it, for a change the gateway made itself.

        The files are stamped first, so the watch loop does not reload the
        same change a second time.
        """
        self._stamp = await asyncio.to_thread(self.stamp)
        return await self.reload()

    async def reload(self) -> bool:
        """Load every document anew; on success use them, else keep the old."""
        try:
            registry = await asyncio.to_thread(
                PolicyRegistry.load, self.config, self.environ
            )
        except ConfigError as exc:
            self.failures += 1
            logger.error("policy reload failed; the documents in use stay:\n%s", exc)
            return False
        self.apply(registry)
        self.reloads += 1
        logger.info("policy documents reloaded")
        return True

    def files(self) -> list[Path]:
        """The files whose change triggers a reload."""
        config, base = self.config, config_dir(self.config)
        names = [config.policy_file]
        names += [product.policy_file for product in config.products.values()]
        for api in config.apis.values():
            names.append(api.policy_file)
            names += [op.policy_file for op in api.operations.values()]
        found = [base / name for name in names if name is not None]
        if config.policy_fragments_dir:
            found += sorted((base / config.policy_fragments_dir).glob("*.xml"))
        return found

    def stamp(self) -> Stamp:
        """Each file's modification time and size (-1 when it is missing)."""
        stamps = []
        for path in self.files():
            try:
                status = path.stat()
            except OSError:
                stamps.append((str(path), -1, -1))
                continue
            stamps.append((str(path), status.st_mtime_ns, status.st_size))
        return tuple(stamps)
