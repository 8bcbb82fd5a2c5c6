"""The dashboard's login, session cookie and CSRF protection."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.dashboard_support import csrf_token, login
from tests.management_support import assert_error, call, secured_gateway
from tests.support import RunningGateway
from tollhouse.dashboard import COOKIE
from tollhouse.dashboard.sessions import Sessions


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    gw = secured_gateway(tmp_path / "data")
    try:
        yield gw
    finally:
        gw.stop()


def page(gw: RunningGateway, browser: requests.Session, path: str) -> requests.Response:
    return browser.get(gw.management_url + path, allow_redirects=False, timeout=10)


def test_pages_send_strangers_to_the_login_page(gateway: RunningGateway) -> None:
    response = page(gateway, requests.Session(), "/dashboard/logs?status=4xx")

    assert response.status_code == 303
    assert response.headers["Location"] == (
        "/dashboard/login?next=/dashboard/logs%3Fstatus%3D4xx"
    )
    login_page = page(gateway, requests.Session(), response.headers["Location"])
    assert login_page.status_code == 200
    assert 'name="admin_key" type="password"' in login_page.text
    assert 'value="/dashboard/logs?status=4xx"' in login_page.text


def test_htmx_requests_without_a_session_are_sent_to_login(
    gateway: RunningGateway,
) -> None:
    response = requests.get(
        gateway.management_url + "/dashboard/logs/rows",
        headers={"HX-Request": "true"},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/dashboard/login?next=")


@pytest.mark.parametrize("key", ["", "wrong-key", "x" * 64])
def test_a_wrong_admin_key_is_refused(gateway: RunningGateway, key: str) -> None:
    browser = requests.Session()
    response = browser.post(
        gateway.management_url + "/dashboard/login",
        data={"admin_key": key},
        allow_redirects=False,
        timeout=10,
    )

    assert response.status_code == 401
    assert "That is not the admin key." in response.text
    assert "Set-Cookie" not in response.headers
    assert page(gateway, browser, "/dashboard/logs").status_code == 303


def test_a_subscription_key_is_no_admin_key(gateway: RunningGateway) -> None:
    response = requests.post(
        gateway.management_url + "/dashboard/login",
        data={"admin_key": gateway.key},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 401


def test_the_session_cookie_flags_are_exact(gateway: RunningGateway) -> None:
    response = requests.post(
        gateway.management_url + "/dashboard/login",
        data={"admin_key": gateway.admin_key, "next": "/dashboard/logs?api=x"},
        allow_redirects=False,
        timeout=10,
    )

    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard/logs?api=x"
    name, _, rest = response.headers["Set-Cookie"].partition("=")
    value, *attributes = (part.strip() for part in rest.split(";"))
    assert name == COOKIE
    assert len(value) >= 43
    assert sorted(attributes) == sorted(
        ["HttpOnly", "Max-Age=28800", "Path=/dashboard", "SameSite=Strict"]
    )
    assert value not in gateway.output.getvalue()


@pytest.mark.parametrize("target", ["https://evil.test/", "//evil.test/x", "/logs"])
def test_login_goes_nowhere_but_the_dashboard(
    gateway: RunningGateway, target: str
) -> None:
    response = requests.post(
        gateway.management_url + "/dashboard/login",
        data={"admin_key": gateway.admin_key, "next": target},
        allow_redirects=False,
        timeout=10,
    )
    assert response.headers["Location"] == "/dashboard/"


def test_a_session_opens_the_pages(gateway: RunningGateway) -> None:
    browser = login(gateway)

    response = page(gateway, browser, "/dashboard/")
    assert response.headers["Location"] == "/dashboard/overview"
    logs = page(gateway, browser, "/dashboard/logs")
    assert logs.status_code == 200
    assert "<h1>Logs</h1>" in logs.text
    assert logs.headers["Cache-Control"] == "no-store"
    assert logs.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in logs.headers["Content-Security-Policy"]


def test_the_cookie_does_not_open_the_json_api(gateway: RunningGateway) -> None:
    browser = login(gateway)

    response = browser.get(gateway.management_url + "/logs", timeout=10)

    assert_error(response, 401, "AdminKeyMissing")
    assert call(gateway, "GET", "/logs").status_code == 200


def test_a_post_without_the_csrf_token_is_refused(gateway: RunningGateway) -> None:
    browser = login(gateway)

    for data in ({}, {"csrf_token": "forged"}):
        response = browser.post(
            gateway.management_url + "/dashboard/logout",
            data=data,
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 403
        assert "reload the page" in response.text
    assert page(gateway, browser, "/dashboard/logs").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.test"}, {"Sec-Fetch-Site": "cross-site"}],
)
def test_a_cross_site_post_is_refused_even_with_the_token(
    gateway: RunningGateway, headers: dict[str, str]
) -> None:
    browser = login(gateway)
    token = csrf_token(gateway, browser)

    response = browser.post(
        gateway.management_url + "/dashboard/logout",
        data={"csrf_token": token},
        headers=headers,
        allow_redirects=False,
        timeout=10,
    )

    assert response.status_code == 403
    assert page(gateway, browser, "/dashboard/logs").status_code == 200


def test_a_cross_site_login_is_refused(gateway: RunningGateway) -> None:
    response = requests.post(
        gateway.management_url + "/dashboard/login",
        data={"admin_key": gateway.admin_key},
        headers={"Origin": "http://evil.test"},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 403
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("by_header", [False, True])
def test_logout_ends_the_session(gateway: RunningGateway, by_header: bool) -> None:
    browser = login(gateway)
    cookie = browser.cookies[COOKIE]
    token = csrf_token(gateway, browser)

    response = browser.post(
        gateway.management_url + "/dashboard/logout",
        data=None if by_header else {"csrf_token": token},
        headers={"X-CSRF-Token": token} if by_header else None,
        allow_redirects=False,
        timeout=10,
    )

    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard/login"
    assert f"{COOKIE}=" in response.headers["Set-Cookie"]
    replayed = requests.Session()
    replayed.cookies.set(COOKIE, cookie)
    assert page(gateway, replayed, "/dashboard/logs").status_code == 303


def dashboard_sessions(gw: RunningGateway) -> Sessions:
    management = gw.gateway.management
    assert management is not None
    return management.dashboard.sessions


@pytest.mark.parametrize(
    ("idle", "lifetime"), [(3599.0, 0.0), (3600.0, 0.0), (0.0, 8 * 3600.0)]
)
def test_sessions_expire(gateway: RunningGateway, idle: float, lifetime: float) -> None:
    sessions = dashboard_sessions(gateway)
    now = [1000.0]
    sessions.clock = lambda: now[0]
    browser = login(gateway)
    assert page(gateway, browser, "/dashboard/logs").status_code == 200

    now[0] += idle
    if lifetime:
        # Busy all along, but only for so long.
        while now[0] < 1000.0 + lifetime - 1800:
            now[0] += 1800
            assert page(gateway, browser, "/dashboard/logs").status_code == 200
        now[0] = 1000.0 + lifetime
    expected = 200 if idle < 3600 and not lifetime else 303

    assert page(gateway, browser, "/dashboard/logs").status_code == expected
    assert len(sessions) == (1 if expected == 200 else 0)


def test_regenerating_the_admin_key_ends_sessions(gateway: RunningGateway) -> None:
    import contextlib
    import sqlite3

    from tollhouse.management.keys import AdminKeys
    from tollhouse.subscriptions import KeySecrets

    browser = login(gateway)
    with contextlib.closing(sqlite3.connect(gateway.db_path)) as conn:
        secrets = KeySecrets.load_or_create(Path(gateway.config.data_dir))
        AdminKeys(conn, secrets).regenerate()

    assert page(gateway, browser, "/dashboard/logs").status_code == 303


def test_session_ids_are_kept_hashed(gateway: RunningGateway) -> None:
    browser = login(gateway)
    cookie = browser.cookies[COOKIE]

    sessions = dashboard_sessions(gateway)
    assert cookie not in repr(vars(sessions))


def test_static_files_need_no_session(gateway: RunningGateway) -> None:
    response = requests.get(
        gateway.management_url + "/dashboard/static/htmx.min.js", timeout=10
    )
    assert response.status_code == 200
    assert "htmx" in response.text[:2000]
