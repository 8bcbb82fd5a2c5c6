"""Turning a finished `Exchange` into its gateway log row and LLM log rows.

The gateway row is written for every request.  LLM rows are written for
chat completions, completions, responses and embeddings once the backend has
been called: the usage row (``SequenceNumber`` 0), then, when the API's
diagnostics log messages, the prompt pieces and the completion pieces, each a
slice of a JSON array of messages no larger than 32 KB.
"""

from __future__ import annotations

import codecs
import functools
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import orjson

from . import headers as hdrs
from .config import DiagnosticsConfig
from .exchange import Exchange
from .llm import (
    LlmResult,
    Usage,
    cap_messages,
    dumps,
    estimate_usage,
    redact_inline_data,
    request_messages,
    split_pieces,
)
from .runtime import Runtime, scrub
from .store.writer import LogRecord

logger = logging.getLogger(__name__)

CLIENT_CLOSED_REQUEST = 499


def iso_time(wall: float) -> str:
    """UTC ISO 8601 with microseconds, as the log tables store time."""
    seconds = int(wall)
    micros = int(round((wall - seconds) * 1_000_000))
    if micros == 1_000_000:
        seconds, micros = seconds + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"


def build_record(runtime: Runtime, exchange: Exchange) -> LogRecord:
    """The rows one request leaves in the log.

    The gateway row is built now; the LLM rows (messages to serialise and
    cut, tokens to estimate) are left to the writer thread, off the event
    loop.  The exchange is finished by then and no longer changes.
    """
    if exchange.client_disconnected:
        exchange.status = CLIENT_CLOSED_REQUEST
    gateway = _gateway_row(runtime, exchange)
    size = exchange.request_size + exchange.response_size + 4096
    if not _has_llm_rows(exchange):
        return LogRecord(gateway=gateway, size=size)
    return LogRecord(
        gateway=gateway,
        size=size,
        complete=functools.partial(_complete_llm_rows, runtime, exchange),
    )


def _complete_llm_rows(runtime: Runtime, exchange: Exchange, record: LogRecord) -> None:
    record.llm.extend(_llm_rows(runtime, exchange, record.gateway["TimeGenerated"]))


# The gateway log ----------------------------------------------------------


def _gateway_row(runtime: Runtime, exchange: Exchange) -> dict[str, Any]:
    route = exchange.route
    subscription = exchange.subscription
    error = exchange.error
    now = time.perf_counter()
    backend_ms = _span_ms(exchange.backend_started, exchange.backend_ended)
    total_ms = exchange.elapsed_ms(now)
    row: dict[str, Any] = {
        "TimeGenerated": iso_time(exchange.started_wall),
        "CorrelationId": exchange.correlation_id,
        "Method": exchange.method,
        "Url": exchange.url,
        "CallerIpAddress": exchange.caller_ip,
        "ResponseCode": exchange.status,
        "ResponseSize": exchange.response_size,
        "RequestSize": exchange.request_size,
        "RequestHeaders": _headers_json(runtime, exchange.client_headers, exchange),
        "ResponseHeaders": _headers_json(runtime, exchange.response_headers, exchange),
        "OperationName": route.operation.name if route else None,
        "ApiId": route.api_id if route else None,
        "OperationId": route.operation.id if route else None,
        "ProductId": subscription.product_id if subscription else None,
        "ApimSubscriptionId": subscription.id if subscription else None,
        "BackendId": exchange.backend_id,
        "BackendUrl": exchange.backend_url,
        "BackendMethod": exchange.backend_method,
        "BackendResponseCode": exchange.backend_status,
        "BackendTime": backend_ms,
        "ClientTime": None if backend_ms is None else round(total_ms - backend_ms, 3),
        "TotalTime": total_ms,
        "Cache": "none",
        "ClientProtocol": exchange.protocol,
        "IsRequestSuccess": int(exchange.status < 400 and error is None),
        "Region": runtime.config.listener.region,
        "ApiVersion": exchange.api_version,
        "DeploymentName": exchange.deployment,
        "BackendRequestId": exchange.backend_request_id,
        "BackendRegion": exchange.backend_region,
        "SubscriptionKeySource": exchange.key_source,
        "ErrorKind": exchange.error_kind or _error_kind(exchange),
        "ClientDisconnected": int(exchange.client_disconnected),
        "TimeToFirstByte": _span_ms(exchange.started, exchange.first_byte),
    }
    if exchange.request_body is not None or exchange.response_body is not None:
        row.update(_payload_columns(runtime, exchange))
    # An error body the diagnostics always log replaces ResponseBody.
    row.update(_error_columns(runtime, exchange))
    return row


_BACKEND_ERROR_KINDS = {
    "BackendConnectionFailure": "upstream_unreachable",
    "BackendAuthenticationFailure": "upstream_auth_failed",
    "Timeout": "upstream_timeout",
}


def _error_kind(exchange: Exchange) -> str | None:
    """The ErrorKind of a request the backend never answered."""
    error = exchange.error
    return _BACKEND_ERROR_KINDS.get(error.reason) if error is not None else None


def _error_columns(runtime: Runtime, exchange: Exchange) -> dict[str, Any]:
    error = exchange.error
    columns: dict[str, Any] = {}
    if error is not None:
        columns = {
            "LastErrorSource": error.source,
            "LastErrorReason": error.reason,
            "LastErrorMessage": runtime.scrub(error.message),
            "LastErrorSection": error.section,
            "LastErrorScope": error.scope or "global",
        }
    elif exchange.error_message is not None:
        columns = {
            "LastErrorSource": "backend",
            "LastErrorReason": exchange.error_kind,
            "LastErrorMessage": runtime.scrub(exchange.error_message),
            "LastErrorSection": "backend",
            "LastErrorScope": "global",
        }
    elif exchange.client_disconnected:
        columns = {
            "LastErrorSource": "client",
            "LastErrorReason": "ClientConnectionFailure",
            "LastErrorMessage": "The client closed the connection.",
            "LastErrorSection": "backend",
            "LastErrorScope": "global",
        }
    if columns:
        columns["Errors"] = dumps(
            [
                {
                    "source": columns["LastErrorSource"],
                    "reason": columns["LastErrorReason"],
                    "message": columns["LastErrorMessage"],
                    "section": columns["LastErrorSection"],
                    "elapsed": exchange.elapsed_ms(),
                }
            ]
        )
    if (
        exchange.error_body is not None
        and _diagnostics(runtime, exchange).always_log_errors
    ):
        columns["ResponseBody"] = runtime.scrub(exchange.error_body)
    return columns


def _payload_columns(runtime: Runtime, exchange: Exchange) -> dict[str, Any]:
    """RequestBody and ResponseBody: the start of each body, as the API logs it."""
    size = exchange.body_bytes
    secrets = [*runtime.secret_values(), exchange.subscription_key]
    return {
        "RequestBody": _payload_text(exchange.request_body, size, secrets),
        "ResponseBody": _payload_text(exchange.response_body, size, secrets),
    }


def _payload_text(head: bytes | None, size: int, secrets: list[str]) -> str | None:
    """``head``, the first ``size`` bytes of a body at most, as scrubbed text.

    A head cut short of the body may end inside a UTF-8 character: that
    character is left out rather than shown broken.  Bytes that are not
    UTF-8 at all become U+FFFD.  Every secret (backend credentials, secret
    named values, the caller's subscription key) is replaced, and so is the
    start of one where the cut fell inside it.
    """
    if not head:
        return None
    cut = len(head) >= size
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    text = scrub(decoder.decode(head, final=not cut), secrets)
    if cut:
        text = _without_secret_start(text, secrets)
    return text or None


#: The shortest start of a secret, at the end of a cut body, that is replaced.
_SECRET_START = 4


def _without_secret_start(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        for n in range(min(len(secret), len(text) + 1) - 1, _SECRET_START - 1, -1):
            if text.endswith(secret[:n]):
                return text[:-n] + "REDACTED"
    return text


def _headers_json(
    runtime: Runtime, headers: list[tuple[str, str]], exchange: Exchange
) -> str:
    logged = hdrs.loggable(headers, runtime.key_header_names)
    return runtime.scrub(dumps(logged))


def _span_ms(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start) * 1000.0, 3)


def _diagnostics(runtime: Runtime, exchange: Exchange) -> DiagnosticsConfig:
    route = exchange.route
    return runtime.diagnostics_for(route.api_id if route else None)


# The LLM log --------------------------------------------------------------


def _has_llm_rows(exchange: Exchange) -> bool:
    route = exchange.route
    return (
        route is not None
        and route.llm_kind is not None
        and exchange.backend_status is not None
        and isinstance(exchange.request_json, dict)
    )


def _llm_rows(runtime: Runtime, exchange: Exchange, when: str) -> list[dict[str, Any]]:
    route = exchange.route
    if route is None or route.llm_kind is None or not _has_llm_rows(exchange):
        return []
    result = exchange.llm or LlmResult(kind=route.llm_kind)
    usage = _usage(exchange, result)

    common = {
        "TimeGenerated": when,
        "CorrelationId": exchange.correlation_id,
        "DeploymentName": exchange.deployment,
        "ModelName": result.model,
        "ApiVersion": exchange.api_version,
        "OperationName": route.operation.id,
        "RequestId": result.request_id,
        "IsStreamCompletion": int(exchange.stream),
        "Region": runtime.config.listener.region,
        "ApiId": route.api_id,
        "OperationId": route.operation.id,
        "ApimSubscriptionId": exchange.subscription.id
        if exchange.subscription
        else None,
        "BackendId": exchange.backend_id,
    }
    rows = [_usage_row(common, exchange, result, usage)]
    diagnostics = runtime.diagnostics_for(route.api_id)
    if _log_messages(diagnostics, exchange):
        try:
            pieces = _message_rows(runtime, common, exchange, result, diagnostics)
        except Exception:
            # Messages no serialiser can take (nesting past any limit, say):
            # the usage row still goes in, so the tokens are accounted for.
            logger.exception("messages of %s not logged", exchange.correlation_id)
            rows[0]["ErrorKind"] = rows[0]["ErrorKind"] or "messages_not_logged"
        else:
            rows[0].update(pieces.truncation)
            rows.extend(pieces.rows)
    return rows


def _usage(exchange: Exchange, result: LlmResult) -> Usage:
    if result.usage is not None:
        return result.usage
    # A call the backend refused, or reported as failed without counts
    # (``response.failed``, an error event), is not guessed at (B51).
    succeeded = (exchange.backend_status or 500) < 400
    if not succeeded or result.error_kind == "upstream_error_event":
        return Usage(None, None, None, source="none")
    try:
        return estimate_usage(
            result.kind,
            exchange.request_json,
            result,
            result.model or exchange.deployment,
        )
    except Exception:
        logger.exception("token estimate failed for %s", exchange.correlation_id)
        return Usage(None, None, None, source="none")


def _usage_row(
    common: dict[str, Any], exchange: Exchange, result: LlmResult, usage: Usage
) -> dict[str, Any]:
    body = exchange.request_json
    row = dict(common)
    row.update(
        SequenceNumber=0,
        PromptTokens=usage.prompt_tokens,
        CompletionTokens=usage.completion_tokens,
        TotalTokens=usage.total_tokens,
        TokenCountSource=usage.source,
        ReasoningTokens=usage.reasoning_tokens,
        CachedTokens=usage.cached_tokens,
        FinishReason=result.finish_reason,
        PromptFilterResults=_json_or_none(result.prompt_filter_results),
        ContentFilterResults=_json_or_none(_content_filters(result)),
        ErrorKind=exchange.error_kind or result.error_kind,
        ClientDisconnected=int(exchange.client_disconnected),
        EmbeddingInputCount=result.input_count,
        EmbeddingDimensions=result.embedding_dims,
        EncodingFormat=_str_or_none(body.get("encoding_format")),
    )
    return row


def _content_filters(result: LlmResult) -> list[Any] | None:
    verdicts: list[Any] = [
        {"index": c.index, "content_filter_results": c.content_filter_results}
        for c in result.choices
        if c.content_filter_results
    ]
    verdicts.extend(result.content_filter_results)
    return verdicts or None


def _log_messages(diagnostics: DiagnosticsConfig, exchange: Exchange) -> bool:
    if not diagnostics.log_llm_messages:
        return False
    if diagnostics.always_log_errors and exchange.status >= 400:
        return True
    pct = diagnostics.sampling_percentage
    return pct >= 100 or random.random() * 100 < pct


@dataclass(slots=True)
class _MessageRows:
    rows: list[dict[str, Any]]
    truncation: dict[str, int]


def _message_rows(
    runtime: Runtime,
    common: dict[str, Any],
    exchange: Exchange,
    result: LlmResult,
    diagnostics: DiagnosticsConfig,
) -> _MessageRows:
    prompt, prompt_cut = cap_messages(
        redact_inline_data(request_messages(result.kind, exchange.request_json)),
        diagnostics.max_message_bytes,
    )
    completion, completion_cut = cap_messages(
        result.response_messages(), diagnostics.max_message_bytes
    )
    truncation = {
        "RequestMessagesTruncated": int(prompt_cut),
        "ResponseMessagesTruncated": int(completion_cut),
    }

    rows: list[dict[str, Any]] = []
    sequence = 1
    for column, messages in (
        ("RequestMessages", prompt),
        ("ResponseMessages", completion),
    ):
        if not messages:
            continue
        # A backend may echo its credential (B41), a caller quote its own
        # key: neither goes into the log.
        text = runtime.scrub(dumps(messages), exchange.subscription_key)
        for piece in split_pieces(text):
            row = dict(common)
            row["SequenceNumber"] = sequence
            row[column] = piece
            rows.append(row)
            sequence += 1
    return _MessageRows(rows, truncation)


def _json_or_none(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
