"""Shared by the dashboard's tests: a logged-in session, and what drives a browser.

The tests through `requests` log in with `login` and post forms with
`csrf_token`. The browser tests drive Debian's chromium with Playwright: they
mark themselves `needs_chromium`, take the ``browser`` fixture (in conftest.py,
which launches chromium only for the tests that ask for it), log in with
`log_in` and save what they saw with `shoot`, in ``tests/screenshots/``
(ignored by git), one picture per page and window size.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

from tests.support import RunningGateway

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"
SIZES = [(1280, 800), (1920, 1080)]
CHAT = "/openai/deployments/gpt-4o-deployment/chat/completions?api-version=2024-10-21"

needs_chromium = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} is not installed"
)

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


def log_in(page: Page, gw: RunningGateway, key: str | None = None) -> None:
    """Fills the login form ``page`` shows with ``gw``'s admin key and submits it.

    Pass ``key`` to try another one. The caller waits for the page it expects.
    """
    page.fill("#admin_key", gw.admin_key if key is None else key)
    page.click("button[type=submit]")


def shoot(page: Page, name: str) -> None:
    """Screenshots ``page`` at each of `SIZES`, as ``SCREENSHOTS/name-WxH.png``.

    Each waits for a frame, so that charts have redrawn at the new size; the
    page is left at the size it had.
    """
    settled = "() => new Promise(r => requestAnimationFrame(() => setTimeout(r, 50)))"
    size = page.viewport_size
    SCREENSHOTS.mkdir(exist_ok=True)
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.evaluate(settled)  # Chart.js redraws on the next frame
        path = SCREENSHOTS / f"{name}-{width}x{height}.png"
        page.screenshot(path=str(path), full_page=True)
    if size is not None:
        page.set_viewport_size(size)
