"""Shared fixtures: a real database per test on SQLite and on PostgreSQL, and a real keyring.

Storage tests take the ``vault`` fixture, which is parametrised over both back ends.
PostgreSQL comes from ``VAULT_TEST_PG_URL`` (default: the local server, trust auth); the
suite creates a database of its own and drops it at the end.  Without a server the
PostgreSQL cases are skipped locally, but **fail** when ``CI=true``: CI must prove both.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from vault.keyring import Keyring, create_keyring
from vault.services.runtime import Vault, open_vault
from vault.settings import Settings
from vault.storage import migrate
from vault.storage.engine import create_vault_engine

PG_ADMIN_URL = os.environ.get(
    "VAULT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = [b for b in os.environ.get("VAULT_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated to head."""
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


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty, migrated database: a new SQLite file, or the session's PostgreSQL emptied."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'vault.db'}"
        engine = create_vault_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url
        return
    url = request.getfixturevalue("pg_database_url")
    yield url
    engine = create_vault_engine(url)
    with engine.begin() as conn:
        tables = conn.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'"
        ).scalars()
        names = ", ".join(f'"{t}"' for t in tables)
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    engine.dispose()


@pytest.fixture
def keys_path(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "keys.toml"
    create_keyring(path)
    return path


@pytest.fixture
def settings(database_url: str, keys_path: Path) -> Settings:
    return Settings.resolve(database_url=database_url, keys_path=keys_path, env={})


@pytest.fixture
def vault(settings: Settings) -> Iterator[Vault]:
    v = open_vault(settings)
    yield v
    v.close()


@pytest.fixture
def keyring(vault: Vault) -> Keyring:
    return vault.keyring


@pytest.fixture
def cli_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    """Environment for running ``customer-vault`` against the test's vault."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env.update(
        VAULT_DATABASE_URL=settings.database_url,
        VAULT_KEYS=str(settings.keys_path),
        VAULT_HOME=str(tmp_path / "home"),
    )
    return env
