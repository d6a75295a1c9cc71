"""Schema migrations (Alembic), run by `customer-vault db upgrade` and `init`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Bring the database schema to ``revision`` (default: every head, the newest)."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revisions(engine: Engine) -> frozenset[str]:
    with engine.connect() as connection:
        return frozenset(MigrationContext.configure(connection).get_current_heads())


def head_revisions() -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(_config()).get_heads())


def known_revisions() -> frozenset[str]:
    """Every revision this vault's migrations know (a backup from another may not be one)."""
    return frozenset(r.revision for r in ScriptDirectory.from_config(_config()).walk_revisions())


def is_current(engine: Engine) -> bool:
    return current_revisions(engine) == head_revisions()


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a new migration from the table classes (a developer tool)."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)
