"""The Overview page: requests, errors and tokens of the last hour, day or week.

    GET /overview?range=1h|24h|7d   totals, a chart over time, and tables by
                                    subscription and by deployment

Every number comes from the management API's usage summaries (`UsageRoutes`),
so the page agrees with ``GET /usage`` and with a KQL query of the logs.
The chart's buckets are five minutes for the last hour and an hour for the
day and the week; buckets without traffic are drawn as zero.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from ..management.usage import UsageRoutes
from ..store.schema import utc_timestamp

if TYPE_CHECKING:
    from .site import Dashboard

#: The ranges offered, by name: (label, span, usage group, bucket); first default.
RANGES = {
    "24h": ("Last day", timedelta(days=1), "hour", timedelta(hours=1)),
    "1h": ("Last hour", timedelta(hours=1), "5min", timedelta(minutes=5)),
    "7d": ("Last week", timedelta(days=7), "hour", timedelta(hours=1)),
}
#: The order the range links are shown in.
SHOWN = ("1h", "24h", "7d")
#: The totals shown, in order: (usage field, label).
TOTALS = (
    ("requests", "Requests"),
    ("errors", "Errors"),
    ("blocked", "Blocked"),
    ("promptTokens", "Prompt tokens"),
    ("completionTokens", "Completion tokens"),
    ("totalTokens", "Total tokens"),
)


class OverviewPage:
    """The Overview page's route."""

    def __init__(self, dashboard: Dashboard, usage: UsageRoutes) -> None:
        self._dashboard = dashboard
        self._usage = usage

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_get("/overview", self._page)

    async def _page(self, request: web.Request) -> web.Response:
        chosen = request.query.get("range", "")
        if chosen not in RANGES:
            chosen = next(iter(RANGES))
        label, span, group, bucket = RANGES[chosen]
        end = datetime.now(UTC)
        start = end - span
        by_subscription = await self._usage.summary(start, end, "subscription")
        by_deployment = await self._usage.summary(start, end, "deployment")
        first = _floor(start, bucket)
        timeline = await self._usage.summary(first, end, group)
        return self._dashboard.render(
            request,
            "overview.html",
            ranges=[(name, RANGES[name][0]) for name in SHOWN],
            chosen=chosen,
            label=label,
            totals=[
                (name, title, by_subscription["total"][name]) for name, title in TOTALS
            ],
            subscriptions=by_subscription["value"],
            deployments=by_deployment["value"],
            chart=_chart(timeline["value"], first, end, bucket),
            truncated=any(
                s["truncated"] for s in (by_subscription, by_deployment, timeline)
            ),
        )


def _floor(when: datetime, bucket: timedelta) -> datetime:
    """``when`` rounded down to a whole ``bucket`` since the epoch, as ``bin``."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + (when - epoch) // bucket * bucket


def _chart(
    groups: list[dict[str, Any]], first: datetime, end: datetime, bucket: timedelta
) -> str:
    """The chart's data for ``static/overview.js``: every bucket, empty ones 0."""
    by_time = {group["key"]: group for group in groups}
    labels: list[str] = []
    requests: list[int] = []
    tokens: list[int] = []
    when = first
    while when < end:
        key = utc_timestamp(when)
        group = by_time.get(key, {})
        labels.append(key)
        requests.append(group.get("requests", 0))
        tokens.append(group.get("totalTokens", 0))
        when += bucket
    minutes = int(bucket.total_seconds() // 60)
    return orjson.dumps(
        {"labels": labels, "requests": requests, "tokens": tokens, "minutes": minutes}
    ).decode()
