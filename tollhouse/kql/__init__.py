"""KQL over the gateway's log tables, compiled to the store's SQL.

`compile_query` turns KQL text into a `CompiledQuery` for SQLite or
PostgreSQL; errors in the query raise `QueryError` with the line, the column
and a caret under the spot.  SQLite connections that run compiled queries
need `register_sqlite_functions`.
"""

from .errors import QueryError, QueryLimitExceeded
from .query import Column, CompiledQuery, Render, compile_query
from .sqlite_functions import register_sqlite_functions

__all__ = [
    "Column",
    "CompiledQuery",
    "QueryError",
    "QueryLimitExceeded",
    "Render",
    "compile_query",
    "register_sqlite_functions",
]
