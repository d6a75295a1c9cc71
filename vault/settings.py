"""Where the vault's database and keyring are: flags first, then environment, then defaults.

The embedded default keeps both in ``./vault-data/`` (``VAULT_HOME`` moves it):
an SQLite file and a keyring file that ``customer-vault init`` creates.
``VAULT_DATABASE_URL`` switches to PostgreSQL; ``VAULT_KEYS`` points at another
keyring.  Settings are read when a command or the app starts, never at import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vault.storage.engine import normalise_url


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    keys_path: Path

    @classmethod
    def resolve(
        cls,
        *,
        database_url: str | None = None,
        keys_path: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("VAULT_HOME") or "vault-data")
        url = database_url or env.get("VAULT_DATABASE_URL") or f"sqlite:///{home / 'vault.db'}"
        keys = keys_path or (Path(env["VAULT_KEYS"]) if env.get("VAULT_KEYS") else None)
        return cls(database_url=normalise_url(url), keys_path=keys or home / "keys.toml")

    @property
    def display_database(self) -> str:
        """The URL without a password, for messages."""
        from sqlalchemy.engine import make_url

        return make_url(self.database_url).render_as_string(hide_password=True)
