"""The ``tollhouse`` command line, run as the operator runs it."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tollhouse.cli import main
from tollhouse.store.sqlite import connect
from tollhouse.subscriptions import KeySecrets, SubscriptionStore

LISTENING = re.compile(r"Tollhouse listening on http://127\.0\.0\.1:(\d+)")


def initialise(data_dir: Path) -> Path:
    """A data directory as a first `tollhouse serve` leaves it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = connect(data_dir / "tollhouse.db")
    SubscriptionStore(conn, KeySecrets.load_or_create(data_dir)).ensure_master()
    conn.close()
    return data_dir


def tollhouse(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tollhouse", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


class Served:
    def __init__(self, process: subprocess.Popen[str], port: int, banner: str) -> None:
        self.process = process
        self.port = port
        self.banner = banner

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_serve(data_dir: Path, *extra: str) -> Served:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tollhouse",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--management-port",
            "0",
            *extra,
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert process.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        found = LISTENING.search(line)
        if found:
            return Served(process, int(found.group(1)), "".join(lines))
    process.kill()
    raise AssertionError("the gateway did not start:\n" + "".join(lines))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    running = start_serve(tmp_path / "data")
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait(10)


def test_serve_shows_the_master_key_once_and_drains_on_sigterm(
    served: Served, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    shown = tollhouse("keys", "show", "master", "--data-dir", str(data_dir))
    key = shown.stdout.strip()
    assert shown.returncode == 0
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    assert shown.stdout == key + "\n"
    assert f"shown this once: {key}" in served.banner

    url = served.url + "/openai/deployments/gpt-4o-deployment/chat/completions"
    with requests.Session() as session:
        for i in range(25):
            response = session.post(
                url + "?api-version=2024-10-21",
                headers={"api-key": key},
                json={"messages": [{"role": "user", "content": f"message {i}"}]},
                stream=i % 2 == 0,
            )
            assert response.status_code == 200
            response.content  # noqa: B018 - read the whole body

    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(30) == 0
    with sqlite3.connect(data_dir / "tollhouse.db") as conn:
        (requests_logged,) = conn.execute(
            "SELECT count(*) FROM ApiManagementGatewayLogs"
        ).fetchone()
        (usage_rows,) = conn.execute(
            "SELECT count(*) FROM ApiManagementGatewayLlmLog WHERE SequenceNumber = 0"
        ).fetchone()
    assert (requests_logged, usage_rows) == (25, 25)

    again = start_serve(data_dir)
    try:
        assert "shown this once" not in again.banner
        assert key not in again.banner
    finally:
        again.process.send_signal(signal.SIGTERM)
        again.process.wait(30)


def test_keys_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data-dir", str(initialise(tmp_path / "d"))]

    assert (
        main(
            [
                "keys",
                "create",
                "team-a",
                "--name",
                "Team A",
                "--scope",
                "/apis/azure-openai",
                *data,
            ]
        )
        == 0
    )
    created = capsys.readouterr().out.split()
    primary, secondary = created[1], created[3]
    assert main(["keys", "show", "team-a", *data]) == 0
    assert capsys.readouterr().out == primary + "\n"
    assert main(["keys", "show", "team-a", "--secondary", *data]) == 0
    assert capsys.readouterr().out == secondary + "\n"

    assert main(["keys", "regenerate", "team-a", *data]) == 0
    regenerated = capsys.readouterr().out.strip()
    assert regenerated != primary
    assert main(["keys", "show", "team-a", *data]) == 0
    assert capsys.readouterr().out.strip() == regenerated

    assert main(["keys", "suspend", "team-a", *data]) == 0
    assert capsys.readouterr().out == "team-a: suspended\n"
    assert main(["keys", "list", *data]) == 0
    listing = capsys.readouterr().out
    assert re.search(r"team-a\s+suspended\s+/apis/azure-openai\s+Team A", listing)
    assert re.search(
        r"master\s+active\s+/apis\s+Built-in all-access subscription", listing
    )
    assert primary not in listing and regenerated not in listing

    assert main(["keys", "activate", "team-a", *data]) == 0
    assert main(["keys", "cancel", "team-a", *data]) == 0
    assert capsys.readouterr().out == "team-a: active\nteam-a: cancelled\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["keys", "show", "nobody"], "no subscription with id 'nobody'"),
        (["keys", "create", "x", "--scope", "/everything"], "scope must be"),
        (["keys", "create", "x", "--scope", "apis/azure-openai"], "scope must be"),
        (["keys", "create", "x", "--scope", "/apis/"], "scope must be"),
        (
            ["keys", "create", "x", "--scope", "/apis/nope"],
            "scope '/apis/nope' names no API of this gateway (known: azure-openai)",
        ),
        (
            ["keys", "create", "x", "--scope", "/products/nope"],
            "scope '/products/nope' names no product of this gateway (known: none)",
        ),
        (["keys", "create", ""], "a subscription id is 1 to 80 letters"),
        (["keys", "create", "bad id"], "a subscription id is 1 to 80 letters"),
        (["keys", "create", "master"], "subscription 'master' already exists"),
    ],
)
def test_keys_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main([*args, "--data-dir", str(initialise(tmp_path))]) == 1
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("action", [["list"], ["show", "master"], ["create", "x"]])
def test_keys_need_an_existing_data_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], action: list[str]
) -> None:
    assert main(["keys", *action, "--data-dir", str(tmp_path / "none")]) == 1
    assert "no Tollhouse data in" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


def test_cancelling_master_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ["--data-dir", str(initialise(tmp_path / "d"))]
    assert main(["keys", "cancel", "master", *data]) == 0
    captured = capsys.readouterr()
    assert captured.out == "master: cancelled\n"
    assert "built-in all-access subscription is now cancelled" in captured.err


def test_database_holds_no_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = initialise(tmp_path / "d")
    assert main(["keys", "create", "team-b", "--data-dir", str(data_dir)]) == 0
    keys = capsys.readouterr().out.split()[1::2]
    assert main(["keys", "show", "master", "--data-dir", str(data_dir)]) == 0
    keys.append(capsys.readouterr().out.strip())
    database = (data_dir / "tollhouse.db").read_bytes()
    for key in keys:
        assert key.encode() not in database
    assert oct((data_dir / "secrets.json").stat().st_mode & 0o777) == "0o600"


def test_bad_configuration_refuses_to_start(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "backends: {b: {url: 'http://x'}}\napis: {a: {path: openai, backend: c}}\n"
    )
    result = tollhouse("serve", "--config", str(config), "--port", "0")
    assert result.returncode == 2
    assert (
        f"tollhouse: configuration error: {config}: apis.a.backend: "
        "backend 'c' is not defined under backends"
    ) in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_environment_variable_refuses_to_start(tmp_path: Path) -> None:
    config = tmp_path / "env.yaml"
    config.write_text(
        "named_values: {k: {env: TOLLHOUSE_TEST_UNSET, secret: true}}\n"
        "backends: {b: {url: 'http://127.0.0.1:9',\n"
        "               credentials: {type: header, value: '{{k}}'}}}\n"
        "apis: {a: {path: openai, backend: b}}\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TOLLHOUSE_TEST_UNSET"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tollhouse",
            "serve",
            "--config",
            str(config),
            "--port",
            "0",
            "--data-dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2
    assert (
        "named_values.k.env: environment variable TOLLHOUSE_TEST_UNSET is not set"
        in result.stderr
    )


def test_logs_tail_and_show(served: Served, tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    key = tollhouse("keys", "show", "master", *data).stdout.strip()
    response = requests.post(
        served.url
        + "/openai/deployments/gpt-4o-deployment/chat/completions"
        + "?api-version=2024-10-21",
        headers={"api-key": key},
        json={
            "messages": [{"role": "user", "content": "안녕하세요 로그"}],
            "stream": True,
        },
    )
    assert response.status_code == 200
    time.sleep(1.0)

    tail = tollhouse("logs", "tail", "--no-follow", *data)
    assert tail.returncode == 0
    line = tail.stdout.strip().splitlines()[-1]
    assert re.search(r" 200 master\s+gpt-4o-deployment\s+\d+/\d+/\d+ ", line)
    assert line.endswith("POST /openai/deployments/gpt-4o-deployment/chat/completions")

    with sqlite3.connect(tmp_path / "data" / "tollhouse.db") as conn:
        (cid,) = conn.execute(
            "SELECT CorrelationId FROM ApiManagementGatewayLogs"
        ).fetchone()
    shown = tollhouse("logs", "show", cid, *data)
    assert shown.returncode == 0
    assert (
        shown.stdout.count("안녕하세요 로그") == 2
    )  # the prompt and the echoed completion
    assert key not in shown.stdout

    missing = tollhouse("logs", "show", "no-such-id", *data)
    assert missing.returncode == 1
    assert "no request with correlation id no-such-id" in missing.stderr


def test_help_texts_name_the_interface() -> None:
    serve = tollhouse("serve", "--help").stdout
    for option in ("--config", "--host", "--port", "--data-dir"):
        assert option in serve
    assert "--secondary" in tollhouse("keys", "show", "--help").stdout
    mock = tollhouse("mock-backend", "--help").stdout
    assert "--host" in mock and "--port" in mock


def test_port_in_use_is_a_clear_error(served: Served, tmp_path: Path) -> None:
    result = tollhouse(
        "serve", "--port", str(served.port), "--data-dir", str(tmp_path / "other")
    )
    assert result.returncode == 1
    assert f"tollhouse: cannot listen on 127.0.0.1:{served.port}:" in result.stderr
    assert "Traceback" not in result.stderr
    assert "shown this once" not in result.stderr
    assert not (tmp_path / "other").exists()


def test_unset_backend_key_stops_before_anything_is_created(tmp_path: Path) -> None:
    config = tmp_path / "creds.yaml"
    config.write_text(
        "backends: {b: {url: 'http://127.0.0.1:9',\n"
        "               credentials: {type: header, env: TOLLHOUSE_TEST_UNSET}}}\n"
        "apis: {a: {path: openai, backend: b}}\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TOLLHOUSE_TEST_UNSET"}
    result = subprocess.run(
        [
            sys.executable, "-m", "tollhouse", "serve", "--config", str(config),
            "--port", "0", "--data-dir", str(tmp_path / "d"),
        ],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert result.returncode == 2
    assert (
        f"configuration error: {config}: backends.b.credentials.env: environment "
        "variable TOLLHOUSE_TEST_UNSET is empty or not set"
    ) in result.stderr
    assert "shown this once" not in result.stderr
    assert not (tmp_path / "d").exists()


def test_data_directory_is_private(served: Served, tmp_path: Path) -> None:
    assert oct((tmp_path / "data").stat().st_mode & 0o777) == "0o700"


def test_mock_shorthand_url_serves_deployments(tmp_path: Path) -> None:
    config = tmp_path / "mock.yaml"
    config.write_text(
        "mock_backend: true\n"
        "backends: {m: {url: 'mock:'}}\n"
        "apis: {azure-openai: {path: openai, backend: m}}\n"
    )
    running = start_serve(tmp_path / "d", "--config", str(config))
    try:
        key = tollhouse("keys", "show", "master", "--data-dir", str(tmp_path / "d"))
        response = requests.post(
            running.url + "/openai/deployments/any/chat/completions"
            "?api-version=2024-10-21",
            headers={"api-key": key.stdout.strip()},
            json={"messages": [{"role": "user", "content": "through mock:"}]},
        )
        assert response.status_code == 200
        assert response.json()["choices"][0]["message"]["content"] == "through mock:"
    finally:
        running.process.send_signal(signal.SIGTERM)
        running.process.wait(30)


def test_a_reader_that_goes_away_gets_no_traceback(tmp_path: Path) -> None:
    policy = tmp_path / "p.xml"
    policy.write_text("<policies><inbound /></policies>", encoding="utf-8")
    command = [sys.executable, "-m", "tollhouse", "policy", "check"]
    # Enough lines to fill the pipe long after its reader has closed it.
    with subprocess.Popen(
        [*command, *[str(policy)] * 20_000],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline() == f"{policy}: ok\n".encode()
        process.stdout.close()
        errors = process.stderr.read()
        status = process.wait(timeout=30)

    assert errors == b""
    assert status == 1
