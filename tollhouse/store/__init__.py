"""Where Tollhouse keeps its logs and settings.

The embedded default is one SQLite file (`connect`, `DB_FILENAME`).  Log
records reach it through a `LogWriter`, which batches them on its own thread
and hands them to a `LogSink` (`SqliteSink`, or `postgres.PostgresSink` for
``store.kind: postgres``, in `tollhouse.store.postgres`)::

    writer = LogWriter(SqliteSink(data_dir / DB_FILENAME),
                       spool_path=data_dir / SPOOL_FILENAME)
    writer.start()
    writer.submit(LogRecord(gateway={...}, llm=[...]))
    writer.close()
"""

from .schema import (
    GATEWAY_LOG_COLUMNS,
    GATEWAY_LOG_TABLE,
    LLM_LOG_COLUMNS,
    LLM_LOG_TABLE,
    MIGRATIONS,
    Migration,
    utc_timestamp,
)
from .spool import SPOOL_FILENAME
from .sqlite import DB_FILENAME, SqliteSink, connect, migrate
from .writer import DATA_ERRORS, LogRecord, LogSink, LogWriter, WriterStats

__all__ = [
    "DATA_ERRORS",
    "DB_FILENAME",
    "GATEWAY_LOG_COLUMNS",
    "GATEWAY_LOG_TABLE",
    "LLM_LOG_COLUMNS",
    "LLM_LOG_TABLE",
    "MIGRATIONS",
    "SPOOL_FILENAME",
    "LogRecord",
    "LogSink",
    "LogWriter",
    "Migration",
    "SqliteSink",
    "WriterStats",
    "connect",
    "migrate",
    "utc_timestamp",
]
