"""Samples into figures: percentiles, per-scenario summaries, Markdown tables."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

Round = dict[str, Any]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values``, linearly interpolated."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    at = q * (len(ordered) - 1)
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def summarize(rounds: Sequence[Round]) -> dict[str, Any]:
    """One target's figures over the rounds of one scenario."""
    latency = [v for r in rounds for v in r["latency_ms"]]
    ttfb = [v for r in rounds for v in r["ttfb_ms"]]
    requests = sum(r["n"] for r in rounds)
    summary: dict[str, Any] = {
        "requests": requests,
        "errors": sum(r["errors"] for r in rounds),
        "rps": statistics.median(r["n"] / r["elapsed"] for r in rounds),
        "rps_rounds": [round(r["n"] / r["elapsed"], 1) for r in rounds],
        "p50": percentile(latency, 0.50),
        "p99": percentile(latency, 0.99),
        "ttfb_p50": percentile(ttfb, 0.50),
        "ttfb_p99": percentile(ttfb, 0.99),
        "client_cpu_ms": 1000 * sum(r["client_cpu_s"] for r in rounds) / requests,
        "mock_cpu_ms": 1000 * sum(r["mock_cpu_s"] for r in rounds) / requests,
    }
    if rounds and "server_cpu_s" in rounds[0]:
        summary["cpu_ms"] = 1000 * sum(r["server_cpu_s"] for r in rounds) / requests
        ticks = sum(r["server_cpu_ticks_s"] for r in rounds)
        summary["cpu_ticks_ms"] = 1000 * ticks / requests
        threads: dict[str, float] = {}
        for r in rounds:
            for name, seconds in r["threads"].items():
                threads[name] = threads.get(name, 0.0) + seconds
        summary["thread_cpu_ms"] = {
            name: 1000 * seconds / requests for name, seconds in threads.items()
        }
        summary["log_lag_ms_max"] = 1000 * max(r["log_lag_s"] for r in rounds)
    return summary


def compare(direct: dict[str, Any], gateway: dict[str, Any]) -> dict[str, float]:
    """What the gateway adds to calling the mock directly."""
    return {
        "added_p50": gateway["p50"] - direct["p50"],
        "added_p99": gateway["p99"] - direct["p99"],
        "added_ttfb_p50": gateway["ttfb_p50"] - direct["ttfb_p50"],
        "added_ttfb_p99": gateway["ttfb_p99"] - direct["ttfb_p99"],
        "rps_ratio": gateway["rps"] / direct["rps"],
    }


def _f(value: float, digits: int = 2) -> str:
    return "-" if value != value else f"{value:.{digits}f}"


def scenario_table(scenarios: dict[str, dict[str, Any]]) -> list[str]:
    """Markdown: one line per scenario, direct and gateway side by side."""
    lines = [
        "| scenario | direct req/s | gateway req/s | gw/direct "
        "| direct p50 / p99 ms | gateway p50 / p99 ms | added p50 / p99 ms "
        "| added TTFB p50 / p99 ms | gateway CPU ms/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in scenarios.items():
        d, g, c = s["direct"], s["gateway"], s["added"]
        stream = s["stream"]
        ttfb = (
            f"{_f(c['added_ttfb_p50'])} / {_f(c['added_ttfb_p99'])}" if stream else "-"
        )
        lines.append(
            f"| {name} | {d['rps']:.0f} | {g['rps']:.0f} | {c['rps_ratio']:.2f} "
            f"| {_f(d['p50'])} / {_f(d['p99'])} | {_f(g['p50'])} / {_f(g['p99'])} "
            f"| {_f(c['added_p50'])} / {_f(c['added_p99'])} | {ttfb} "
            f"| {_f(g['cpu_ms'], 3)} |"
        )
    return lines


def cpu_table(scenarios: dict[str, dict[str, Any]]) -> list[str]:
    """Markdown: where CPU went per request, by process and gateway thread."""
    lines = [
        "| scenario | gateway total | gw event loop | gw log writer | gw libuv "
        "| mock (direct / via gw) | load client (direct / via gw) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in scenarios.items():
        d, g = s["direct"], s["gateway"]
        threads = g["thread_cpu_ms"]
        lines.append(
            f"| {name} | {g['cpu_ms']:.3f} | {threads['loop']:.3f} "
            f"| {threads['threads']:.3f} | {threads['libuv']:.3f} "
            f"| {d['mock_cpu_ms']:.3f} / {g['mock_cpu_ms']:.3f} "
            f"| {d['client_cpu_ms']:.3f} / {g['client_cpu_ms']:.3f} |"
        )
    return lines


def policy_table(scenarios: dict[str, dict[str, Any]]) -> list[str]:
    """Markdown: what running the seed's policy document adds per request."""
    lines = [
        "| scenario | req/s without / with | p50 ms without / with "
        "| CPU ms/req without / with | policy cost, CPU ms/req |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, s in scenarios.items():
        plain, policy = s["direct"], s["gateway"]
        lines.append(
            f"| {name} | {plain['rps']:.0f} / {policy['rps']:.0f} "
            f"| {plain['p50']:.2f} / {policy['p50']:.2f} "
            f"| {plain['cpu_ms']:.3f} / {policy['cpu_ms']:.3f} "
            f"| {policy['cpu_ms'] - plain['cpu_ms']:.3f} |"
        )
    return lines


def targets_table(result: dict[str, Any]) -> list[str]:
    """Markdown: the issue's targets against this run's figures."""
    s = result["scenarios"]
    chat1, stream1 = s["chat c=1"], s["stream c=1"]
    checks = [
        ("added latency p50, chat c=1", "< 0.8 ms", chat1["added"]["added_p50"], 0.8),
        (
            "added TTFB p50, stream c=1",
            "< 0.5 ms",
            stream1["added"]["added_ttfb_p50"],
            0.5,
        ),
        *(
            (f"CPU per request, {name}", "< 0.4 ms", s[name]["gateway"]["cpu_ms"], 0.4)
            for name in ("chat c=64", "stream c=64")
        ),
        ("peak RSS", "< 120 MB", result["gateway"]["peak_rss_mb"], 120.0),
        ("ready after spawn", "< 1.5 s", result["gateway"]["ready_s"], 1.5),
        ("lost log rows", "0", float(result["log"]["lost"]), 0.5),
    ]
    lines = ["| target | wanted | measured | met |", "|---|---|---:|---|"]
    for label, wanted, value, limit in checks:
        met = "yes" if value < limit else "**no**"
        lines.append(f"| {label} | {wanted} | {value:.3f} | {met} |")
    for name in ("chat c=64", "stream c=64"):
        rps = s[name]["gateway"]["rps"]
        met = "yes" if rps >= 3000 else "**no**"
        lines.append(f"| req/s, {name} | >= 3000 | {rps:.0f} | {met} |")
    return lines


def capped(scenarios: dict[str, dict[str, Any]]) -> list[str]:
    """Warnings for scenarios where the gateway ran near the direct rate.

    Then the mock or the load client, not the gateway, may set the pace.
    """
    return [
        f"WARNING: {name}: the gateway ran at {100 * s['added']['rps_ratio']:.0f} % "
        "of the direct rate; its figures may be capped by the mock or the client."
        for name, s in scenarios.items()
        if s["concurrency"] > 1 and s["added"]["rps_ratio"] > 0.7
    ]
