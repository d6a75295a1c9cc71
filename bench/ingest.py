"""Ingest benchmark: the vault's import against a plaintext baseline, measured in the same run.

    .venv/bin/python bench/ingest.py [--customers 20000] [--backends sqlite,postgresql]

For each back end, on a fresh database each time:

* **vault**: ``import_files`` on the generated customers.csv (validation, identity
  resolution, a data key per customer, 14 sealed fields, 4 blind indexes, source links).
* **baseline (plaintext)**: the same CSV, the same row validation (the rows must be the
  same valid rows), inserted as plain SQLModel objects with ``session.add_all`` and a
  commit per 1,000 rows: what an import without the vault would do.
* **baseline (insert only)**: the same plain rows, already parsed, inserted the same way;
  the floor set by the database alone.

Prints customers/s and the ratios.  Targets (issue): vault ≥ 0.7 x the plaintext
baseline, and ≥ 3,000 customers/s on SQLite on a 2-core machine.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import decimal
import os
import secrets
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import Field, Session, SQLModel, create_engine

from vault.demo_data import generate_demo_data
from vault.import_format import CustomerRow, parse_customer
from vault.keyring import create_keyring
from vault.services.importing import ImportSources, default_workers, import_files
from vault.services.runtime import open_vault
from vault.settings import Settings
from vault.storage import migrate
from vault.storage.engine import create_vault_engine
from vault.validation import RowRejected

PG_ADMIN = os.environ.get(
    "VAULT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BATCH = 1000


class PlainCustomer(SQLModel, table=True):
    """The baseline's table: the same profile, in clear, no keys, no indexes but the key."""

    __tablename__ = "plain_customers"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    source_system: str
    source_id: str
    full_name: str
    gender: str | None = None
    birth_date: dt.date | None = None
    id_type: str | None = None
    id_number: str | None = None
    mobile: str | None = None
    email: str | None = None
    address: str | None = None
    province: str | None = None
    city: str | None = None
    postcode: str | None = None
    occupation: str | None = None
    annual_income: decimal.Decimal | None = None
    marital_status: str | None = None
    education: str | None = None
    org_unit: str | None = None


def _plain(row: CustomerRow) -> PlainCustomer:
    values = {name: getattr(row, name) for name in PlainCustomer.model_fields if name != "id"}
    return PlainCustomer(**values)


def _parsed_rows(path: Path) -> Iterator[CustomerRow]:
    with path.open(encoding="utf-8", newline="") as fh:
        for raw in csv.DictReader(fh):
            try:
                yield parse_customer(raw)
            except RowRejected:
                continue


def baseline(url: str, path: Path, *, prevalidated: list[CustomerRow] | None = None) -> float:
    engine = create_engine(url)
    SQLModel.metadata.create_all(engine, tables=[PlainCustomer.__table__])  # type: ignore[attr-defined]
    rows = iter(prevalidated) if prevalidated is not None else _parsed_rows(path)
    started = time.perf_counter()
    count = 0
    with Session(engine) as session:
        batch: list[PlainCustomer] = []
        for row in rows:
            batch.append(_plain(row))
            if len(batch) == BATCH:
                session.add_all(batch)
                session.commit()
                count += len(batch)
                batch = []
        session.add_all(batch)
        session.commit()
        count += len(batch)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return count / elapsed


def vault_import(url: str, path: Path, workdir: Path, workers: int) -> tuple[float, int]:
    keys = workdir / f"keys-{secrets.token_hex(4)}.toml"
    create_keyring(keys)
    engine = create_vault_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    vault = open_vault(Settings.resolve(database_url=url, keys_path=keys, env={}))
    started = time.perf_counter()
    summary = import_files(vault, ImportSources(customers=path), workers=workers)
    elapsed = time.perf_counter() - started
    vault.close()
    totals = summary.totals()
    stored = totals["imported"] + totals["merged"]
    return stored / elapsed, stored


@contextmanager
def fresh_database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / f'bench-{secrets.token_hex(4)}.db'}"
        return
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"cdv_bench_{os.getpid()}_{secrets.token_hex(3)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=default_workers())
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cdv-bench-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        files = generate_demo_data(workdir / "data", args.customers, seed=1)
        print(
            f"generated {files.counts['customers']} customer rows "
            f"({args.customers} people) in {time.perf_counter() - started:.1f}s; "
            f"vault workers: {args.workers}, cores: {os.cpu_count()}"
        )
        prevalidated = list(_parsed_rows(files.customers))
        results: dict[str, dict[str, Any]] = {}
        for backend in [b for b in args.backends.split(",") if b]:
            with fresh_database(backend, workdir) as url:
                rate, stored = vault_import(url, files.customers, workdir, args.workers)
            with fresh_database(backend, workdir) as url:
                plain = baseline(url, files.customers)
            with fresh_database(backend, workdir) as url:
                insert_only = baseline(url, files.customers, prevalidated=prevalidated)
            results[backend] = {"vault": rate, "plain": plain, "insert": insert_only}
            print(f"\n[{backend}] {stored} customers stored")
            print(f"  vault import              {rate:9.0f} customers/s")
            print(
                f"  baseline: plaintext import {plain:8.0f} customers/s   "
                f"ratio vault/baseline = {rate / plain:.2f}  (target >= 0.70)"
            )
            print(
                f"  baseline: insert only     {insert_only:9.0f} customers/s   "
                f"ratio vault/insert-only = {rate / insert_only:.2f}"
            )
        if "sqlite" in results:
            verdict = "met" if results["sqlite"]["vault"] >= 3000 else "NOT met"
            print(f"\nSQLite absolute target (>= 3,000 customers/s): {verdict}")


if __name__ == "__main__":
    main()
