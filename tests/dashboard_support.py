"""Shared by the dashboard's tests: a gateway and a logged-in browser session."""

from __future__ import annotations

import re

import requests

from tests.support import RunningGateway

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def login(gw: RunningGateway, key: str | None = None) -> requests.Session:
    """A `requests` session logged in to ``gw``'s dashboard."""
    browser = requests.Session()
    response = browser.post(
        gw.management_url + "/dashboard/login",
        data={"admin_key": gw.admin_key if key is None else key},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 303, response.text
    return browser


def csrf_token(gw: RunningGateway, browser: requests.Session) -> str:
    """The CSRF token the dashboard's pages give ``browser``."""
    page = browser.get(gw.management_url + "/dashboard/logs", timeout=10)
    found = _TOKEN.search(page.text)
    assert found is not None, page.text
    return found[1]
