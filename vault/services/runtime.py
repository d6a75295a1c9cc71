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
from vault.live_keyring import LiveKeyProvider, LiveKeyring
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
    """Follows rotations made by other processes (:mod:`vault.live_keyring`)."""
    clock: Clock = field(default=utc_now)
    read_engine: Engine | None = None
    """For code that only reads: on SQLite it does not take the write lock."""
    live_keyring: LiveKeyring | None = None
    """The keyring file as it is now; ``keyring`` is what was loaded at start-up."""
    _indexer: tuple[Keyring, BlindIndexer] | None = field(default=None, init=False, repr=False)

    @property
    def indexer(self) -> BlindIndexer:
        """Blind indexes under the current index keys: an index-key rotation made by
        another process is followed (new digests under the new primary, lookups under all)."""
        keyring = self.current_keyring()
        cached = self._indexer
        if cached is None or cached[0] is not keyring:
            cached = self._indexer = (keyring, BlindIndexer(keyring.index))
        return cached[1]

    def current_keyring(self) -> Keyring:
        """The keyring with any rotation another process made since start-up."""
        if self.live_keyring is None:
            return self.keyring
        self.live_keyring.refresh()
        return self.live_keyring.keyring

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
        live = LiveKeyring(settings.keys_path, keyring, key_provider)
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
        provider=LiveKeyProvider(live),
        live_keyring=live,
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
