"""No plaintext PII at rest: raw bytes of the database (files, WAL, dumps), rejects and logs.

Each scan has a positive control: a non-PII value that *is* stored in clear (a
source id) must be found by the same scan, so a scan that reads the wrong bytes
fails instead of passing vacuously.
"""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from sqlalchemy.engine import make_url

from vault.demo_data import DemoFiles, generate_demo_data
from vault.errors import ValidationError
from vault.logs import PiiScrubber
from vault.redaction import Redactor
from vault.redaction.stored import StoredRedactions
from vault.services.importing import CsvRejects, ImportSources, import_files
from vault.services.redactions import refresh_redactions
from vault.services.runtime import Vault
from vault.storage.tables import TABLES

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SEALED_COLUMNS = {
    "customers": ("full_name", "id_number", "mobile", "email", "address"),
    "policies": ("policy_number",),
    "claims": ("claim_number", "description"),
    "interactions": ("note",),
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoFiles:
    return generate_demo_data(tmp_path_factory.mktemp("demo"), 120, seed=7, invalid_rows=14)


def _seeded_values(demo: DemoFiles) -> set[str]:
    """Every identifying value in the input files, in the spellings the vault might store."""
    from vault import identifiers

    values: set[str] = set()
    for kind, path in (
        ("customers", demo.customers),
        ("policies", demo.policies),
        ("claims", demo.claims),
        ("interactions", demo.interactions),
    ):
        with path.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                for column in SEALED_COLUMNS[kind]:
                    value = (row.get(column) or "").strip()
                    if len(value.encode()) >= 6:
                        values.add(value)
                if kind == "customers" and row["mobile"]:
                    with contextlib.suppress(ValidationError):  # invalid rows are rejected
                        values.add(identifiers.canonical_mobile(row["mobile"]))
                if kind == "customers" and row["email"]:
                    values.add(row["email"].strip().lower())
    return values


def _source_ids(demo: DemoFiles) -> list[str]:
    with demo.customers.open(encoding="utf-8") as fh:
        return [r["source_id"] for r in csv.DictReader(fh)][:20]


def _import(vault: Vault, demo: DemoFiles, rejects: Path) -> None:
    sources = ImportSources(
        customers=demo.customers,
        policies=demo.policies,
        claims=demo.claims,
        interactions=demo.interactions,
        consents=demo.consents,
    )
    with rejects.open("w", encoding="utf-8", newline="") as fh:
        import_files(vault, sources, CsvRejects(fh), workers=1)
    # As `customer-vault import` does: the notes' redactions, sealed beside them, are
    # bytes at rest too (and a redaction that missed a value would leak it here).
    stored = refresh_redactions(vault, StoredRedactions(Redactor()))
    assert stored.redacted > 0


def _leaks(haystack: bytes, values: set[str]) -> list[str]:
    return sorted(v for v in values if v.encode("utf-8") in haystack)


def _sqlite_bytes(vault: Vault) -> bytes:
    database = Path(make_url(vault.settings.database_url).database or "")
    files = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
    return b"".join(p.read_bytes() for p in files if p.exists())


def _wal_position(vault: Vault) -> tuple[str, int]:
    """The WAL segment file and byte offset where the next write will go."""
    with vault.engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT file_name, file_offset FROM pg_walfile_name_offset(pg_current_wal_insert_lsn())"
        ).one()
    return str(row[0]), int(row[1])


def _wal_bytes(vault: Vault, wal_start: tuple[str, int]) -> Iterator[tuple[str, bytes]]:
    """The WAL written since ``wal_start``: committed records are already in the segment files."""
    with vault.engine.connect() as conn:
        data_dir = Path(conn.exec_driver_sql("SHOW data_directory").scalar_one())
    if not os.access(data_dir, os.R_OK):
        return  # the caller fails under CI when a kind of scan is missing
    end = _wal_position(vault)
    start_name, start_offset = wal_start
    segments = {w.name: w for w in (data_dir / "pg_wal").glob("0*")}
    assert start_name in segments, f"WAL segment {start_name} was recycled before the scan"
    for name in sorted(n for n in segments if start_name <= n <= end[0]):
        data = segments[name].read_bytes()
        first = start_offset if name == start_name else 0
        last = end[1] if name == end[0] else len(data)
        yield "wal", data[first:last]


def _postgres_bytes(vault: Vault, wal_start: tuple[str, int]) -> Iterator[tuple[str, bytes]]:
    """COPY of every table, the raw heap, TOAST and index files, and the WAL the test wrote.

    Only the WAL bytes between the test's start and end positions are read: the
    segments are shared by every database of the cluster (and recycled), so the
    bytes around them belong to other work. They are read first, before the
    CHECKPOINT below lets PostgreSQL recycle (rename and overwrite) the segment the
    test started in.
    """
    yield from _wal_bytes(vault, wal_start)
    with vault.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        with raw.cursor() as cursor:
            for table in TABLES:
                with cursor.copy(f'COPY (SELECT * FROM "{table}") TO STDOUT') as copy:
                    yield "copy", b"".join(bytes(chunk) for chunk in copy)
        conn.exec_driver_sql("CHECKPOINT")
        data_dir = Path(conn.exec_driver_sql("SHOW data_directory").scalar_one())
        if not os.access(data_dir, os.R_OK):
            if IN_CI:
                pytest.fail(f"cannot read PostgreSQL's data directory {data_dir} for the raw scan")
            return
        relations = conn.exec_driver_sql(
            "SELECT pg_relation_filepath(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname IN ('public', 'pg_toast') AND c.relkind IN ('r', 't', 'i') "
            "AND pg_relation_filepath(c.oid) IS NOT NULL"
        ).scalars()
        for relative in relations:
            for segment in data_dir.glob(relative + "*"):
                yield "files", segment.read_bytes()


def test_database_files_and_wal_hold_no_plaintext_pii(
    vault: Vault, demo: DemoFiles, tmp_path: Path
) -> None:
    values = _seeded_values(demo)
    assert len(values) > 500  # names, IDs, mobiles, emails, addresses, notes, numbers
    wal_start = ("", 0)
    if vault.engine.dialect.name == "postgresql":
        wal_start = _wal_position(vault)
    _import(vault, demo, tmp_path / "rejects.csv")

    if vault.engine.dialect.name == "sqlite":
        haystack = _sqlite_bytes(vault)  # engine still open: the WAL has not been folded in
        vault.engine.dispose()
        haystack += _sqlite_bytes(vault)
    else:
        parts: dict[str, bytes] = {}
        for kind, chunk in _postgres_bytes(vault, wal_start):
            parts[kind] = parts.get(kind, b"") + chunk
        for kind, part in parts.items():  # each kind of scan sees the stored data
            assert all(c.encode() in part for c in _source_ids(demo)), kind
        if IN_CI:
            assert set(parts) == {"copy", "files", "wal"}
        haystack = b"".join(parts.values())
    controls = _source_ids(demo)
    assert all(c.encode() in haystack for c in controls), "the scan does not see stored data"
    assert _leaks(haystack, values) == []


def test_rejects_file_names_fields_but_never_values(
    vault: Vault, demo: DemoFiles, tmp_path: Path
) -> None:
    rejects = tmp_path / "rejects.csv"
    _import(vault, demo, rejects)
    content = rejects.read_bytes()
    assert content.count(b"\n") == 1 + 14  # header + the 14 deliberately invalid rows
    with demo.customers.open(encoding="utf-8") as fh:
        invalid = list(csv.DictReader(fh))[-14:]
    broken = {
        (row[c] or "").strip()
        for row in invalid
        for c in ("full_name", "id_number", "mobile", "email", "birth_date", "address")
    }
    assert _leaks(content, {v for v in broken if len(v) >= 4}) == []


def test_import_logs_carry_no_pii(vault: Vault, demo: DemoFiles, tmp_path: Path) -> None:
    with structlog.testing.capture_logs(processors=[PiiScrubber()]) as logs:
        _import(vault, demo, tmp_path / "rejects.csv")
    assert logs, "the import logged nothing: the test would prove nothing"
    assert _leaks(repr(logs).encode(), _seeded_values(demo)) == []


def test_the_log_scrubber_removes_pii_keys_and_identifier_looking_values() -> None:
    scrub = PiiScrubber()
    event = scrub(
        None,
        "info",
        {
            "event": "x",
            "mobile": "13812345678",
            "note": "call 138-1234-5678 or a@b.cn",
            "count": 3,
            "nested": {"email": "z@163.com", "ok": "fine"},
        },
    )
    text = repr(event)
    for secret in ("13812345678", "138-1234-5678", "a@b.cn", "z@163.com"):
        assert secret not in text
    assert event["count"] == 3
    assert event["nested"]["ok"] == "fine"
