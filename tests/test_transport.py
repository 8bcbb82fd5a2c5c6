"""The backend transport (`tollhouse.transport`) through a running gateway."""

from __future__ import annotations

from pathlib import Path

from tests.support import (
    JSON,
    Reply,
    RunningGateway,
    ScriptedBackend,
    chat_body,
    scripted_config,
)

AZURE_CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
HELLO = b'{"messages":[{"role":"user","content":"hi"}]}'


def test_a_backends_cookie_is_never_sent_back(
    tmp_path: Path, backend: ScriptedBackend
) -> None:
    # One client's backend session must not ride along with the next
    # client's request: the gateway keeps no cookie jar.  (A jar takes
    # cookies from host names only, so the backend is called by one.)
    cookie = ("Set-Cookie", "session=first-client; Path=/")
    backend.reply(Reply([chat_body("one")], headers=(*JSON, cookie)))
    backend.reply(Reply([chat_body("two")], headers=JSON))

    url = backend.url.replace("127.0.0.1", "localhost")
    with RunningGateway(scripted_config(tmp_path / "data", url)) as gw:
        first = gw.post(AZURE_CHAT, HELLO)
        second = gw.post(AZURE_CHAT, HELLO)

    assert "Set-Cookie" not in first.headers  # nor does it reach the client
    assert second.status_code == 200
    assert [name.lower() for name, _ in backend.seen[1].headers].count("cookie") == 0
