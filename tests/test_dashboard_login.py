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
from tollhouse.dashboard.sessions import (
    FAILURE_WINDOW,
    MAX_ADDRESSES,
    MAX_FAILURES,
    LoginThrottle,
    Sessions,
)


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


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.test/",
        "//evil.test/x",
        "/logs",
        "/dashboard/\r\nSet-Cookie: x=y",
        "/dashboard/\x00",
        "/dashboard/logs?q=\u00e9",
    ],
)
def test_login_goes_nowhere_but_the_dashboard(
    gateway: RunningGateway, target: str
) -> None:
    response = requests.post(
        gateway.management_url + "/dashboard/login",
        data={"admin_key": gateway.admin_key, "next": target},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 303
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


def post_login(gw: RunningGateway, key: str) -> requests.Response:
    return requests.post(
        gw.management_url + "/dashboard/login",
        data={"admin_key": key},
        allow_redirects=False,
        timeout=10,
    )


def test_wrong_keys_from_one_address_are_throttled(gateway: RunningGateway) -> None:
    management = gateway.gateway.management
    assert management is not None
    throttle = management.dashboard.throttle
    now = [5000.0]
    throttle.clock = lambda: now[0]

    for _ in range(MAX_FAILURES):
        assert post_login(gateway, "wrong-key").status_code == 401
        now[0] += 1.0
    refused = post_login(gateway, gateway.admin_key)

    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "290"
    assert (
        "Too many wrong admin keys from this address; try again in 290 seconds."
        in refused.text
    )
    assert "Set-Cookie" not in refused.headers
    now[0] = 5000.0 + FAILURE_WINDOW
    assert post_login(gateway, gateway.admin_key).status_code == 303


def test_a_right_key_forgets_the_wrong_ones(gateway: RunningGateway) -> None:
    for _ in range(MAX_FAILURES - 1):
        assert post_login(gateway, "wrong-key").status_code == 401
    assert post_login(gateway, gateway.admin_key).status_code == 303

    for _ in range(MAX_FAILURES - 1):
        assert post_login(gateway, "wrong-key").status_code == 401
    assert post_login(gateway, gateway.admin_key).status_code == 303


def test_the_throttle_counts_each_address_alone() -> None:
    now = [0.0]
    throttle = LoginThrottle(limit=2, window=60.0, clock=lambda: now[0])

    throttle.failed("10.0.0.1")
    throttle.failed("10.0.0.1")
    now[0] = 15.0

    assert throttle.wait("10.0.0.1") == 45.0
    assert throttle.wait("10.0.0.2") == 0.0
    now[0] = 60.0
    assert throttle.wait("10.0.0.1") == 0.0
    throttle.failed("10.0.0.1")
    assert throttle.wait("10.0.0.1") == 0.0
    throttle.failed("10.0.0.1")
    assert throttle.wait("10.0.0.1") == 60.0


def test_the_throttle_remembers_a_bounded_number_of_addresses() -> None:
    throttle = LoginThrottle(limit=1, window=60.0, clock=lambda: 0.0)

    for n in range(MAX_ADDRESSES + 5):
        throttle.failed(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}")

    assert len(throttle._failures) == MAX_ADDRESSES
    assert throttle.wait("10.0.0.0") == 0.0
    assert throttle.wait("10.0.39.20") == 60.0


def test_an_unknown_page_says_so_plainly(gateway: RunningGateway) -> None:
    response = page(gateway, login(gateway), "/dashboard/nowhere")

    assert response.status_code == 404
    assert "<h1>404 Not Found</h1>" in response.text
    assert "There is no such page in the dashboard." in response.text
    assert "404: Not Found" not in response.text
