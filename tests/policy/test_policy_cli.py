"""``tollhouse policy check``, run as an operator runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tollhouse.cli import main

DATA = Path(__file__).parent / "data"
SEED = DATA / "seed-ip-restriction.xml"
SEED_WITH_RANGES = DATA / "seed-ip-restriction-real.xml"

OFFICE = """<policies>
    <inbound>
        <ip-filter action="allow">
            <address>{{office}}</address>
        </ip-filter>
        <set-header name="Authorization" exists-action="override">
            <value>{{token}}</value>
        </set-header>
        <set-backend-service backend-id="{{backend}}" />
    </inbound>
</policies>
"""


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["policy", "check", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def office(tmp_path: Path) -> Path:
    path = tmp_path / "office.xml"
    path.write_text(OFFICE)
    return path


def test_the_seed_with_placeholders_fails_with_precise_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = check(capsys, str(SEED))

    assert status == 1
    assert out.splitlines() == [
        f"{SEED}:7:22: 'YOUR_OFFICE_IP_START' is not an IP address",
        f"{SEED}:7:48: 'YOUR_OFFICE_IP_END' is not an IP address",
        f"{SEED}:8:22: 'YOUR_INTERNAL_NETWORK_START' is not an IP address",
        f"{SEED}:8:55: 'YOUR_INTERNAL_NETWORK_END' is not an IP address",
    ]
    assert err == "tollhouse: 1 of 1 policy files have errors\n"


def test_valid_files_print_ok(capsys: pytest.CaptureFixture[str]) -> None:
    fragments = DATA / "fragments"
    sample = DATA / "samples" / "with-fragments.xml"

    status, out, err = check(
        capsys, str(SEED_WITH_RANGES), str(sample), "--fragments", str(fragments)
    )

    assert (status, err) == (0, "")
    assert out.splitlines() == [f"{SEED_WITH_RANGES}: ok", f"{sample}: ok"]


def test_every_file_is_checked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.xml"

    status, out, err = check(capsys, str(missing), str(SEED_WITH_RANGES), str(SEED))

    assert status == 1
    assert out.splitlines()[:2] == [
        f"{missing}: cannot read the file: No such file or directory",
        f"{SEED_WITH_RANGES}: ok",
    ]
    assert len(out.splitlines()) == 6
    assert err == "tollhouse: 2 of 3 policy files have errors\n"


NAMED_VALUE_CASES = [
    ([], 0, ["{office}: ok"]),
    (
        ["--named-value", "office=10.0.0.300", "--named-value", "token=t"],
        1,
        [
            "{office}:4:22: '10.0.0.300' is not an IP address",
            "{office}:9:42: unknown named value '{{backend}}'",
        ],
    ),
    (
        ["--named-value", "office=10.0.0.3", "--named-value", "token=t"]
        + ["--named-value", "backend=azure"],
        0,
        ["{office}: ok"],
    ),
]


@pytest.mark.parametrize(("options", "status", "expected"), NAMED_VALUE_CASES)
def test_named_values_from_the_command_line(
    capsys: pytest.CaptureFixture[str],
    office: Path,
    options: list[str],
    status: int,
    expected: list[str],
) -> None:
    result, out, _ = check(capsys, str(office), *options)

    assert result == status
    assert out.splitlines() == [
        line.replace("{office}", str(office)) for line in expected
    ]


def test_named_values_and_backends_from_the_configuration(
    capsys: pytest.CaptureFixture[str],
    office: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOLLHOUSE_TEST_TOKEN", "s3cret-token")
    monkeypatch.setenv("TOLLHOUSE_TEST_OFFICE", "s3cret-office")
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "named_values:\n"
        "  office: {env: TOLLHOUSE_TEST_OFFICE, secret: true}\n"
        "  token: {env: TOLLHOUSE_TEST_TOKEN, secret: true}\n"
        "  backend: {value: openai}\n"
        "backends:\n"
        "  azure: {url: 'https://example.openai.azure.com/openai'}\n"
        f"policy_fragments_dir: {DATA / 'fragments'}\n"
    )

    sample = DATA / "samples" / "with-fragments.xml"

    status, out, _ = check(capsys, str(office), str(sample), "--config", str(config))

    assert status == 1
    assert out.splitlines() == [
        f"{office}:4:22: '{{{{office}}}}' is not an IP address",
        f"{office}:9:42: 'openai' is not a backend of this gateway (known: azure)",
        f"{sample}: ok",
    ]
    assert "s3cret" not in out


def test_a_bad_named_value_option_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], office: Path
) -> None:
    status, out, err = check(capsys, str(office), "--named-value", "office")

    assert (status, out) == (2, "")
    assert err == (
        "tollhouse: configuration error: command line: --named-value: "
        "expected NAME=VALUE, got 'office'\n"
    )


def test_help_explains_named_values(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["policy", "check", "--help"])

    out = capsys.readouterr().out
    assert "Without either option, {{name}}" in out
    assert "FILE:LINE:COLUMN: message" in out


def test_the_installed_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tollhouse", "policy", "check", str(SEED)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )

    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        f"{SEED}:7:22: 'YOUR_OFFICE_IP_START' is not an IP address"
    )
