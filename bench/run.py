"""The gateway against the mock backend called directly, in one run.

    python -m bench.run [--quick] [--requests N] [--rounds R] [--no-pin]

Starts the mock backend (``tollhouse mock-backend``) and the gateway
(``tollhouse serve`` with full message logging, the mock as its one backend)
as processes of their own, and the load generator (`bench.load`) as a third.
Each scenario (chat completion and streamed chat completion, at concurrency
1 and 64) runs in rounds that alternate direct and gateway (A/B, then B/A)
so that the machine's noise hits both sides alike.

Around each gateway round the harness reads the gateway's CPU counters and,
before reading them the second time, waits until the round's rows are in
the log, so that the log writer's work is counted with the requests that
caused it.  At the end the gateway gets SIGTERM (it drains its log queue),
and the rows in the log must equal the requests sent to the gateway:
otherwise the run fails.  Figures are printed as Markdown and saved in
``bench/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import report
from .load import build_request
from .procs import (
    HOST,
    LoadClient,
    Service,
    busy_seconds,
    cpu_seconds,
    free_port,
    gateway_rows,
    log_counts,
    memory,
    source_state,
    subscription_key,
    thread_cpu,
    tollhouse_command,
    write_gateway_config,
)

RESULTS = Path(__file__).resolve().parent / "results"
PATH = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
# The same operation through an API that runs the seed's policy document.
POLICY_PATH = "/seed/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
SEED_POLICY = (
    Path(__file__).resolve().parent.parent
    / "tests"
    / "policy"
    / "data"
    / "seed-ip-restriction.xml"
)
# The seed's placeholders: the load generator calls from 127.0.0.1.
SEED_VALUES = {
    "YOUR_OFFICE_IP_START": "127.0.0.1",
    "YOUR_OFFICE_IP_END": "127.0.0.1",
    "YOUR_INTERNAL_NETWORK_START": "10.0.0.1",
    "YOUR_INTERNAL_NETWORK_END": "10.255.255.254",
    "YOUR_OPENAI_BACKEND_ID": "mock",
}
# A short conversation; the mock echoes the user's text, 8 characters per
# streamed event, so a stream carries 22 events (11.7 KB).
PROMPT = (
    "Summarize the trade-offs of putting an API gateway in front of a model "
    "endpoint: latency, logging, quotas and keys, in three short sentences."
)
LOG_WAIT_S = 5.0


@dataclass(frozen=True)
class Scenario:
    name: str
    stream: bool
    concurrency: int


SCENARIOS = (
    Scenario("chat c=1", False, 1),
    Scenario("chat c=64", False, 64),
    Scenario("stream c=1", True, 1),
    Scenario("stream c=64", True, 64),
)
POLICY_SCENARIOS = (
    Scenario("chat c=1", False, 1),
    Scenario("chat c=64", False, 64),
    Scenario("stream c=64", True, 64),
)


def seed_policy() -> str:
    """The walkthrough's IP restriction policy, its placeholders filled in."""
    text = SEED_POLICY.read_text(encoding="utf-8")
    for placeholder, value in SEED_VALUES.items():
        text = text.replace(placeholder, value)
    return text


def body(stream: bool) -> bytes:
    messages = [
        {"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": PROMPT},
    ]
    document: dict[str, Any] = {"messages": messages, "max_tokens": 200}
    if stream:
        document["stream"] = True
    return json.dumps(document, separators=(",", ":")).encode()


class Bench:
    """One run: the mock, the gateway, the load generator and the rounds.

    The processes start here and stop when ``stack`` closes.  ``launcher``
    is how the gateway's ``tollhouse`` is run (a profiler may wrap it).
    """

    def __init__(
        self,
        args: argparse.Namespace,
        workdir: Path,
        stack: ExitStack,
        launcher: list[str] | None = None,
    ) -> None:
        self.args = args
        self.launcher = launcher or tollhouse_command()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = workdir / "data"
        self.config_path = workdir / "gateway.yaml"
        self.mock_port, self.gateway_port = free_port(), free_port()
        self.gateway_sent = 0
        cpus = sorted(os.sched_getaffinity(0))
        pin = not args.no_pin and len(cpus) >= 2
        # The gateway gets a core of its own; mock and client share the other.
        self.gateway_cpus = {cpus[-1]} if pin else None
        self.other_cpus = {cpus[0]} if pin else None

        # The mock first, so that the gateway's start is timed alone.
        mock_cmd = [*tollhouse_command(), "mock-backend", "--port"]
        self.mock = Service(
            "mock",
            [*mock_cmd, str(self.mock_port)],
            self.mock_port,
            workdir / "mock.log",
            self.other_cpus,
        )
        stack.callback(self.mock.stop)
        self.mock.wait_ready()

        policy = workdir / "seed-policy.xml"
        policy.write_text(seed_policy(), encoding="utf-8")
        write_gateway_config(
            self.config_path, self.gateway_port, self.mock_port, policy
        )
        self.gateway = self.start_gateway()
        stack.callback(lambda: self.gateway.stop())
        self.ready_s = self.gateway.wait_ready()
        self.rss_at_ready_mb = memory(self.gateway.pid)["rss"]

        key = subscription_key(self.data_dir)
        self.requests = {
            target: {
                stream: build_request(HOST, port, path, body(stream), headers)
                for stream in (False, True)
            }
            for target, port, path, headers in (
                ("direct", self.mock_port, PATH, {"api-key": "backend-key"}),
                ("gateway", self.gateway_port, PATH, {"api-key": key}),
                ("policy", self.gateway_port, POLICY_PATH, {"api-key": key}),
            )
        }
        self.client = LoadClient(self.other_cpus)
        stack.callback(self.client.close)

    def start_gateway(self) -> Service:
        command = [*self.launcher, "serve", "--config", str(self.config_path)]
        return Service(
            "gateway",
            [*command, "--data-dir", str(self.data_dir)],
            self.gateway_port,
            self.workdir / "gateway.log",
            self.gateway_cpus,
        )

    # Rounds ---------------------------------------------------------------

    def round(
        self, target: str, stream: bool, concurrency: int, n: int
    ) -> dict[str, Any]:
        port = self.mock_port if target == "direct" else self.gateway_port
        gateway = target != "direct"
        mock_before = busy_seconds(self.mock.pid)
        if gateway:
            ticks_before = cpu_seconds(self.gateway.pid)
            threads_before = thread_cpu(self.gateway.pid)
        result = self.client.round(
            host=HOST,
            port=port,
            request=self.requests[target][stream].decode("latin-1"),
            n=n,
            c=concurrency,
        )
        sent = len(result["latency_ms"]) + result["errors"]
        result.update(n=sent, client_cpu_s=result.pop("cpu_s"))
        if gateway:
            self.gateway_sent += sent
            result["log_lag_s"] = self._wait_for_rows()
            ticks = cpu_seconds(self.gateway.pid) - ticks_before
            after = thread_cpu(self.gateway.pid)
            result["threads"] = {
                name: seconds - threads_before[name] for name, seconds in after.items()
            }
            result["server_cpu_s"] = sum(result["threads"].values())
            result["server_cpu_ticks_s"] = ticks
        result["mock_cpu_s"] = busy_seconds(self.mock.pid) - mock_before
        return result

    def _wait_for_rows(self) -> float:
        """Seconds until every request sent so far has its gateway log row."""
        started = time.perf_counter()
        database = self.data_dir / "tollhouse.db"
        while time.perf_counter() - started < LOG_WAIT_S:
            if gateway_rows(database) >= self.gateway_sent:
                break
            time.sleep(0.01)
        return time.perf_counter() - started

    def scenario(
        self, scenario: Scenario, targets: tuple[str, str] = ("direct", "gateway")
    ) -> dict[str, Any]:
        n = self.args.requests
        if scenario.concurrency == 1:
            n = max(50, n // 4)
        first, second = targets
        rounds: dict[str, list[dict[str, Any]]] = {first: [], second: []}
        for index in range(self.args.rounds):
            order = targets if index % 2 == 0 else (second, first)
            for target in order:
                rounds[target].append(
                    self.round(target, scenario.stream, scenario.concurrency, n)
                )
        direct = report.summarize(rounds[first])
        gateway = report.summarize(rounds[second])
        return {
            "stream": scenario.stream,
            "concurrency": scenario.concurrency,
            "direct": direct,
            "gateway": gateway,
            "added": report.compare(direct, gateway),
        }

    def warm_up(self) -> None:
        n = max(200, self.args.requests // 4)
        for target in ("direct", "gateway"):
            for stream in (False, True):
                self.round(target, stream, 64, n)
        self.round("policy", False, 64, n)


# The log check ------------------------------------------------------------


def check_log(bench: Bench) -> dict[str, Any]:
    """Stop the gateway (it drains its queue), then count its log rows."""
    exit_status = bench.gateway.stop()
    counts = log_counts(bench.data_dir / "tollhouse.db")
    sent = bench.gateway_sent
    lost = max(sent - counts["gateway"], sent - counts["llm_usage"])
    return {
        "sent": sent,
        **counts,
        "lost": lost,
        "exit_status": exit_status,
        "ok": counts["gateway"] == sent
        and counts["llm_usage"] == sent
        and counts["gateway_not_200"] == 0
        and exit_status == 0,
    }


def restart_ready(bench: Bench) -> float:
    """Seconds to ready again on the same data directory (the store exists)."""
    bench.gateway = bench.start_gateway()
    try:
        return bench.gateway.wait_ready()
    finally:
        bench.gateway.stop()


# Running ------------------------------------------------------------------


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    with ExitStack() as stack:
        bench = Bench(args, workdir, stack)
        result = _measure(bench)
    result["duration_s"] = time.perf_counter() - started
    return result


def _measure(bench: Bench) -> dict[str, Any]:
    gateway = {"ready_s": bench.ready_s, "rss_at_ready_mb": bench.rss_at_ready_mb}
    bench.warm_up()
    gateway["rss_after_warmup_mb"] = memory(bench.gateway.pid)["rss"]

    scenarios = {}
    for scenario in SCENARIOS:
        scenarios[scenario.name] = bench.scenario(scenario)
        print(f"  {scenario.name}: done", file=sys.stderr, flush=True)

    # The seed's policy document against no policy, both through the gateway.
    policy = {}
    for scenario in POLICY_SCENARIOS:
        policy[scenario.name] = bench.scenario(scenario, ("gateway", "policy"))
        print(f"  {scenario.name} with the seed policy: done", file=sys.stderr)

    mem = memory(bench.gateway.pid)
    gateway["peak_rss_mb"] = mem["hwm"]
    gateway["rss_end_mb"] = mem["rss"]
    log = check_log(bench)
    gateway["restart_ready_s"] = restart_ready(bench)
    return {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "source": source_state(),
        "options": vars(bench.args),
        "pinned": bench.gateway_cpus is not None,
        "gateway": gateway,
        "scenarios": scenarios,
        "policy": policy,
        "log": log,
    }


def render(result: dict[str, Any]) -> str:
    g, log = result["gateway"], result["log"]
    lines = [
        f"# bench.run {result['when']}, {result['options']['rounds']} rounds, "
        f"pinned={result['pinned']}, {result['duration_s']:.0f} s",
        "",
        f"source: {result['source']}",
        "",
        *report.scenario_table(result["scenarios"]),
        *report.capped(result["scenarios"]),
        "",
        "CPU per request, ms:",
        "",
        *report.cpu_table(result["scenarios"]),
        "",
        "The seed's policy document (ip-filter, set-backend-service, on-error), "
        "through the gateway with and without it:",
        "",
        *report.policy_table(result["policy"]),
        "",
        f"gateway: ready {g['ready_s']:.3f} s after spawn "
        f"(restart {g['restart_ready_s']:.3f} s), RSS {g['rss_at_ready_mb']:.1f} MB "
        f"at ready, {g['rss_after_warmup_mb']:.1f} MB after warm-up, "
        f"peak {g['peak_rss_mb']:.1f} MB",
        f"log: {log['sent']} requests sent to the gateway; "
        f"{log['gateway']} gateway log rows, {log['llm_usage']} LLM usage rows, "
        f"{log['llm_messages']} LLM message rows, {log['gateway_not_200']} "
        f"not 200; exit status {log['exit_status']}: "
        + ("OK" if log["ok"] else "MISMATCH"),
        "",
        *report.targets_table(result),
    ]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="2 rounds of 1000 requests (< 1 min)."
    )
    parser.add_argument(
        "--requests",
        type=int,
        help="Requests per round at concurrency 64 (a quarter at 1); default "
        "5000, 1000 with --quick.",
    )
    parser.add_argument(
        "--rounds", type=int, help="A/B rounds per scenario (default 6, quick 2)."
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="Do not give the gateway a CPU of its own.",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the work folder.")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.requests = args.requests or (1000 if args.quick else 5000)
    args.rounds = args.rounds or (2 if args.quick else 6)
    workdir = Path(tempfile.mkdtemp(prefix="tollhouse-bench-"))
    try:
        result = measure(args, workdir)
    except BaseException:
        print(f"bench: failed; logs in {workdir}", file=sys.stderr)
        raise
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)

    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"run-{stamp}.json").write_text(json.dumps(result, indent=1))
    text = render(result)
    (RESULTS / f"run-{stamp}.md").write_text(text + "\n")
    print(text)

    errors = sum(
        s[t]["errors"]
        for s in result["scenarios"].values()
        for t in ("direct", "gateway")
    )
    if not result["log"]["ok"] or errors:
        print(
            f"bench: FAILED: {errors} failed requests; log check "
            f"{'passed' if result['log']['ok'] else 'FAILED'}: {result['log']}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
