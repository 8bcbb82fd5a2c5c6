"""The processes a benchmark runs, and what /proc says about them.

`Service` starts one command (the mock backend, the gateway, a proxy under
comparison) as its own process, optionally pinned to some CPUs, and times
how long it takes until its port accepts a connection.  `cpu_seconds`,
`thread_cpu` and `memory` read the kernel's counters of a running process;
`LoadClient` drives the load generator process (`bench.load`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def tollhouse_command() -> list[str]:
    """How to run ``tollhouse``: the venv's script, else ``python -m``."""
    script = Path(sys.executable).with_name("tollhouse")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "tollhouse"]


class Service:
    """A server process of the benchmark, with its log in a file."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        port: int,
        log_path: Path,
        cpus: set[int] | None = None,
    ) -> None:
        self.name = name
        self.port = port
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        if cpus:
            os.sched_setaffinity(self.process.pid, cpus)
        self.ready_s: float | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = 15.0) -> float:
        """Seconds from spawn until the port accepted a connection."""
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=0.2):
                    self.ready_s = time.perf_counter() - self.started
                    return self.ready_s
            except OSError:
                time.sleep(0.002)
        raise RuntimeError(f"{self.name} not ready in {timeout}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait; returns the exit status (killed if it hangs)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            status = self.process.wait()
        self._log.close()
        return status

    def log_tail(self, lines: int = 20) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def source_state() -> str:
    """The commit under test, and whether ``tollhouse/`` differs from it."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        command = ["git", "--no-optional-locks", "-C", str(root), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--", "tollhouse").splitlines()
    if not changed:
        return head
    return f"{head} + uncommitted changes to {len(changed)} files in tollhouse/"


# /proc -------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of the whole process (all threads, ever)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of the live threads, at ns resolution, in three groups.

    ``loop`` is the main thread (the event loop), ``libuv`` uvloop's worker
    threads (name resolution), ``threads`` every other thread: in the gateway,
    once the tokenizer warm-up has ended, that is the log writer alone.
    Python 3.11 does not name its threads for the kernel, hence the groups.
    """
    totals = {"loop": 0.0, "threads": 0.0, "libuv": 0.0}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            ns = int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError):
            continue  # the thread ended meanwhile
        if int(task.name) == pid:
            group = "loop"
        elif name == "libuv-worker":
            group = "libuv"
        else:
            group = "threads"
        totals[group] += ns / 1e9
    return totals


def busy_seconds(pid: int) -> float:
    """CPU of the live threads, at ns resolution (`cpu_seconds` has 10 ms)."""
    return sum(thread_cpu(pid).values())


def memory(pid: int) -> dict[str, float]:
    """Resident memory now (``rss``) and at its peak (``hwm``), in MB."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key = "rss" if line.startswith("VmRSS") else "hwm"
            values[key] = int(line.split()[1]) / 1024
    return values


# The gateway's configuration, key and log ---------------------------------


def write_gateway_config(
    path: Path, gateway_port: int, mock_port: int, policy_file: Path | None = None
) -> None:
    """A gateway in front of the mock, full message logging (the default).

    The API ``azure-openai`` at ``/openai`` has no policy; with
    ``policy_file``, the same API again at ``/seed`` runs that document.
    """
    text = (
        f"listener: {{host: {HOST}, port: {gateway_port}}}\n"
        "backends:\n"
        f"  mock: {{url: 'http://{HOST}:{mock_port}/openai'}}\n"
        "apis:\n"
        "  azure-openai:\n"
        "    path: openai\n"
        "    backend: mock\n"
        "    diagnostics: {log_llm_messages: true}\n"
    )
    if policy_file is not None:
        text += (
            "  seed:\n"
            "    path: seed\n"
            "    backend: mock\n"
            "    openai_routes: false\n"
            f"    policy_file: {policy_file}\n"
            "    diagnostics: {log_llm_messages: true}\n"
        )
    path.write_text(text)


def subscription_key(data_dir: Path) -> str:
    """The built-in subscription's primary key, as `tollhouse keys show` prints."""
    command = [*tollhouse_command(), "keys", "show", "master"]
    out = subprocess.run(
        [*command, "--data-dir", str(data_dir)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout.strip()


def log_counts(database: Path) -> dict[str, int]:
    """Rows in the gateway log and the LLM log, read without writing."""
    uri = database.resolve().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=5.0)
    try:
        one = conn.execute
        return {
            "gateway": one("SELECT count(*) FROM ApiManagementGatewayLogs").fetchone()[
                0
            ],
            "gateway_not_200": one(
                "SELECT count(*) FROM ApiManagementGatewayLogs"
                " WHERE ResponseCode != 200 OR IsRequestSuccess != 1"
            ).fetchone()[0],
            "llm_usage": one(
                "SELECT count(*) FROM ApiManagementGatewayLlmLog"
                " WHERE SequenceNumber = 0"
            ).fetchone()[0],
            "llm_messages": one(
                "SELECT count(*) FROM ApiManagementGatewayLlmLog"
                " WHERE SequenceNumber > 0"
            ).fetchone()[0],
        }
    finally:
        conn.close()


def gateway_rows(database: Path) -> int:
    """Rows in the gateway log; 0 while the table does not exist yet."""
    try:
        return log_counts(database)["gateway"]
    except sqlite3.Error:
        return 0


# The load generator --------------------------------------------------------


class LoadClient:
    """The `bench.load` process, driven one round at a time."""

    def __init__(self, cpus: set[int] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.load"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        if cpus:
            os.sched_setaffinity(self.process.pid, cpus)
        self._read()

    def round(self, **command: Any) -> dict[str, Any]:
        """Run one round (see `bench.load`) and return its result."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the load generator exited")
        result: dict[str, Any] = json.loads(line)
        return result
