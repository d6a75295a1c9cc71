"""Where the vault's database and keyring are: flags first, then environment, then defaults.

The embedded default keeps both in ``./vault-data/`` (``VAULT_HOME`` moves it):
an SQLite file and a keyring file that ``customer-vault init`` creates.
``VAULT_DATABASE_URL`` switches to PostgreSQL; ``VAULT_KEYS`` points at another
keyring; ``VAULT_POLICIES`` at another policy directory (default: ``policies/``
of this checkout); ``VAULT_EXPORTS`` at the directory the API writes analytics
extracts into (default: ``exports/`` under ``VAULT_HOME``);
``VAULT_REDACTION_CACHE`` how many redacted notes the API keeps in memory
(:mod:`vault.redaction.cache`; 0 turns the cache off).  Settings are read
when a command or the app starts, never at import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vault.errors import ConfigurationError
from vault.storage.engine import normalise_url

PACKAGED_POLICIES = Path(__file__).resolve().parent.parent / "policies"
DEFAULT_REDACTION_CACHE = 10_000


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    keys_path: Path
    policies_dir: Path = PACKAGED_POLICIES
    exports_dir: Path = Path("vault-data") / "exports"
    redaction_cache: int = DEFAULT_REDACTION_CACHE

    @classmethod
    def resolve(
        cls,
        *,
        database_url: str | None = None,
        keys_path: Path | None = None,
        policies_dir: Path | None = None,
        exports_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("VAULT_HOME") or "vault-data")
        url = database_url or env.get("VAULT_DATABASE_URL") or f"sqlite:///{home / 'vault.db'}"
        keys = keys_path or (Path(env["VAULT_KEYS"]) if env.get("VAULT_KEYS") else None)
        policies = policies_dir or Path(env.get("VAULT_POLICIES") or PACKAGED_POLICIES)
        exports = exports_dir or Path(env.get("VAULT_EXPORTS") or home / "exports")
        return cls(
            database_url=normalise_url(url),
            keys_path=keys or home / "keys.toml",
            policies_dir=policies,
            exports_dir=exports,
            redaction_cache=_entries(env.get("VAULT_REDACTION_CACHE")),
        )

    @property
    def display_database(self) -> str:
        """The URL without a password, for messages."""
        from sqlalchemy.engine import make_url

        return make_url(self.database_url).render_as_string(hide_password=True)


def _entries(raw: str | None) -> int:
    if raw is None or not raw.strip():
        return DEFAULT_REDACTION_CACHE
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= 10_000_000:
        raise ConfigurationError("VAULT_REDACTION_CACHE must be a whole number from 0 to 10000000")
    return value
