"""The sample responses ``mock-response`` answers with.

APIM's ``mock-response`` answers with the example the API's definition gives
for the status code and content type, and with no content when there is
none.  The Azure OpenAI template's definition has examples for its JSON
operations; these are Tollhouse's, shaped as those operations answer, so a
client (the ``openai`` package, say) can parse a mocked answer as it would a
real one.
"""

from __future__ import annotations

from typing import Any

import orjson

_JSON = "application/json"
_CREATED = 1733310000
_USAGE = {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}

_CHAT = {
    "id": "chatcmpl-mock",
    "object": "chat.completion",
    "created": _CREATED,
    "model": "gpt-4o",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "This is a mocked answer from the gateway.",
            },
            "finish_reason": "stop",
        }
    ],
    "usage": _USAGE,
}

_COMPLETION = {
    "id": "cmpl-mock",
    "object": "text_completion",
    "created": _CREATED,
    "model": "gpt-35-turbo-instruct",
    "choices": [
        {
            "index": 0,
            "text": "This is a mocked answer from the gateway.",
            "finish_reason": "stop",
            "logprobs": None,
        }
    ],
    "usage": _USAGE,
}

_EMBEDDINGS = {
    "object": "list",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.0023, -0.0093]}],
    "model": "text-embedding-3-small",
    "usage": {"prompt_tokens": 4, "total_tokens": 4},
}

_RESPONSE = {
    "id": "resp_mock",
    "object": "response",
    "created_at": _CREATED,
    "status": "completed",
    "model": "gpt-4o",
    "output": [
        {
            "type": "message",
            "id": "msg_mock",
            "status": "completed",
            "role": "assistant",
            "content": [
                {
                    "type": "output_text",
                    "text": "This is a mocked answer from the gateway.",
                    "annotations": [],
                }
            ],
        }
    ],
    "usage": {"input_tokens": 9, "output_tokens": 12, "total_tokens": 21},
}

_SAMPLES: dict[str, dict[str, Any]] = {
    "ChatCompletions_Create": _CHAT,
    "Completions_Create": _COMPLETION,
    "embeddings_create": _EMBEDDINGS,
    "Responses_Create": _RESPONSE,
}


def sample_body(operation_id: str, status: int, content_type: str | None) -> bytes:
    """The example body of an operation's response, or ``b""`` when it has none.

    Only success answers in JSON have examples.
    """
    sample = _SAMPLES.get(operation_id)
    if sample is None or not 200 <= status < 300:
        return b""
    media = (content_type or _JSON).partition(";")[0].strip().lower()
    return orjson.dumps(sample) if media == _JSON else b""
