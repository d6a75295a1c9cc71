"""Shared fixtures: a real database per test on SQLite and on PostgreSQL, and a real keyring.

Storage tests take the ``vault`` fixture, which is parametrised over both back ends.
PostgreSQL comes from ``VAULT_TEST_PG_URL`` (default: the local server, trust auth); the
suite creates a database of its own and drops it at the end.  Without a server the
PostgreSQL cases are skipped locally, but **fail** when ``CI=true``: CI must prove both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from db_support import BACKENDS, fresh_pg_database

from vault.keyring import Keyring, create_keyring
from vault.services.runtime import Vault, open_vault
from vault.settings import Settings
from vault.storage import migrate
from vault.storage.engine import create_vault_engine


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated to head."""
    with fresh_pg_database() as url:
        yield url


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
