"""Matching a request path to an API and one of its operations.

Every route shape resolves to the same `Route`, which the one pipeline runs:

- ``/{api}/deployments/{deployment-id}/chat/completions`` and the other Azure
  OpenAI template operations (the deployment is in the path);
- ``/{api}/v1/chat/completions``, ``/v1/chat/completions`` and Azure's
  ``/{api}/responses`` (OpenAI style: the deployment is the ``model`` in the
  body);
- any other path under an API's base path (passed through unchanged).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .config import AZURE_OPENAI_TEMPLATE, ApiConfig
from .llm import LlmKind

Shape = Literal["deployment", "v1", "passthrough"]


@dataclass(frozen=True, slots=True)
class Operation:
    """An operation of the Azure OpenAI template, named as APIM names it."""

    id: str
    name: str
    suffix: str
    llm_kind: LlmKind | None = None


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "ChatCompletions_Create",
        "Creates a completion for the chat message",
        "chat/completions",
        "chat",
    ),
    Operation(
        "Completions_Create",
        "Creates a completion for the provided prompt, parameters and chosen model.",
        "completions",
        "completions",
    ),
    Operation(
        "embeddings_create",
        "Get a vector representation of a given input that can be easily consumed "
        "by machine learning models and algorithms.",
        "embeddings",
        "embeddings",
    ),
    Operation(
        "Responses_Create", "Creates a model response.", "responses", "responses"
    ),
    Operation(
        "ImageGenerations_Create",
        "Generates a batch of images from a text caption on a given DALLE model "
        "deployment",
        "images/generations",
    ),
    Operation(
        "Transcriptions_Create",
        "Transcribes audio into the input language.",
        "audio/transcriptions",
    ),
    Operation(
        "Translations_Create",
        "Transcribes and translates input audio into English text.",
        "audio/translations",
    ),
    Operation("Speech_Create", "Generates audio from the input text.", "audio/speech"),
)
PASSTHROUGH = Operation("passthrough", "Pass-through", "")

_BY_SUFFIX = {op.suffix: op for op in OPERATIONS}
_V1_SUFFIXES = ("chat/completions", "completions", "embeddings", "responses")
_DEPLOYMENT_PATH = re.compile(r"^/deployments/([^/]+)/(.+)$")


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request goes: API, operation and the path below the API."""

    api_id: str
    api: ApiConfig
    operation: Operation
    shape: Shape
    remainder: str
    deployment: str | None = None

    @property
    def llm_kind(self) -> LlmKind | None:
        return self.operation.llm_kind


class Router:
    """Finds the API and operation for a path; built once from the config."""

    def __init__(self, apis: dict[str, ApiConfig]) -> None:
        by_length = sorted(apis.items(), key=lambda item: -len(item[1].path.strip("/")))
        self._apis = [
            ("/" + api.path.strip("/"), api_id, api) for api_id, api in by_length
        ]
        self._openai_root = next(
            (
                (api_id, api)
                for _, api_id, api in self._apis
                if api.template == AZURE_OPENAI_TEMPLATE and api.openai_routes
            ),
            None,
        )

    def match(self, path: str) -> Route | None:
        for prefix, api_id, api in self._apis:
            if prefix == "/":
                remainder = path
            elif path == prefix or path.startswith(prefix + "/"):
                remainder = path[len(prefix) :]
            else:
                continue
            return _route_in_api(api_id, api, remainder)
        if self._openai_root is not None and path.startswith("/v1/"):
            api_id, api = self._openai_root
            return _v1_route(api_id, api, path)
        return None


def _route_in_api(api_id: str, api: ApiConfig, remainder: str) -> Route:
    if api.template == AZURE_OPENAI_TEMPLATE:
        found = _DEPLOYMENT_PATH.match(remainder)
        if found is not None:
            deployment, suffix = found.group(1), found.group(2)
            operation = _BY_SUFFIX.get(suffix)
            if operation is None:
                # Any other path under a deployment still names that deployment.
                return Route(
                    api_id, api, PASSTHROUGH, "passthrough", remainder, deployment
                )
            return Route(api_id, api, operation, "deployment", remainder, deployment)
        if remainder.startswith("/v1/"):
            return _v1_route(api_id, api, remainder)
        if remainder == "/responses":
            # Azure's Responses API: /openai/responses, the model in the body.
            return Route(api_id, api, _BY_SUFFIX["responses"], "v1", remainder)
    return Route(api_id, api, PASSTHROUGH, "passthrough", remainder)


def _v1_route(api_id: str, api: ApiConfig, remainder: str) -> Route:
    suffix = remainder[len("/v1/") :]
    if suffix in _V1_SUFFIXES:
        return Route(api_id, api, _BY_SUFFIX[suffix], "v1", remainder)
    return Route(api_id, api, PASSTHROUGH, "passthrough", remainder)
