"""The dashboard's Overview page over real traffic: totals, chart and tables."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from tests.dashboard_support import login
from tests.management_support import ENVIRON, call
from tests.support import RunningGateway
from tests.test_management_usage import CHAT, EMBED, blocking_config, wait_rows

_TOTAL = re.compile(r'data-total="(\w+)">([\d,]+)<')
_CHART = re.compile(r'data-overview="([^"]+)"')


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    gw = RunningGateway(blocking_config(tmp_path / "data"), environ=ENVIRON).start()
    try:
        yield gw
    finally:
        gw.stop()


def send(gw: RunningGateway) -> dict[str, list[dict[str, int]]]:
    """Two chats as master, one as team-a and a request an ip-filter blocks."""
    created = call(gw, "POST", "/subscriptions", {"id": "team-a", "scope": "/apis"})
    keys = {"master": gw.key, "team-a": created.json()["primaryKey"]}
    usage: dict[str, list[dict[str, int]]] = {"master": [], "team-a": []}
    for subscription in ("master", "master", "team-a"):
        body = {"messages": [{"role": "user", "content": f"Hi from {subscription}"}]}
        response = gw.post(CHAT, body, headers={"api-key": keys[subscription]})
        assert response.status_code == 200, response.text
        usage[subscription].append(response.json()["usage"])
    assert gw.post(EMBED, {"input": "blocked"}).status_code == 403
    wait_rows(gw, 4)
    return usage


def overview(
    gw: RunningGateway, browser: requests.Session, query: str = ""
) -> requests.Response:
    page = browser.get(f"{gw.management_url}/dashboard/overview{query}", timeout=10)
    assert page.status_code == 200, page.text
    return page


def totals(page: requests.Response) -> dict[str, int]:
    return {
        name: int(value.replace(",", "")) for name, value in _TOTAL.findall(page.text)
    }


def chart(page: requests.Response) -> dict[str, Any]:
    found = _CHART.search(page.text)
    assert found is not None
    text = found[1].replace("&#34;", '"').replace("&quot;", '"')
    spec: dict[str, Any] = orjson.loads(text)
    return spec


def row(page: requests.Response, key: str) -> list[int]:
    """The numbers of the table row whose first cell is ``key``."""
    found = re.search(
        rf'<td class="mono">{re.escape(key)}</td>(.*?)</tr>', page.text, re.S
    )
    assert found is not None, key
    cells = re.findall(r'<td class="num">([\d,]+)</td>', found[1])
    return [int(cell.replace(",", "")) for cell in cells]


def test_the_dashboard_lands_on_the_overview(gateway: RunningGateway) -> None:
    browser = login(gateway)

    landing = browser.get(gateway.management_url + "/dashboard/", timeout=10)

    assert landing.url.endswith("/dashboard/overview")
    assert 'href="/dashboard/overview" aria-current="page"' in landing.text
    nav = re.findall(r'<nav aria-label="Pages">(.*?)</nav>', landing.text, re.S)[0]
    assert nav.index("Overview") < nav.index("Logs")


def test_the_numbers_are_what_was_sent(gateway: RunningGateway) -> None:
    usage = send(gateway)
    browser = login(gateway)
    reported = [u for sent in usage.values() for u in sent]
    prompt = sum(u["prompt_tokens"] for u in reported)
    completion = sum(u["completion_tokens"] for u in reported)
    total = sum(u["total_tokens"] for u in reported)

    for query in ("", "?range=1h", "?range=24h", "?range=7d"):
        page = overview(gateway, browser, query)
        assert totals(page) == {
            "requests": 4,
            "errors": 1,
            "blocked": 1,
            "promptTokens": prompt,
            "completionTokens": completion,
            "totalTokens": total,
        }, query

    page = overview(gateway, browser, "?range=1h")
    master = usage["master"]
    team = usage["team-a"]
    assert row(page, "master") == [
        3,
        1,
        1,
        sum(u["prompt_tokens"] for u in master),
        sum(u["completion_tokens"] for u in master),
        sum(u["total_tokens"] for u in master),
    ]
    assert row(page, "team-a")[:3] == [1, 0, 0]
    assert row(page, "team-a")[5] == team[0]["total_tokens"]
    assert row(page, "gpt-4o-deployment")[0] == 4
    assert row(page, "gpt-4o-deployment")[5] == total


@pytest.mark.parametrize(
    ("query", "minutes", "buckets"),
    [("?range=1h", 5, (12, 13)), ("", 60, (24, 25)), ("?range=7d", 60, (168, 169))],
)
def test_the_chart_has_every_bucket(
    gateway: RunningGateway, query: str, minutes: int, buckets: tuple[int, int]
) -> None:
    usage = send(gateway)
    total = sum(u["total_tokens"] for sent in usage.values() for u in sent)
    browser = login(gateway)

    spec = chart(overview(gateway, browser, query))

    assert spec["minutes"] == minutes
    assert len(spec["labels"]) in buckets
    assert len(spec["requests"]) == len(spec["tokens"]) == len(spec["labels"])
    assert sum(spec["requests"]) == 4
    assert sum(spec["tokens"]) == total
    assert spec["labels"] == sorted(spec["labels"])


def test_an_unknown_range_is_the_last_day(gateway: RunningGateway) -> None:
    browser = login(gateway)

    page = overview(gateway, browser, "?range=forever")

    assert 'href="/dashboard/overview?range=24h" aria-current="true"' in page.text
    assert totals(page)["requests"] == 0
    assert "No requests in this range." in page.text


def test_requests_no_key_matched_have_a_named_row(gateway: RunningGateway) -> None:
    wrong = {"api-key": "0" * 32}
    assert gateway.post(CHAT, {"messages": []}, headers=wrong).status_code == 401
    wait_rows(gateway, 1)
    browser = login(gateway)

    page = overview(gateway, browser, "?range=1h")

    assert row(page, '<span class="none">(no key matched)</span>')[:2] == [1, 1]
    assert '<td class="mono"></td>' not in page.text


def test_a_total_of_zero_is_not_shown_as_an_alarm(gateway: RunningGateway) -> None:
    page = overview(gateway, login(gateway))

    assert '<div class="total total-errors zero">' in page.text
    assert '<div class="total total-blocked zero">' in page.text
    assert '<div class="total total-requests zero">' in page.text
