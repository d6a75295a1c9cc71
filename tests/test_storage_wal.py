"""SQLite engines that leave WAL checkpoints to a thread of their own (vault/storage/wal.py).

The API's on-loop audit commits must not copy the WAL back into the database
file inside a commit on the event loop; these tests watch the database file
itself grow (or not) to see who copied what, and when.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from vault.storage.engine import create_vault_engine
from vault.storage.wal import WalCheckpointer, checkpoint_wal

BLOB = 6 * 1024 * 1024
"""One commit of about 1,500 pages: past SQLite's auto-checkpoint threshold of 1,000."""


def _write_blob(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS t (b BLOB)"))
        conn.execute(sa.text("INSERT INTO t VALUES (:b)"), {"b": b"\x01" * BLOB})


@pytest.mark.parametrize("auto_checkpoint", [True, False])
def test_only_an_auto_checkpointing_engine_copies_the_wal_inside_its_commit(
    tmp_path: Path, auto_checkpoint: bool
) -> None:
    database = tmp_path / "wal.db"
    engine = create_vault_engine(f"sqlite:///{database}", auto_checkpoint=auto_checkpoint)
    try:
        with engine.connect() as conn:
            pragma = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert pragma == (1000 if auto_checkpoint else 0)
        _write_blob(engine)
        copied_by_commit = database.stat().st_size >= BLOB
        assert copied_by_commit is auto_checkpoint
        report = checkpoint_wal(engine)
        assert not report.busy
        assert report.checkpointed_frames == report.wal_frames > 1000
        assert database.stat().st_size >= BLOB  # copied now, either way
    finally:
        engine.dispose()


def test_closing_the_checkpointer_checkpoints_once_more(tmp_path: Path) -> None:
    database = tmp_path / "wal.db"
    writer = create_vault_engine(f"sqlite:///{database}", auto_checkpoint=False)
    checkpointer = WalCheckpointer(writer, interval=3600)
    checkpointer.start()
    try:
        _write_blob(writer)
        assert database.stat().st_size < BLOB
    finally:
        checkpointer.close()
    assert database.stat().st_size >= BLOB
    writer.dispose()
