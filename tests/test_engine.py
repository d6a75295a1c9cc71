"""The SQLite engines' transactions: the write lock from the first statement, or none."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from vault.storage.engine import create_vault_engine


def _other_writer(path: Path) -> sqlite3.Connection:
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    other.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    return other


def test_a_vault_transaction_holds_the_write_lock_from_its_begin(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    engine = create_vault_engine(f"sqlite:///{path}")
    other = _other_writer(path)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SELECT 1")  # a read only: BEGIN IMMEDIATE took the lock anyway
            assert conn.connection.dbapi_connection.in_transaction  # type: ignore[union-attr]
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("INSERT INTO t VALUES (1)")
        other.execute("INSERT INTO t VALUES (2)")  # released at commit
    finally:
        other.close()
        engine.dispose()


def test_a_read_only_transaction_is_one_snapshot_and_takes_no_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    create_vault_engine(f"sqlite:///{path}").dispose()  # creates the file, WAL mode
    other = _other_writer(path)
    other.execute("PRAGMA journal_mode=WAL")
    other.execute("INSERT INTO t VALUES (1)")
    reader = create_vault_engine(f"sqlite:///{path}", read_only=True)
    try:
        with reader.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 1
            other.execute("INSERT INTO t VALUES (2)")  # no lock held by the reader
            # The same transaction still sees its snapshot, not the new row.
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 1
        with reader.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 2
    finally:
        other.close()
        reader.dispose()
