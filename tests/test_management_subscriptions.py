"""The management API's /subscriptions routes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.management_support import assert_error, call, secured_gateway
from tests.support import RunningGateway

CHAT = "/openai/deployments/gpt-4o-deployment/chat/completions?api-version=2024-10-21"
HELLO = {"messages": [{"role": "user", "content": "hello"}]}
PUBLIC_FIELDS = {"id", "displayName", "scope", "state", "createdDate", "updatedDate"}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    gw = secured_gateway(tmp_path / "data")
    try:
        yield gw
    finally:
        gw.stop()


def create(gw: RunningGateway, **body: Any) -> dict[str, Any]:
    response = call(gw, "POST", "/subscriptions", body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def chat(gw: RunningGateway, key: str) -> int:
    return gw.post(CHAT, HELLO, headers={"api-key": key}).status_code


# Success -------------------------------------------------------------------


def test_the_list_shows_no_key(gateway: RunningGateway) -> None:
    response = call(gateway, "GET", "/subscriptions")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    [master] = body["value"]
    assert set(master) == PUBLIC_FIELDS
    assert (master["id"], master["scope"], master["state"]) == (
        "master",
        "/apis",
        "active",
    )
    assert master["displayName"] == "Built-in all-access subscription"
    assert gateway.key not in response.text


def test_a_created_subscription_shows_its_keys_once(gateway: RunningGateway) -> None:
    response = call(
        gateway,
        "POST",
        "/subscriptions",
        {"id": "team-a", "displayName": "Team A", "scope": "/products/starter"},
    )

    assert response.status_code == 201
    assert response.headers["Location"] == "/subscriptions/team-a"
    assert response.headers["Cache-Control"] == "no-store"
    created = response.json()
    assert set(created) == PUBLIC_FIELDS | {"primaryKey", "secondaryKey"}
    assert (created["displayName"], created["scope"], created["state"]) == (
        "Team A",
        "/products/starter",
        "active",
    )
    # The gateway takes both keys at once, without waiting for its refresh.
    assert chat(gateway, created["primaryKey"]) == 200
    assert chat(gateway, created["secondaryKey"]) == 200

    shown = call(gateway, "GET", "/subscriptions/team-a")
    assert shown.status_code == 200
    assert shown.json() == {k: created[k] for k in PUBLIC_FIELDS}
    listed = call(gateway, "GET", "/subscriptions").text
    for text in (shown.text, listed):
        assert created["primaryKey"] not in text
        assert created["secondaryKey"] not in text


def test_defaults_of_a_new_subscription(gateway: RunningGateway) -> None:
    created = create(gateway, id="plain")
    assert (created["displayName"], created["scope"]) == ("plain", "/apis")


@pytest.mark.parametrize("slot", ["primary", "secondary"])
def test_regenerate_replaces_one_key(gateway: RunningGateway, slot: str) -> None:
    created = create(gateway, id="team-b")
    other = "secondary" if slot == "primary" else "primary"

    response = call(gateway, "POST", "/subscriptions/team-b/regenerate", {"key": slot})

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == PUBLIC_FIELDS | {f"{slot}Key"}
    new = body[f"{slot}Key"]
    assert new != created[f"{slot}Key"]
    assert chat(gateway, created[f"{slot}Key"]) == 401
    assert chat(gateway, new) == 200
    assert chat(gateway, created[f"{other}Key"]) == 200


@pytest.mark.parametrize(
    ("action", "state", "status"),
    [("suspend", "suspended", 401), ("cancel", "cancelled", 401)],
)
def test_a_state_change_takes_effect_at_once(
    gateway: RunningGateway, action: str, state: str, status: int
) -> None:
    key = create(gateway, id="team-c")["primaryKey"]

    response = call(gateway, "POST", f"/subscriptions/team-c/{action}")
    assert response.status_code == 200
    assert response.json()["state"] == state
    assert chat(gateway, key) == status

    activated = call(gateway, "POST", "/subscriptions/team-c/activate")
    assert activated.json()["state"] == "active"
    assert chat(gateway, key) == 200


# Bad input -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ([1], 400, "InvalidRequestBody", "must be a JSON object"),
        ({}, 400, "InvalidRequestBody", "'id' must be a string"),
        ({"id": 7}, 400, "InvalidRequestBody", "'id' must be a string"),
        ({"id": "-x"}, 400, "InvalidRequestBody", "A subscription id is 1 to 80"),
        ({"id": "a", "displayName": ""}, 400, "InvalidRequestBody", "displayName"),
        (
            {"id": "a", "scope": "/users/1"},
            400,
            "InvalidRequestBody",
            "Scope must be /apis",
        ),
        (
            {"id": "a", "scope": "/apis/nope"},
            400,
            "InvalidRequestBody",
            "no configured API",
        ),
        (
            {"id": "a", "scope": "/products/nope"},
            400,
            "InvalidRequestBody",
            "no configured product: 'nope'",
        ),
        ({"id": "a", "key": "x"}, 400, "InvalidRequestBody", "Unknown field 'key'"),
        ({"id": "master"}, 409, "Conflict", "already a subscription 'master'"),
    ],
)
def test_a_refused_creation_says_why(
    gateway: RunningGateway, body: Any, status: int, code: str, message: str
) -> None:
    response = call(gateway, "POST", "/subscriptions", body)
    assert message in assert_error(response, status, code)


def test_a_creation_body_that_is_not_json(gateway: RunningGateway) -> None:
    response = call(gateway, "POST", "/subscriptions", data=b"{id")
    assert "not valid JSON" in assert_error(response, 400, "InvalidRequestBody")


@pytest.mark.parametrize("body", [{}, {"key": "tertiary"}, {"key": 1}])
def test_regenerate_needs_a_slot(gateway: RunningGateway, body: Any) -> None:
    response = call(gateway, "POST", "/subscriptions/master/regenerate", body)
    message = assert_error(response, 400, "InvalidRequestBody")
    assert message == "'key' must be 'primary' or 'secondary'."


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/subscriptions/nobody", None),
        ("POST", "/subscriptions/nobody/regenerate", {"key": "primary"}),
        ("POST", "/subscriptions/nobody/suspend", None),
        ("POST", "/subscriptions/nobody/activate", None),
        ("POST", "/subscriptions/nobody/cancel", None),
    ],
)
def test_an_unknown_subscription_is_404(
    gateway: RunningGateway, method: str, path: str, body: Any
) -> None:
    response = call(gateway, method, path, body)
    assert assert_error(response, 404, "NotFound") == (
        "There is no subscription 'nobody'."
    )


# The admin key -------------------------------------------------------------

ROUTES = [
    ("GET", "/subscriptions", None),
    ("POST", "/subscriptions", {"id": "sneaky"}),
    ("GET", "/subscriptions/master", None),
    ("POST", "/subscriptions/master/regenerate", {"key": "primary"}),
    ("POST", "/subscriptions/master/suspend", None),
    ("POST", "/subscriptions/master/activate", None),
    ("POST", "/subscriptions/master/cancel", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
@pytest.mark.parametrize(
    ("key", "code"), [("", "AdminKeyMissing"), ("0" * 64, "AdminKeyInvalid")]
)
def test_every_route_needs_the_admin_key(
    gateway: RunningGateway, method: str, path: str, body: Any, key: str, code: str
) -> None:
    response = call(gateway, method, path, body, key=key)
    assert_error(response, 401, code)

    # Nothing changed: the master key still works, no subscription was made.
    assert chat(gateway, gateway.key) == 200
    listed = call(gateway, "GET", "/subscriptions").json()
    assert [(s["id"], s["state"]) for s in listed["value"]] == [("master", "active")]


def test_a_subscription_key_is_no_admin_key(gateway: RunningGateway) -> None:
    response = call(gateway, "GET", "/subscriptions", key=gateway.key)
    assert_error(response, 401, "AdminKeyInvalid")
