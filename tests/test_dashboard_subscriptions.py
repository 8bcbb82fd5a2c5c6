"""The dashboard's Subscriptions page: list, create, keys shown once, states."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.dashboard_support import csrf_token, login
from tests.management_support import secured_gateway
from tests.support import RunningGateway

CHAT = "/openai/deployments/gpt-4o-deployment/chat/completions?api-version=2024-10-21"
PAGE = "/dashboard/subscriptions"
_KEY = re.compile(r'class="key" value="([^"]+)"')


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    gw = secured_gateway(tmp_path / "data")
    try:
        yield gw
    finally:
        gw.stop()


class Operator:
    """A logged-in `requests` session on the Subscriptions page."""

    def __init__(self, gw: RunningGateway) -> None:
        self.gw = gw
        self.browser = login(gw)
        self.token = csrf_token(gw, self.browser)
        self.pages: list[str] = []

    def get(self, path: str = PAGE) -> requests.Response:
        response = self.browser.get(self.gw.management_url + path, timeout=10)
        self.pages.append(response.text)
        return response

    def post(
        self, path: str, data: dict[str, str], *, htmx: bool = False
    ) -> requests.Response:
        headers = {"HX-Request": "true"} if htmx else {}
        response = self.browser.post(
            self.gw.management_url + path,
            data={"csrf_token": self.token, **data},
            headers=headers,
            allow_redirects=False,
            timeout=10,
        )
        self.pages.append(response.text)
        return response

    def create(self, sub_id: str, scope: str = "/apis") -> requests.Response:
        return self.post(PAGE, {"id": sub_id, "name": f"Team {sub_id}", "scope": scope})


@pytest.fixture
def operator(gateway: RunningGateway) -> Operator:
    return Operator(gateway)


def shown_keys(page: str) -> list[str]:
    return _KEY.findall(page)


def row(page: str, sub_id: str) -> str:
    found = re.search(
        rf'<tr id="subscription-{re.escape(sub_id)}">(.*?)</tr>', page, re.S
    )
    assert found is not None, page
    return found[1]


def chat(gw: RunningGateway, key: str) -> requests.Response:
    body = {"messages": [{"role": "user", "content": "Hello"}]}
    return gw.post(CHAT, body, headers={"api-key": key})


def test_the_list_shows_master_with_its_usage(
    gateway: RunningGateway, operator: Operator
) -> None:
    assert chat(gateway, gateway.key).status_code == 200
    gateway.logged()

    page = operator.get()

    assert page.status_code == 200
    assert '<a href="/dashboard/subscriptions" aria-current="page">' in page.text
    master = row(page.text, "master")
    assert "built-in" in master
    assert "Built-in all-access subscription" in master
    assert "All APIs" in master
    assert "state-active" in master
    numbers = re.findall(r'<td class="num">([\d,]+)</td>', master)
    assert numbers[0] == numbers[2] == "1"
    assert int(numbers[1]) > 0 and numbers[1] == numbers[3]
    assert shown_keys(page.text) == []
    assert gateway.key not in page.text


def test_the_scopes_offered_come_from_the_configuration(operator: Operator) -> None:
    page = operator.get().text

    options = re.findall(r'<option value="([^"]+)"[^>]*>([^<]+)</option>', page)
    assert options == [
        ("/apis", "All APIs"),
        ("/apis/azure-openai", "API: Azure OpenAI"),
        ("/products/starter", "Product: Starter"),
    ]


def test_create_shows_both_keys_once_and_the_gateway_takes_them(
    gateway: RunningGateway, operator: Operator
) -> None:
    created = operator.create("team-a", "/products/starter")

    assert created.status_code == 201
    assert created.headers["Cache-Control"] == "no-store"
    primary, secondary = shown_keys(created.text)
    assert "They will not be shown again" in created.text
    assert "Product: Starter" in row(created.text, "team-a")
    assert chat(gateway, primary).status_code == 200
    assert chat(gateway, secondary).status_code == 200

    # The list, and every page after, never shows them again.
    for path in (PAGE, "/dashboard/logs", "/dashboard/logs/rows?range=all"):
        operator.get(path)
    for page in operator.pages[1:]:
        assert primary not in page and secondary not in page
    assert primary not in gateway.output.getvalue()


def test_htmx_gets_the_body_alone(operator: Operator) -> None:
    created = operator.create("team-b")
    swapped = operator.post(PAGE, {"id": "team-c"}, htmx=True)

    assert swapped.status_code == 200
    assert "<html" not in swapped.text
    assert len(shown_keys(swapped.text)) == 2
    assert 'id="subscription-team-c"' in swapped.text
    assert "Team team-b" in row(created.text, "team-b")
    assert "team-c" in row(swapped.text, "team-c")  # the name defaults to the id


def test_regenerate_shows_the_new_key_once(
    gateway: RunningGateway, operator: Operator
) -> None:
    old_primary, old_secondary = shown_keys(operator.create("team-a").text)

    regenerated = operator.post(f"{PAGE}/team-a/regenerate", {"slot": "secondary"})

    assert regenerated.status_code == 200
    (new_secondary,) = shown_keys(regenerated.text)
    assert new_secondary != old_secondary
    assert "Secondary key" in regenerated.text
    assert chat(gateway, new_secondary).status_code == 200
    assert chat(gateway, old_secondary).status_code == 401
    assert chat(gateway, old_primary).status_code == 200
    later = operator.get().text
    assert new_secondary not in later and shown_keys(later) == []


def test_a_bad_slot_is_refused(operator: Operator) -> None:
    operator.create("team-a")

    response = operator.post(f"{PAGE}/team-a/regenerate", {"slot": "tertiary"})

    assert response.status_code == 400
    assert "primary or the secondary key" in response.text


def test_suspend_activate_cancel_reach_the_gateway_at_once(
    gateway: RunningGateway, operator: Operator
) -> None:
    primary, _ = shown_keys(operator.create("team-a").text)
    assert chat(gateway, primary).status_code == 200

    suspended = operator.post(f"{PAGE}/team-a/suspend", {}, htmx=True)
    assert "state-suspended" in row(suspended.text, "team-a")
    assert "/team-a/activate" in suspended.text
    assert chat(gateway, primary).status_code == 401

    activated = operator.post(f"{PAGE}/team-a/activate", {})
    assert "state-active" in row(activated.text, "team-a")
    assert chat(gateway, primary).status_code == 200

    cancelled = operator.post(f"{PAGE}/team-a/cancel", {})
    cancelled_row = row(cancelled.text, "team-a")
    assert "state-cancelled" in cancelled_row
    assert "/team-a/cancel" not in cancelled_row
    assert "/team-a/regenerate" not in cancelled_row
    assert chat(gateway, primary).status_code == 401
    assert shown_keys(cancelled.text) == []


def test_what_cannot_be_undone_asks_first(operator: Operator) -> None:
    master = row(operator.get().text, "master")

    assert 'hx-confirm="Cancel the subscription master?' in master
    assert 'hx-confirm="Suspend master? Its keys are refused until' in master
    assert 'hx-confirm="Regenerate the primary key of master? The current' in master
    assert 'hx-confirm="Regenerate the secondary key of master?' in master


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"id": "master"}, 409, "There is already a subscription &#39;master&#39;."),
        ({"id": "team a"}, 400, "A subscription id is 1 to 80 letters"),
        ({"id": "-team"}, 400, "starting with a letter or digit"),
        ({"id": ""}, 400, "A subscription id is 1 to 80 letters"),
        (
            {"id": "team-a", "scope": "/apis/nowhere"},
            400,
            "&#39;scope&#39; names no configured API: &#39;nowhere&#39;.",
        ),
        (
            {"id": "team-a", "scope": "/products/gold"},
            400,
            "&#39;scope&#39; names no configured product: &#39;gold&#39;.",
        ),
        ({"id": "team-a", "scope": "everything"}, 400, "Scope must be /apis"),
    ],
)
def test_bad_input_is_explained_inline(
    operator: Operator, data: dict[str, str], status: int, message: str
) -> None:
    response = operator.post(PAGE, {"name": "Team", "scope": "/apis", **data})

    assert response.status_code == status
    assert '<p class="error" role="alert">' in response.text
    assert message in response.text
    assert shown_keys(response.text) == []
    # The form keeps what was typed.
    assert f'name="id" value="{data["id"]}"' in response.text
    swapped = operator.post(PAGE, {"scope": "/apis", **data}, htmx=True)
    assert swapped.status_code == 200 and message in swapped.text
    assert 'id="subscription-team-a"' not in operator.get().text


def test_an_unknown_subscription_is_a_404(operator: Operator) -> None:
    response = operator.post(f"{PAGE}/nobody/suspend", {})

    assert response.status_code == 404
    assert "nobody" in response.text


@pytest.mark.parametrize(
    "path",
    [PAGE, f"{PAGE}/master/suspend", f"{PAGE}/master/regenerate"],
)
def test_changes_without_the_csrf_token_are_refused(
    gateway: RunningGateway, operator: Operator, path: str
) -> None:
    for token in ("", "forged"):
        response = operator.browser.post(
            gateway.management_url + path,
            data={"csrf_token": token, "id": "team-x", "slot": "primary"},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 403
    page = operator.get().text
    assert "team-x" not in page
    assert "state-active" in row(page, "master")
    assert chat(gateway, gateway.key).status_code == 200


def test_strangers_are_sent_to_login(gateway: RunningGateway) -> None:
    response = requests.get(
        gateway.management_url + PAGE, allow_redirects=False, timeout=10
    )
    assert response.status_code == 303
    refused = requests.post(
        gateway.management_url + PAGE, data={"id": "team-x"}, timeout=10
    )
    assert refused.status_code == 403
