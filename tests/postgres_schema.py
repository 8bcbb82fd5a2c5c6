"""A PostgreSQL schema of a test's own, on the server of this machine.

Tests that need PostgreSQL use 127.0.0.1:5432 (user ``postgres``, database
``test``; ``TOLLHOUSE_TEST_POSTGRES`` overrides the DSN).  Each gets a
schema named for it, first on its DSN's ``search_path``, and dropped
afterwards; no other schema is touched.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import psycopg
from psycopg import sql

POSTGRES_DSN = os.environ.get(
    "TOLLHOUSE_TEST_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=test"
)


@contextlib.contextmanager
def temporary_schema(prefix: str) -> Iterator[str]:
    """Create a uniquely named schema; yield a DSN that uses it; drop it."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield psycopg.conninfo.make_conninfo(
            POSTGRES_DSN, options=f"-c search_path={schema}"
        )
    finally:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema))
            )
