"""The running vault: settings, engine, keys and clock, built once per process and passed in.

Nothing here happens at import time.  The CLI builds a :class:`Vault` in each
command's entry and the API in its lifespan; services receive it as their first
argument.  The clock is injectable so tests can pin time.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from vault.blind_index import BlindIndexer
from vault.crypto import SecretKey, derive_key
from vault.errors import ConfigurationError, KeyringError
from vault.keyring import FileKeyProvider, KeyProvider, Keyring, load_keyring
from vault.settings import Settings
from vault.storage import migrate
from vault.storage.engine import create_vault_engine

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Vault:
    settings: Settings
    engine: Engine
    keyring: Keyring
    provider: KeyProvider
    indexer: BlindIndexer
    clock: Clock = field(default=utc_now)
    read_engine: Engine | None = None
    """For code that only reads: on SQLite it does not take the write lock."""

    @property
    def reader(self) -> Engine:
        return self.read_engine or self.engine

    @functools.cached_property
    def fingerprint_key(self) -> SecretKey:
        """Keys row fingerprints (import idempotency); derived, never stored."""
        return derive_key(self.keyring.index.primary_key, "import-fingerprint")

    def close(self) -> None:
        self.engine.dispose()
        if self.read_engine is not None:
            self.read_engine.dispose()
        close_provider(self.provider)


def open_vault(
    settings: Settings,
    *,
    clock: Clock = utc_now,
    require_schema: bool = True,
    keyring: Keyring | None = None,
) -> Vault:
    """Load the keyring (refusing unsafe ones), connect, and check the schema is current."""
    keyring = keyring or load_keyring(settings.keys_path)
    engine = create_vault_engine(settings.database_url)
    if require_schema:
        try:
            current = migrate.is_current(engine)
        except Exception:
            engine.dispose()
            raise ConfigurationError(
                f"cannot open the database {settings.display_database}"
            ) from None
        if not current:
            engine.dispose()
            raise ConfigurationError(
                "the database schema is not current: run `customer-vault db upgrade` "
                "(or `customer-vault init` for a new vault)"
            )
    try:
        provider = key_provider(keyring)
    except BaseException:
        engine.dispose()
        raise
    read_engine = (
        create_vault_engine(settings.database_url, read_only=True)
        if engine.dialect.name == "sqlite"
        else None
    )
    return Vault(
        settings=settings,
        engine=engine,
        read_engine=read_engine,
        keyring=keyring,
        provider=provider,
        indexer=BlindIndexer(keyring.index),
        clock=clock,
    )


def close_provider(provider: KeyProvider) -> None:
    """Release what a provider holds (an HSM provider logs out of its token)."""
    close = getattr(provider, "close", None)
    if callable(close):
        close()


def key_provider(keyring: Keyring) -> KeyProvider:
    """The keyring's KEKs as a provider: in this process, or in a PKCS#11 token."""
    if keyring.kek_token is None:
        return FileKeyProvider(keyring.kek)
    try:
        from vault.hsm import open_provider  # python-pkcs11 is only loaded for HSM keyrings
    except ImportError:
        raise KeyringError(
            "the KEKs are in a PKCS#11 token but python-pkcs11 is not installed: "
            "pip install 'customer-data-vault[hsm]'"
        ) from None
    return open_provider(keyring.kek_token)
