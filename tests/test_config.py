"""Loading and validating the YAML configuration."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tollhouse.config import (
    GatewayConfig,
    embedded_default,
    iter_settings,
    load_config,
    resolve_named_values,
    substitute,
)
from tollhouse.errors import ConfigError

DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"

VALID = """
listener: {host: 0.0.0.0, port: 9090, region: korea-central}
data_dir: /var/lib/tollhouse
named_values:
  aoai-key: {env: AOAI_KEY, secret: true}
  plain: {value: hello}
backends:
  aoai:
    url: https://example.openai.azure.com/openai
    credentials: {type: header, header: api-key, value: "{{aoai-key}}"}
    timeouts: {connect: 5, first_byte: 60}
  local:
    url: http://127.0.0.1:8001/v1
    kind: openai
    stream_usage: never
apis:
  azure-openai:
    path: openai
    backend: aoai
    deployments:
      gpt-4o-deployment: {}
      mini: {model: gpt-4o-mini}
    diagnostics: {log_llm_messages: false, sampling_percentage: 50}
  other:
    path: other
    backend: local
    template: passthrough
    subscription_key: {header: Ocp-Apim-Subscription-Key}
products:
  starter: {apis: [azure-openai], display_name: Starter}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_full_file_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))

    assert config.listener.port == 9090
    assert config.listener.region == "korea-central"
    assert config.backends["aoai"].timeouts.connect == 5.0
    assert config.backends["aoai"].timeouts.idle == 300.0
    assert config.backends["local"].kind == "openai"
    assert config.apis["azure-openai"].deployments["mini"].model == "gpt-4o-mini"
    assert config.apis["azure-openai"].diagnostics.sampling_percentage == 50.0
    assert config.apis["other"].subscription_key.header == "Ocp-Apim-Subscription-Key"
    assert config.products["starter"].apis == ("azure-openai",)
    assert config.database_path == Path("/var/lib/tollhouse/tollhouse.db")


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ("listener: {prot: 1}", "listener.prot", "unknown setting"),
        ("listener: {port: eighty}", "listener.port", "expected int, got str 'eighty'"),
        ("listener: {port: 70000}", "listener.port", "must be between 0 and 65535"),
        ("listener: [1, 2]", "listener", "expected a mapping, got a list"),
        (
            "listener: {trusted_proxies: ['10.0.0.0/8', proxy.local]}",
            "listener.trusted_proxies[1]",
            "'proxy.local' is not an IP address or range",
        ),
        (
            "backends: {b: {kind: openai}}",
            "backends.b.url",
            "required setting is missing",
        ),
        (
            "backends: {b: {url: ftp://x}}",
            "backends.b.url",
            "must be an http:// or https:// URL",
        ),
        (
            "backends: {b: {url: 'http://x', kind: vllm}}",
            "backends.b.kind",
            "must be one of 'azure-openai', 'openai', got 'vllm'",
        ),
        (
            "backends: {b: {url: 'http://x'}}\napis: {a: {path: openai, backend: c}}",
            "apis.a.backend",
            "backend 'c' is not defined under backends",
        ),
        (
            "backends: {b: {url: 'http://x', credentials: {type: header}}}",
            "backends.b.credentials",
            "`type: header` needs `value` or `env`",
        ),
        (
            "backends: {b: {url: 'http://x', credentials: {type: header, "
            "value: '{{nope}}'}}}",
            "backends.b.credentials.value",
            "named value 'nope' is not defined",
        ),
        (
            "backends: {b: {url: 'http://x'}}\n"
            "apis: {a: {path: openai, backend: b}, c: {path: /openai/, backend: b}}",
            "apis.c.path",
            "path '/openai/' is already used by API 'a'",
        ),
        (
            "products: {p: {apis: [nope]}}",
            "products.p.apis[0]",
            "API 'nope' is not defined",
        ),
        (
            "backends: {b: {url: 'http://x', kind: openai, kind: azure-openai}}",
            "kind",
            "'kind' is given twice in one mapping (line 1, column 47)",
        ),
        (
            "backends: {b: {url: 'http://x', timeouts: {connect: -5}}}",
            "backends.b.timeouts.connect",
            "must be greater than 0",
        ),
        (
            "listener: {max_request_bytes: 0}",
            "listener.max_request_bytes",
            "must be greater than 0",
        ),
        (
            "diagnostics: {sampling_percentage: 100.5}",
            "diagnostics.sampling_percentage",
            "must be between 0 and 100",
        ),
        (
            "backends: {b: {url: 'http://x'}}\n"
            "apis: {a: {path: openai, backend: b,"
            " diagnostics: {max_message_bytes: 0}}}",
            "apis.a.diagnostics.max_message_bytes",
            "must be between 1 and 1073741824",
        ),
        (
            "diagnostics: {body_bytes: 9223372036854775808}",
            "diagnostics.body_bytes",
            "must be between 0 and 8192",
        ),
        (
            "backends: {b: {url: 'http://x'}}\n"
            "apis: {a: {path: openai, backend: b}, c: {path: other, backend: b}}",
            "apis.c.openai_routes",
            "APIs 'a', 'c' would all serve the root /v1 routes",
        ),
        (
            "mock_backend: true\nbackends: {b: {url: 'mock:openai'}}",
            "backends.b.url",
            "a mock URL is `mock:` or `mock:/PATH`",
        ),
        (
            "backends: {b: {url: 'mock:/openai'}}",
            "backends.b.url",
            "needs `mock_backend: true`",
        ),
    ],
)
def test_errors_name_file_key_path_and_problem(
    tmp_path: Path, text: str, path: str, message: str
) -> None:
    file = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    error = caught.value
    assert error.source == str(file)
    assert error.path == path
    assert message in error.message
    assert str(error).startswith(f"{file}: {path}: ")


def test_yaml_syntax_error_names_the_file(tmp_path: Path) -> None:
    file = write(tmp_path, "listener: {port: 1\n")
    with pytest.raises(ConfigError, match="not valid YAML") as caught:
        load_config(file)
    assert caught.value.source == str(file)
    assert f'in "{file}", line 2' in caught.value.message
    assert "<unicode string>" not in caught.value.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "absent.yaml")


def test_named_values_from_environment(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))
    values = resolve_named_values(config, {"AOAI_KEY": "secret-value"})
    assert values == {"aoai-key": "secret-value", "plain": "hello"}
    assert substitute("key={{ aoai-key }}", values) == "key=secret-value"
    with pytest.raises(ConfigError) as caught:
        resolve_named_values(config, {})
    assert caught.value.path == "named_values.aoai-key.env"


def test_embedded_default() -> None:
    config = embedded_default(".data")
    assert config.mock_backend is True
    assert config.listener.host == "127.0.0.1"
    assert config.listener.port == 8080
    assert list(config.apis["azure-openai"].deployments) == ["gpt-4o-deployment"]
    assert config.database_path == Path(".data/tollhouse.db")


def test_every_setting_is_documented() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    settings = iter_settings(GatewayConfig)
    assert len(settings) > 40
    for path, help_text in settings:
        assert help_text, f"{path} has no help text"
        row = re.search(rf"^\| `{re.escape(path)}` \|.*\| (.*) \|$", docs, re.MULTILINE)
        assert row is not None, f"{path} is missing from docs/configuration.md"
        assert row.group(1) == help_text, f"{path}: docs differ from the help text"
