"""The documents of a gateway: loaded at start, merged per request."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.support import RunningGateway, scripted_config
from tollhouse.config import (
    ApiConfig,
    OperationConfig,
    ProductConfig,
    embedded_default,
)
from tollhouse.errors import ConfigError
from tollhouse.policy.document import Section
from tollhouse.policy.loader import DEFAULT_GLOBAL_POLICY
from tollhouse.policy.registry import (
    DEFAULT_SCOPE_POLICY,
    PolicyRegistry,
    is_plain_forward,
    write_embedded_documents,
)


def _header_policy(name: str) -> str:
    return (
        "<policies><inbound><base />"
        f'<set-header name="x-scope" exists-action="append"><value>{name}</value>'
        "</set-header></inbound></policies>"
    )


def _config(tmp_path: Path, **documents: str):  # type: ignore[no-untyped-def]
    for name, text in documents.items():
        (tmp_path / f"{name}.xml").write_text(text, encoding="utf-8")
    config = scripted_config(tmp_path / "data", "http://127.0.0.1:9")
    api = config.apis["azure-openai"]
    return dataclasses.replace(
        config,
        source=str(tmp_path / "gateway.yaml"),
        policy_file="global.xml" if "global" in documents else None,
        products={
            "gold": ProductConfig(
                apis=("azure-openai",),
                policy_file="product.xml" if "product" in documents else None,
            )
        },
        apis={
            "azure-openai": dataclasses.replace(
                api,
                policy_file="api.xml" if "api" in documents else None,
                operations={
                    "ChatCompletions_Create": OperationConfig(
                        policy_file="operation.xml"
                    )
                }
                if "operation" in documents
                else {},
            )
        },
    )


def _values(document) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        element.children[0].text.text  # type: ignore[union-attr]
        for element in document.section(Section.INBOUND)
    ]


def test_scopes_merge_from_global_to_operation(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        **{s: _header_policy(s) for s in ("global", "product", "api", "operation")},
    )
    registry = PolicyRegistry.load(config, {})

    chat = registry.effective("gold", "azure-openai", "ChatCompletions_Create")
    assert _values(chat) == ["global", "product", "api", "operation"]
    assert _values(registry.effective(None, "azure-openai", "embeddings_create")) == [
        "global",
        "api",
    ]
    assert _values(registry.effective(None, None, None)) == ["global"]
    assert registry.configured


def test_without_documents_the_gateway_only_forwards(tmp_path: Path) -> None:
    registry = PolicyRegistry.load(_config(tmp_path), {})

    assert not registry.configured
    assert is_plain_forward(registry.effective(None, "azure-openai", "x"))


def test_a_forward_request_with_a_timeout_is_not_plain(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        api='<policies><backend><forward-request timeout="5" /></backend></policies>',
    )
    document = PolicyRegistry.load(config, {}).effective(None, "azure-openai", "x")

    assert not is_plain_forward(document)


def test_an_unknown_operation_id_is_a_configuration_error(tmp_path: Path) -> None:
    config = _config(tmp_path)
    api = dataclasses.replace(
        config.apis["azure-openai"],
        operations={"ChatCompletion": OperationConfig(policy_file="x.xml")},
    )
    config = dataclasses.replace(config, apis={"azure-openai": api})

    with pytest.raises(ConfigError) as caught:
        PolicyRegistry.load(config, {})
    assert caught.value.path == "apis.azure-openai.operations.ChatCompletion"
    assert "unknown operation 'ChatCompletion'" in caught.value.message


def test_the_gateway_refuses_to_start_with_an_invalid_document(
    tmp_path: Path,
) -> None:
    config = _config(
        tmp_path,
        api='<policies><inbound><ip-filter action="allow">'
        "<address>10.0.0.300</address></ip-filter></inbound></policies>",
    )

    running = RunningGateway(config)
    with pytest.raises(ConfigError) as caught, running:
        pass
    assert str(caught.value) == (
        f"{tmp_path / 'api.xml'}:1:55: '10.0.0.300' is not an IP address"
    )
    assert not (tmp_path / "data").exists()


def test_a_missing_document_file_is_a_configuration_error(tmp_path: Path) -> None:
    config = _config(tmp_path)
    api = dataclasses.replace(config.apis["azure-openai"], policy_file="absent.xml")
    config = dataclasses.replace(config, apis={"azure-openai": api})

    with pytest.raises(ConfigError, match="absent.xml"):
        PolicyRegistry.load(config, {})


def test_apiconfig_default_has_no_documents() -> None:
    assert ApiConfig(path="x", backend="y").operations == {}


def test_the_embedded_default_writes_its_documents_once(tmp_path: Path) -> None:
    config = embedded_default(str(tmp_path / "data"))
    policies = tmp_path / "data" / "policies"

    written = write_embedded_documents(config)

    assert written == [policies / "global.xml", policies / "azure-openai.xml"]
    assert (policies / "global.xml").read_text() == DEFAULT_GLOBAL_POLICY
    assert (policies / "azure-openai.xml").read_text() == DEFAULT_SCOPE_POLICY
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700
    (policies / "global.xml").write_text("<policies />")
    assert write_embedded_documents(config) == []
    assert (policies / "global.xml").read_text() == "<policies />"


def test_the_embedded_defaults_documents_run_as_a_plain_forward(
    tmp_path: Path,
) -> None:
    config = embedded_default(str(tmp_path / "data"))
    write_embedded_documents(config)

    registry = PolicyRegistry.load(config, {})

    document = registry.effective(None, "azure-openai", "ChatCompletions_Create")
    assert is_plain_forward(document)


def test_the_embedded_default_loads_before_its_documents_exist(
    tmp_path: Path,
) -> None:
    config = embedded_default(str(tmp_path / "data"))

    registry = PolicyRegistry.load(config, {})

    assert not registry.configured
    assert not (tmp_path / "data").exists()


def test_a_configuration_file_gets_no_written_documents(tmp_path: Path) -> None:
    config = _config(tmp_path)
    api = dataclasses.replace(config.apis["azure-openai"], policy_file="absent.xml")
    config = dataclasses.replace(config, apis={"azure-openai": api})

    assert write_embedded_documents(config) == []
    assert not (tmp_path / "absent.xml").exists()


def test_an_unwritable_data_directory_is_a_configuration_error(
    tmp_path: Path,
) -> None:
    (tmp_path / "data").write_text("a file, not a directory")
    config = embedded_default(str(tmp_path / "data"))

    with pytest.raises(ConfigError) as caught:
        write_embedded_documents(config)
    assert "cannot write the default policy document" in str(caught.value)
