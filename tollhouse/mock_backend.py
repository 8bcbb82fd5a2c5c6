"""A mock backend that answers like Azure OpenAI and OpenAI, without a model.

The gateway embeds it as its default backend; demos, tests and the
benchmark run it with `start_mock` (in-process) or `run_mock` (the
``tollhouse mock-backend`` command).  It is cheap per request: token counts
and embedding vectors are cached, constant JSON is serialized once.

Routes (POST, JSON bodies unless noted)
    Azure: ``/openai/deployments/{deployment}/`` + ``chat/completions``,
    ``completions``, ``embeddings``, ``responses``, ``images/generations``,
    ``audio/transcriptions`` (multipart) and ``audio/speech``.  They need the
    ``api-version`` query parameter (else 404 ``Resource not found``), name
    the model after the deployment (``gpt-4o-2024-11-20`` for a gpt-4o
    deployment) and add Azure's content-filter results to chat and
    completions.
    OpenAI: the same operations under ``/v1/`` and ``/openai/v1/``, plus
    ``GET /v1/models``; the model comes from the body.
    Any other path is a 404 in its family's error shape; a malformed body is
    a 400 ``invalid_request_error``.

Content
    The reply echoes the last user message's text (text parts joined by
    newlines), the last user input of a Responses request, or the prompt of
    a completion.  Token limits are ignored, so the echo is whole, and
    ``n`` choices all say the same.  Usage is counted with
    `tollhouse.tokens`: a prompt costs 3 tokens per message plus 3, a
    completion the tokens of its text (of a tool call, its arguments) times
    ``n``.  Streams end with a usage
    chunk only under ``stream_options.include_usage``; the Responses API
    always reports usage in ``response.completed``.  Embeddings are unit
    vectors derived from a hash of each input.

Request headers that steer one request
    ``x-mock-reply: TEXT``
        Reply with exactly TEXT (UTF-8, percent-decoded) instead of the echo.
    ``x-mock-echo-headers: 1``
        Reply with a JSON document (as the text) of what the mock received:
        ``method``, ``path``, the raw ``query``, ``headers`` (lower-cased
        names, repeated ones joined by ", ") and the exact ``body``.
    ``x-mock-tool-call: NAME``
        When the request has ``tools``, reply with a call to function NAME
        whose arguments are ``{"input": <reply text>}``.
    ``x-mock-honour-max-tokens: 1``
        Cut the reply at ``max_tokens``, ``max_completion_tokens`` or
        ``max_output_tokens`` (finish reason ``length``).
    ``x-mock-no-usage: 1``
        Never report usage, as llama.cpp and Ollama servers may not.
    ``x-mock-status: CODE`` (400-599)
        Answer CODE with an error body in the route's family shape; for 429
        ``Rate limit reached for this deployment. Try again in N seconds.``
    ``x-mock-retry-after: SECONDS``
        With ``x-mock-status``, also send ``retry-after``, ``retry-after-ms``
        and zero ``x-ratelimit-remaining-requests``/``-tokens``.
    ``x-mock-latency-ms: N``
        Wait N ms before the response head (overrides ``latency_ms``).
    ``x-mock-chunk-delay-ms: N``
        Wait N ms between streamed events (overrides ``chunk_delay_ms``).
    ``x-mock-drop-after: N``
        In a stream, reset the connection after N events, with no ``[DONE]``;
        otherwise send the head and half the body, then close.
    ``x-mock-encoding: gzip|deflate|br``
        Compress the body with that coding (streams event by event, each
        flushed) and send ``content-encoding``.

Response headers on every answer
    ``x-ms-region``, ``apim-request-id``, ``x-request-id``,
    ``x-ratelimit-limit-requests``, ``x-ratelimit-remaining-requests``,
    ``x-ratelimit-limit-tokens``, ``x-ratelimit-remaining-tokens``, and
    ``x-ms-deployment-name`` on Azure routes.
"""

from __future__ import annotations

from tollhouse.mock.app import (
    LAST_REQUESTS,
    ReceivedRequest,
    create_mock_app,
    run_mock,
    start_mock,
)
from tollhouse.mock.settings import MockSettings

__all__ = [
    "LAST_REQUESTS",
    "MockSettings",
    "ReceivedRequest",
    "create_mock_app",
    "run_mock",
    "start_mock",
]
