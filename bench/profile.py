"""Where the gateway's CPU goes under load, by py-spy and by pyinstrument.

    python -m bench.profile [--seconds S] [--rate HZ] [--no-pyinstrument]

The same processes as `bench.run` (mock, gateway with full logging, load
generator).  For each workload, chat completions and streamed chat
completions at concurrency 64, py-spy samples the running gateway for S
seconds (``--format raw``, then a flame graph), and the raw stacks are
summed three ways:

* by thread: the event loop against the log writer;
* by step: each sample of the event loop is charged to the innermost
  Tollhouse function on its stack (what it called, aiohttp's client or
  orjson, included), or, with no Tollhouse frame but the command line's at
  all, to the library module running (aiohttp's server, asyncio; uvloop's
  C code shows as ``asyncio/runners.py``);
* by module: the same, summed by the file of that function;
* by function: where the sample was taken (self time).

Shares are then turned into microseconds per request with the gateway's
CPU per request measured during the same window.  A second gateway then runs
under pyinstrument (main thread only) for a cross-check.  Everything is
written to ``bench/results/`` (``profile.md`` holds the tables).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from .procs import HOST, source_state, thread_cpu
from .run import RESULTS, Bench

WORKLOADS = (("chat", False), ("stream", True))
# Leaf frames of a thread that waits; py-spy counts a timed wait as active.
_WAITING = ("Condition.wait ", "Event.wait ", "_wait_for_tstate_lock ")


def py_spy() -> str:
    script = Path(sys.executable).with_name("py-spy")
    return str(script) if script.exists() else "py-spy"


def record(
    pid: int, out: Path, fmt: str, seconds: float, rate: int
) -> subprocess.Popen[str]:
    """Start py-spy on ``pid``; returns the process (see `finish`)."""
    command = [py_spy(), "record", "--pid", str(pid), "--rate", str(rate)]
    duration = str(max(1, round(seconds)))  # py-spy takes whole seconds
    command += ["--duration", duration, "--format", fmt, "--output", str(out)]
    if fmt == "raw":
        command += ["--nolineno", "--threads"]
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def finish(spy: subprocess.Popen[str]) -> None:
    """Wait for py-spy; raise with its message if it failed."""
    _, errors = spy.communicate()
    if spy.returncode != 0:
        raise RuntimeError(f"py-spy failed: {errors.strip()}")


def _stacks(raw: Path) -> Iterator[tuple[str, list[str], int]]:
    """(thread name, frames outermost first, samples) per line of raw output."""
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        thread = frames[0].partition(": ")[2]
        yield thread, frames[1:], int(count)


def _step(frames: list[str]) -> str:
    for frame in reversed(frames):
        if "(tollhouse/" in frame and "(tollhouse/cli.py)" not in frame:
            return frame
    # Outside any request handler: the server, the client's protocol, the
    # event loop itself (uvloop's C code shows as Runner.run).
    return "outside Tollhouse: " + frames[-1].split(" (")[-1].rstrip(")")


def summarize(raw: Path) -> dict[str, Counter[str]]:
    """Samples by thread, by step (event loop) and by function (self)."""
    threads: Counter[str] = Counter()
    modules: Counter[str] = Counter()
    steps: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    for thread, frames, count in _stacks(raw):
        if not frames or frames[-1].startswith(_WAITING):
            continue
        main = thread == "MainThread"
        threads["event loop" if main else thread] += count
        if main:
            step = _step(frames)
            steps[step] += count
            modules[step.rpartition("(")[2].rstrip(")")] += count
            functions[frames[-1]] += count
    return {
        "threads": threads,
        "modules": modules,
        "steps": steps,
        "functions": functions,
    }


def _table(counts: Counter[str], cpu_us: float, top: int) -> list[str]:
    total = sum(counts.values()) or 1
    lines = ["| share | µs/request | where |", "|---:|---:|---|"]
    for name, count in counts.most_common(top):
        share = count / total
        lines.append(f"| {100 * share:.1f} % | {share * cpu_us:.0f} | `{name}` |")
    return lines


def profile_workload(
    bench: Bench, name: str, stream: bool, seconds: float, rate: int
) -> list[str]:
    """Sample the gateway under one workload; the Markdown of its tables."""
    raw = RESULTS / f"profile-{name}.txt"
    before = thread_cpu(bench.gateway.pid)
    spy = record(bench.gateway.pid, raw, "raw", seconds, rate)
    load = _load(bench, stream, seconds + 1.0)
    finish(spy)
    after = thread_cpu(bench.gateway.pid)
    requests = len(load["latency_ms"])
    loop_us = 1e6 * (after["loop"] - before["loop"]) / requests
    total_us = 1e6 * (sum(after.values()) - sum(before.values())) / requests

    svg = RESULTS / f"profile-{name}.svg"
    spy = record(bench.gateway.pid, svg, "flamegraph", seconds / 2, rate)
    _load(bench, stream, seconds / 2 + 1.0)
    finish(spy)

    parts = summarize(raw)
    rps = requests / load["elapsed"]
    return [
        f"### {name}, concurrency 64, under py-spy ({rps:.0f} req/s)",
        "",
        f"Gateway CPU per request in this window: {total_us:.0f} µs, of which "
        f"the event loop {loop_us:.0f} µs (sampling pauses inflate both).",
        "",
        "By thread (samples not waiting):",
        "",
        *_table(parts["threads"], total_us, 5),
        "",
        "Event loop, by module (of the innermost Tollhouse function):",
        "",
        *_table(parts["modules"], loop_us, 15),
        "",
        "Event loop, by step (innermost Tollhouse function):",
        "",
        *_table(parts["steps"], loop_us, 20),
        "",
        "Event loop, by function (self time):",
        "",
        *_table(parts["functions"], loop_us, 20),
        "",
    ]


def _load(bench: Bench, stream: bool, seconds: float) -> dict[str, Any]:
    request = bench.requests["gateway"][stream].decode("latin-1")
    result = bench.client.round(
        host=HOST, port=bench.gateway_port, request=request, c=64, seconds=seconds
    )
    if result["errors"]:
        raise RuntimeError(f"requests failed: {result['first_error']}")
    return result


def with_pyinstrument(args: argparse.Namespace, workdir: Path) -> Path:
    """Run a gateway under pyinstrument through both workloads; its report."""
    out = RESULTS / "pyinstrument.txt"
    launcher = [sys.executable, "-m", "pyinstrument", "--renderer", "text"]
    launcher += ["--outfile", str(out), "--interval", "0.0002", "-m", "tollhouse"]
    with ExitStack() as stack:
        bench = Bench(args, workdir, stack, launcher=launcher)
        bench.warm_up()
        for _, stream in WORKLOADS:
            _load(bench, stream, args.seconds)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--seconds", type=float, default=10.0, help="Per workload.")
    parser.add_argument("--rate", type=int, default=250, help="Samples per second.")
    parser.add_argument("--no-pin", action="store_true", help="Do not pin CPUs.")
    parser.add_argument("--no-pyinstrument", action="store_true")
    args = parser.parse_args(argv)
    args.requests, args.rounds = 2000, 1
    RESULTS.mkdir(exist_ok=True)

    when = time.strftime("%Y-%m-%d %H:%M:%S")
    lines = [f"## bench.profile {when}", "", f"source: {source_state()}", ""]
    with tempfile.TemporaryDirectory(prefix="tollhouse-profile-") as tmp:
        with ExitStack() as stack:
            bench = Bench(args, Path(tmp) / "spy", stack)
            bench.warm_up()
            for name, stream in WORKLOADS:
                lines += profile_workload(bench, name, stream, args.seconds, args.rate)
        if not args.no_pyinstrument:
            report = with_pyinstrument(args, Path(tmp) / "pyinstrument")
            lines += [f"pyinstrument's report (main thread): {report}", ""]

    text = "\n".join(lines)
    (RESULTS / "profile.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
