"""The tables KQL can read, and the KQL type of each of their columns.

The names are Azure API Management's, so queries written for Log Analytics
run here unchanged; ``ApiManagementGatewayLlmLogs`` is another name for
``ApiManagementGatewayLlmLog``.  How a type is stored differs by store:

============  ==============================  ======================
KQL type      SQLite                          PostgreSQL
============  ==============================  ======================
``string``    TEXT                            text
``long``      INTEGER                         bigint
``int``       INTEGER                         integer
``real``      REAL                            double precision
``bool``      INTEGER 0 or 1                  boolean
``datetime``  TEXT ``2026-12-03T17:47:24.      timestamptz
              123456Z`` (`utc_timestamp`)
``dynamic``   TEXT holding JSON               jsonb
============  ==============================  ======================
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from ..store.schema import (
    GATEWAY_LOG_COLUMNS,
    GATEWAY_LOG_TABLE,
    LLM_LOG_COLUMNS,
    LLM_LOG_TABLE,
)

KQL_TYPES = frozenset({"string", "long", "int", "real", "bool", "datetime", "dynamic"})


@dataclass(frozen=True, slots=True)
class Table:
    """A table as KQL sees it: its stored name and typed columns, in order."""

    name: str
    columns: MappingProxyType[str, str]  # column name to KQL type
    never_null: frozenset[str] = frozenset()  # declared NOT NULL by the store

    def type_of(self, column: str) -> str | None:
        return self.columns.get(column)


def _typed(
    columns: tuple[str, ...], types: dict[str, str]
) -> MappingProxyType[str, str]:
    unknown = set(types) - set(columns)
    assert not unknown, f"types for columns that do not exist: {unknown}"
    assert set(types.values()) <= KQL_TYPES
    return MappingProxyType({name: types.get(name, "string") for name in columns})


GATEWAY_LOGS = Table(
    GATEWAY_LOG_TABLE,
    _typed(
        GATEWAY_LOG_COLUMNS,
        {
            "TimeGenerated": "datetime",
            "ResponseCode": "int",
            "ResponseSize": "long",
            "RequestSize": "long",
            "RequestHeaders": "dynamic",
            "ResponseHeaders": "dynamic",
            "BackendResponseCode": "int",
            "BackendTime": "real",
            "ClientTime": "real",
            "TotalTime": "real",
            "IsRequestSuccess": "bool",
            "Errors": "dynamic",
            "ClientDisconnected": "bool",
            "TimeToFirstByte": "real",
        },
    ),
    frozenset({"TimeGenerated", "CorrelationId"}),
)

LLM_LOG = Table(
    LLM_LOG_TABLE,
    _typed(
        LLM_LOG_COLUMNS,
        {
            "TimeGenerated": "datetime",
            "SequenceNumber": "int",
            "IsStreamCompletion": "bool",
            "PromptTokens": "long",
            "CompletionTokens": "long",
            "TotalTokens": "long",
            "RequestMessages": "dynamic",
            "ResponseMessages": "dynamic",
            "ReasoningTokens": "long",
            "CachedTokens": "long",
            "PromptFilterResults": "dynamic",
            "ContentFilterResults": "dynamic",
            "ClientDisconnected": "bool",
            "RequestMessagesTruncated": "bool",
            "ResponseMessagesTruncated": "bool",
            "EmbeddingInputCount": "long",
            "EmbeddingDimensions": "long",
        },
    ),
    frozenset({"TimeGenerated", "CorrelationId", "SequenceNumber"}),
)

TABLES: MappingProxyType[str, Table] = MappingProxyType(
    {
        GATEWAY_LOGS.name: GATEWAY_LOGS,
        LLM_LOG.name: LLM_LOG,
        "ApiManagementGatewayLlmLogs": LLM_LOG,
    }
)
"""Every name a query may use for a table, to the table it reads."""
