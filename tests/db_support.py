"""Fresh, migrated databases for tests that share one database across a module.

``conftest.py`` gives every test its own database; module-scoped suites (the
authorization matrix, the multi-worker and log-scan tests) start a server once
and need a database that lives exactly as long as that server.  Without a
PostgreSQL server the PostgreSQL cases are skipped locally, but **fail** when
``CI=true``: CI must prove both back ends.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from vault.storage import migrate
from vault.storage.engine import create_vault_engine

PG_ADMIN_URL = os.environ.get(
    "VAULT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = [b for b in os.environ.get("VAULT_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A new PostgreSQL database, migrated to head, dropped on exit; yields its URL."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"cdv_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        admin.dispose()
        message = f"PostgreSQL is not reachable at {make_url(PG_ADMIN_URL).host}: {exc.orig}"
        if IN_CI:
            pytest.fail(message + " (CI=true: the PostgreSQL run is mandatory)")
        pytest.skip(message)
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = create_vault_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    """A new migrated database of ``backend`` (``sqlite``: a file in ``directory``)."""
    if backend == "postgresql":
        with fresh_pg_database() as url:
            yield url
        return
    url = f"sqlite:///{directory / 'vault.db'}"
    engine = create_vault_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
