"""The store's tables, as numbered, append-only migrations.

Each `Migration` is applied once, in version order, inside one transaction,
and recorded in ``schema_migrations``.  A released migration is never edited:
a change to the schema is a new migration at the end of `MIGRATIONS`, and
`tests/test_store_schema.py` pins the result.

The log tables keep Azure API Management's names (``ApiManagementGatewayLogs``,
``ApiManagementGatewayLlmLog``) and column names, so that KQL written for APIM
runs here.  Timestamps are TEXT in ISO 8601 UTC with microseconds and a ``Z``
(see `utc_timestamp`), so that they sort and compare as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

GATEWAY_LOG_TABLE = "ApiManagementGatewayLogs"
LLM_LOG_TABLE = "ApiManagementGatewayLlmLog"

GATEWAY_LOG_COLUMNS: tuple[str, ...] = (
    # Azure API Management's columns.
    "TimeGenerated",
    "CorrelationId",
    "Method",
    "Url",
    "CallerIpAddress",
    "ResponseCode",
    "ResponseSize",
    "RequestSize",
    "RequestHeaders",
    "ResponseHeaders",
    "OperationName",
    "ApiId",
    "OperationId",
    "ProductId",
    "ApimSubscriptionId",
    "UserId",
    "BackendId",
    "BackendUrl",
    "BackendMethod",
    "BackendResponseCode",
    "BackendTime",
    "ClientTime",
    "TotalTime",
    "Cache",
    "ClientProtocol",
    "IsRequestSuccess",
    "LastErrorSource",
    "LastErrorReason",
    "LastErrorMessage",
    "LastErrorSection",
    "LastErrorScope",
    "Errors",
    "Region",
    "RequestBody",
    "ResponseBody",
    "BackendRequestBody",
    "BackendResponseBody",
    # Tollhouse's own.
    "ApiVersion",
    "DeploymentName",
    "BackendRequestId",
    "BackendRegion",
    "SubscriptionKeySource",
    "ErrorKind",
    "ClientDisconnected",
    "TimeToFirstByte",
)
"""The columns of ``ApiManagementGatewayLogs``, in table order."""

LLM_LOG_COLUMNS: tuple[str, ...] = (
    # Azure API Management's columns.
    "TimeGenerated",
    "CorrelationId",
    "SequenceNumber",
    "DeploymentName",
    "ModelName",
    "ApiVersion",
    "OperationName",
    "RequestId",
    "IsStreamCompletion",
    "PromptTokens",
    "CompletionTokens",
    "TotalTokens",
    "RequestMessages",
    "ResponseMessages",
    "Region",
    # Tollhouse's own.
    "ApiId",
    "OperationId",
    "ApimSubscriptionId",
    "BackendId",
    "TokenCountSource",
    "ReasoningTokens",
    "CachedTokens",
    "FinishReason",
    "PromptFilterResults",
    "ContentFilterResults",
    "ErrorKind",
    "ClientDisconnected",
    "RequestMessagesTruncated",
    "ResponseMessagesTruncated",
    "EmbeddingInputCount",
    "EmbeddingDimensions",
    "EncodingFormat",
)
"""The columns of ``ApiManagementGatewayLlmLog``, in table order."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: its version, a short name, and its SQL statements."""

    version: int
    name: str
    statements: tuple[str, ...]


_CREATE_GATEWAY_LOGS = """
CREATE TABLE ApiManagementGatewayLogs (
    TimeGenerated TEXT NOT NULL,
    CorrelationId TEXT NOT NULL UNIQUE,
    Method TEXT,
    Url TEXT,
    CallerIpAddress TEXT,
    ResponseCode INTEGER,
    ResponseSize INTEGER,
    RequestSize INTEGER,
    RequestHeaders TEXT,
    ResponseHeaders TEXT,
    OperationName TEXT,
    ApiId TEXT,
    OperationId TEXT,
    ProductId TEXT,
    ApimSubscriptionId TEXT,
    UserId TEXT,
    BackendId TEXT,
    BackendUrl TEXT,
    BackendMethod TEXT,
    BackendResponseCode INTEGER,
    BackendTime REAL,
    ClientTime REAL,
    TotalTime REAL,
    Cache TEXT,
    ClientProtocol TEXT,
    IsRequestSuccess INTEGER,
    LastErrorSource TEXT,
    LastErrorReason TEXT,
    LastErrorMessage TEXT,
    LastErrorSection TEXT,
    LastErrorScope TEXT,
    Errors TEXT,
    Region TEXT,
    RequestBody TEXT,
    ResponseBody TEXT,
    BackendRequestBody TEXT,
    BackendResponseBody TEXT,
    ApiVersion TEXT,
    DeploymentName TEXT,
    BackendRequestId TEXT,
    BackendRegion TEXT,
    SubscriptionKeySource TEXT,
    ErrorKind TEXT,
    ClientDisconnected INTEGER,
    TimeToFirstByte REAL
)
"""

_CREATE_LLM_LOG = """
CREATE TABLE ApiManagementGatewayLlmLog (
    TimeGenerated TEXT NOT NULL,
    CorrelationId TEXT NOT NULL,
    SequenceNumber INTEGER NOT NULL,
    DeploymentName TEXT,
    ModelName TEXT,
    ApiVersion TEXT,
    OperationName TEXT,
    RequestId TEXT,
    IsStreamCompletion INTEGER,
    PromptTokens INTEGER,
    CompletionTokens INTEGER,
    TotalTokens INTEGER,
    RequestMessages TEXT,
    ResponseMessages TEXT,
    Region TEXT,
    ApiId TEXT,
    OperationId TEXT,
    ApimSubscriptionId TEXT,
    BackendId TEXT,
    TokenCountSource TEXT,
    ReasoningTokens INTEGER,
    CachedTokens INTEGER,
    FinishReason TEXT,
    PromptFilterResults TEXT,
    ContentFilterResults TEXT,
    ErrorKind TEXT,
    ClientDisconnected INTEGER,
    RequestMessagesTruncated INTEGER,
    ResponseMessagesTruncated INTEGER,
    EmbeddingInputCount INTEGER,
    EmbeddingDimensions INTEGER,
    EncodingFormat TEXT,
    UNIQUE (CorrelationId, SequenceNumber)
)
"""

_CREATE_SUBSCRIPTIONS = """
CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    scope TEXT NOT NULL,
    state TEXT NOT NULL,
    primary_hash TEXT NOT NULL UNIQUE,
    secondary_hash TEXT NOT NULL UNIQUE,
    primary_nonce TEXT NOT NULL,
    secondary_nonce TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "log tables and settings tables",
        (
            _CREATE_GATEWAY_LOGS,
            "CREATE INDEX ix_gateway_logs_time"
            " ON ApiManagementGatewayLogs (TimeGenerated)",
            "CREATE INDEX ix_gateway_logs_subscription_time"
            " ON ApiManagementGatewayLogs (ApimSubscriptionId, TimeGenerated)",
            _CREATE_LLM_LOG,
            "CREATE INDEX ix_llm_log_time"
            " ON ApiManagementGatewayLlmLog (TimeGenerated)",
            "CREATE VIEW ApiManagementGatewayLlmLogs"
            " AS SELECT * FROM ApiManagementGatewayLlmLog",
            _CREATE_SUBSCRIPTIONS,
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ),
    ),
    Migration(
        2,
        "token usage indexes on the LLM log",
        (
            # The time index, carrying what token summaries read, so that
            # they are answered from the index without visiting the table
            # (whose rows hold the prompts and completions).
            "CREATE INDEX ix_llm_log_time_usage ON ApiManagementGatewayLlmLog"
            " (TimeGenerated, SequenceNumber, PromptTokens, CompletionTokens,"
            " TotalTokens)",
            "DROP INDEX ix_llm_log_time",
            # The same led by the hour, as KQL's bin(TimeGenerated, 1h) groups
            # (a prefix of the stored text): hourly sums come out of it in
            # order, without sorting every row of the range first.
            "CREATE INDEX ix_llm_log_hour_usage ON ApiManagementGatewayLlmLog"
            " (substr(TimeGenerated, 1, 13), TimeGenerated, SequenceNumber,"
            " PromptTokens, CompletionTokens, TotalTokens)",
        ),
    ),
    # PostgreSQL's step 3 adds the function KQL's parse_json calls there;
    # SQLite has json_valid() built in, so the step records the version only.
    Migration(3, "parse_json function", ()),
)
"""Every migration, in version order.  Append only."""


def utc_timestamp(when: datetime | None = None) -> str:
    """Format ``when`` (default: now) as the store writes times.

    The result looks like ``2026-12-03T17:47:24.123456Z``.  A naive datetime
    is taken to be in UTC already.
    """
    if when is None:
        when = datetime.now(UTC)
    elif when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
