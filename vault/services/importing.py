"""Importing CRM extracts: validate, resolve identities, seal, and store, in batches.

This is the seed's "merge on customer_id" done properly.  Rows are read in
batches; each batch is one transaction, so a customer, its wrapped data key,
its blind indexes and its source link are committed together or not at all.
If a batch fails in the database (a concurrent import took a key first), it is
retried row by row, so one bad row costs one reject, never the batch.

Identity resolution (see docs/import-formats.md):

1. ``(source_system, source_id)`` already linked → same customer.  If the row's
   keyed content fingerprint is unchanged nothing is written, which is what makes
   re-imports idempotent; otherwise the row's provided fields overwrite.
2. else the row's ID number's blind index matches a customer → attach (merge).
3. else, for rows without an ID number, name + mobile's blind index matches → attach.
4. else a new customer with a fresh data key.

Nothing here ever writes a PII value anywhere but into a sealed column: rejects
carry field names and rules, logs carry counts.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
import multiprocessing
import os
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import IntegrityError as DBIntegrityError

from vault import blind_index, identifiers, schema
from vault import import_format as rows
from vault.crypto import keyed_hash
from vault.envelope import DataKey, WrappedKey, new_data_key, open_data_key
from vault.errors import (
    ConflictError,
    IntegrityError,
    NotFoundError,
    StorageError,
    ValidationError,
)
from vault.logs import get_logger
from vault.progress import NullProgress, Progress
from vault.sealing import open_sealed, seal_fields
from vault.services.datakeys import load_data_keys, wrapped_key_row
from vault.services.runtime import Vault
from vault.storage.tables import (
    Claim,
    Consent,
    Customer,
    DataKeyRow,
    Interaction,
    OrgUnit,
    Policy,
    SourceLink,
    columns,
)
from vault.validation import RowRejected

BATCH_SIZE = 1000
KINDS = ("customers", "policies", "claims", "interactions", "consents")
T = TypeVar("T")
log = get_logger("vault.import")


class RejectSink(Protocol):
    def reject(
        self, source_file: str, row_number: int, fields: Sequence[str], reason: str
    ) -> None: ...


class CsvRejects:
    """The rejects file: a header, then one row per rejected input row."""

    HEADER = ("source_file", "row_number", "fields", "reason")

    def __init__(self, stream: Any) -> None:
        self._writer = csv.writer(stream)
        self._writer.writerow(self.HEADER)

    def reject(self, source_file: str, row_number: int, fields: Sequence[str], reason: str) -> None:
        self._writer.writerow((source_file, row_number, ";".join(fields), reason))


class _HeldRejects:
    """Rejects of a batch in flight, released to the real sink only once it commits."""

    def __init__(self) -> None:
        self._held: list[tuple[str, int, Sequence[str], str]] = []

    def reject(self, source_file: str, row_number: int, fields: Sequence[str], reason: str) -> None:
        self._held.append((source_file, row_number, list(fields), reason))

    def release(self, sink: RejectSink | None) -> None:
        if sink is not None:
            for entry in self._held:
                sink.reject(*entry)
        self._held.clear()


class CountingRejects:
    """Counts rejects and forwards them (to a file, or nowhere)."""

    def __init__(self, inner: RejectSink | None = None) -> None:
        self._inner = inner
        self.count = 0

    def reject(self, source_file: str, row_number: int, fields: Sequence[str], reason: str) -> None:
        self.count += 1
        if self._inner is not None:
            self._inner.reject(source_file, row_number, fields, reason)


@dataclass
class FileSummary:
    kind: str
    file: str
    read: int = 0
    imported: int = 0
    merged: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0

    def add(self, other: FileSummary) -> None:
        for name in ("imported", "merged", "updated", "unchanged", "rejected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class ImportSummary:
    files: list[FileSummary] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        keys = ("read", "imported", "merged", "updated", "unchanged", "rejected")
        return {k: sum(getattr(f, k) for f in self.files) for k in keys}

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": [vars(f) | {} for f in self.files],
            "totals": self.totals(),
        }


@dataclass(frozen=True)
class ImportSources:
    customers: Path | None = None
    policies: Path | None = None
    claims: Path | None = None
    interactions: Path | None = None
    consents: Path | None = None

    def items(self) -> list[tuple[str, Path]]:
        return [(k, p) for k in KINDS if (p := getattr(self, k)) is not None]


def import_files(
    vault: Vault,
    sources: ImportSources,
    rejects: RejectSink | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> ImportSummary:
    """Import the given files in dependency order; returns what happened to every row.

    ``workers`` processes prepare large customer files (parse, validate, seal);
    the default is one per core.  The result does not depend on it.
    """
    progress = progress or NullProgress()
    workers = default_workers() if workers is None else workers
    for kind, path in sources.items():  # refuse unreadable files or bad headers before writing
        _check_file(kind, path)
    summary = ImportSummary()
    for kind, path in sources.items():
        importer = _IMPORTERS[kind](vault)
        summary.files.append(importer.run(path, rejects, progress, workers))
    log.info("import.done", **summary.totals())
    return summary


def _check_file(kind: str, path: Path) -> None:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh), None)
    except FileNotFoundError:
        raise NotFoundError(f"{kind} file {path} does not exist") from None
    except UnicodeDecodeError:
        raise ValidationError(f"{kind} file", "is not UTF-8 text") from None
    except (OSError, csv.Error) as exc:
        raise ValidationError(f"{kind} file", f"cannot be read ({type(exc).__name__})") from None
    rows.check_header(kind, header)


def _count_rows(path: Path) -> int:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return max(sum(1 for _ in csv.reader(fh)) - 1, 0)


def _batches(it: Iterator[T], size: int) -> Iterator[list[T]]:
    while batch := list(islice(it, size)):
        yield batch


def _fingerprint_message(kind: str, record: Any) -> bytes:
    """Every value of a parsed row, unambiguously (JSON), for change detection."""
    values = [getattr(record, name) for name in record.__dataclass_fields__]
    return (kind + "\x00" + json.dumps(values, sort_keys=True, default=str)).encode()


Parsed = tuple[int, Any]

ScopeCheck = Callable[[uuid.UUID, int | None], None]
"""Asked before a row changes (or attaches to) a stored customer: the customer and an
org unit it is in or would move to.  It raises to refuse the row, which rolls the
whole write back.  The API passes one, so that identity resolution cannot attach a
caller's row to a customer outside the caller's scope; file imports pass none."""


@dataclass(frozen=True, slots=True)
class _Rejected:
    number: int
    fields: list[str]
    reason: str


_ACTIVE: _FileImporter | None = None
"""The importer whose ``prepare`` forked workers run (inherited through fork, never pickled)."""


def _prepare_in_worker(batch: list[tuple[int, dict[str, str | None]]]) -> list[Any]:
    if _ACTIVE is None:  # pragma: no cover - only if a worker is started without fork
        raise RuntimeError("no active importer in this worker")
    return _ACTIVE.prepare(batch)


@contextmanager
def _preparation(
    importer: _FileImporter, workers: int
) -> Iterator[Callable[[list[tuple[int, dict[str, str | None]]]], Callable[[], list[Any]]]]:
    """Submit batches for preparation; each submission returns a callable giving the result.

    With several workers the pool is forked, so the keys reach the workers as
    inherited memory: they are never pickled or sent through a pipe.
    """
    global _ACTIVE
    if workers <= 1:
        yield lambda batch: functools.partial(importer.prepare, batch)
        return
    _ACTIVE = importer
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:

            def submit(
                batch: list[tuple[int, dict[str, str | None]]],
            ) -> Callable[[], list[Any]]:
                size = -(-len(batch) // workers)
                futures = [
                    pool.submit(_prepare_in_worker, batch[i : i + size])
                    for i in range(0, len(batch), size)
                ]
                return lambda: [item for f in futures for item in f.result()]

            yield submit
    finally:
        _ACTIVE = None


def default_workers() -> int:
    """Worker processes for preparing large imports: one per usable core."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def sealed_profile(
    table: schema.Table, cid: uuid.UUID, key: DataKey, row: rows.CustomerRow
) -> dict[str, bytes | None]:
    """The row's encrypted fields that have a value, sealed for customer ``cid``."""
    values = {f.name: getattr(row, f.name) for f in table.encrypted_fields}
    return seal_fields(table, cid, key, {k: v for k, v in values.items() if v is not None})


class _FileImporter:
    """Reads one file in batches; subclasses apply a batch inside one transaction."""

    kind: str
    parse: Callable[[Mapping[str, str | None]], Any]

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.table = schema.table(self.kind)

    parallel = False
    """Whether preparing a batch is worth shipping to worker processes."""
    parallel_min_rows = 2 * BATCH_SIZE
    """Below this many rows, forking workers costs more than it saves."""

    def run(
        self, path: Path, rejects: RejectSink | None, progress: Progress, workers: int = 1
    ) -> FileSummary:
        """Read, prepare (possibly in worker processes) and apply the file batch by batch.

        While batch *n* is applied in this process, batch *n+1* is being prepared.
        """
        summary = FileSummary(kind=self.kind, file=path.name)
        total = _count_rows(path)
        workers = workers if self.parallel and total >= self.parallel_min_rows else 1
        with _preparation(self, workers) as prepare:
            progress.start(f"importing {path.name}", total)
            try:
                with path.open(encoding="utf-8-sig", newline="") as fh:
                    numbered = enumerate(csv.DictReader(fh), start=1)
                    in_flight: (
                        tuple[list[tuple[int, dict[str, str | None]]], Callable[[], list[Any]]]
                        | None
                    ) = None
                    for batch in _batches(numbered, BATCH_SIZE):
                        summary.read += len(batch)
                        submitted = (batch, prepare(batch))
                        if in_flight is not None:
                            self._consume(summary, in_flight, path, rejects, progress)
                        in_flight = submitted
                    if in_flight is not None:
                        self._consume(summary, in_flight, path, rejects, progress)
            except csv.Error:
                raise ValidationError(
                    f"{self.kind} file", f"is not valid CSV after data row {summary.read}"
                ) from None
            finally:
                progress.finish()
        log.info("import.file", kind=self.kind, read=summary.read, rejected=summary.rejected)
        return summary

    raw_rows: Mapping[int, Mapping[str, str | None]] = {}
    """The raw rows of the batch being applied, by row number."""

    scope_check: ScopeCheck | None = None
    """See :data:`ScopeCheck` (customers only: child rows are placed by the caller)."""

    def _consume(
        self,
        summary: FileSummary,
        in_flight: tuple[list[tuple[int, dict[str, str | None]]], Callable[[], list[Any]]],
        path: Path,
        rejects: RejectSink | None,
        progress: Progress,
    ) -> None:
        batch, result = in_flight
        size = len(batch)
        self.raw_rows = dict(batch)
        parsed: list[Parsed] = []
        for item in result():
            if isinstance(item, _Rejected):
                self._reject(summary, rejects, path, item.number, item.fields, item.reason)
            else:
                parsed.append(item)
        summary.add(self._apply_safely(parsed, path, rejects))
        progress.advance(size)

    def prepare(self, batch: list[tuple[int, dict[str, str | None]]]) -> list[Any]:
        """Parse and validate a batch: pure work, no database (may run in a worker)."""
        out: list[Any] = []
        for number, raw in batch:
            try:
                row = type(self).parse(raw)
            except RowRejected as exc:
                out.append(_Rejected(number, exc.fields, str(exc)))
                continue
            out.append((number, self.prepare_row(row)))
        return out

    def prepare_row(self, row: Any) -> Any:
        return row

    def _reject(
        self,
        summary: FileSummary,
        rejects: RejectSink | None,
        path: Path,
        number: int,
        fields: Sequence[str],
        reason: str,
    ) -> None:
        summary.rejected += 1
        if rejects is not None:
            rejects.reject(path.name, number, fields, reason)

    def _apply_safely(
        self, parsed: list[Parsed], path: Path, rejects: RejectSink | None
    ) -> FileSummary:
        """One transaction per batch; on a database conflict, one per row.

        Rejects found while applying a batch are held back until it commits: a
        batch that fails is applied again row by row, and must not report its
        rejects twice.
        """
        result = FileSummary(kind=self.kind, file=path.name)
        if not parsed:
            return result
        held = _HeldRejects()
        try:
            with self.vault.engine.begin() as conn:
                result.add(self.apply(conn, parsed, path, held))
            held.release(rejects)
            return result
        except (DBIntegrityError, DBAPIError):
            if len(parsed) == 1:
                number = parsed[0][0]
                self._reject(
                    result,
                    rejects,
                    path,
                    number,
                    ["row"],
                    "row: conflicts with data stored concurrently; import the file again",
                )
                return result
        for item in parsed:
            result.add(self._apply_safely([item], path, rejects))
        return result

    def apply(
        self, conn: Connection, parsed: list[Parsed], path: Path, rejects: RejectSink | None
    ) -> FileSummary:
        raise NotImplementedError

    # helpers shared by the child-record importers ------------------------------------

    def fingerprint(self, record: Any) -> bytes:
        return keyed_hash(self.vault.fingerprint_key, _fingerprint_message(self.kind, record))

    def customers_by_source(
        self, conn: Connection, parsed: list[Parsed]
    ) -> dict[tuple[str, str], uuid.UUID]:
        keys = {(r.source_system, r.customer_source_id) for _, r in parsed}
        link = columns(SourceLink)
        found = conn.execute(
            sa.select(link.source_system, link.source_id, link.customer_id).where(
                sa.tuple_(link.source_system, link.source_id).in_(list(keys))
            )
        )
        return {(s, i): c for s, i, c in found}

    def no_customer(
        self, summary: FileSummary, rejects: RejectSink | None, path: Path, n: int
    ) -> None:
        self._reject(
            summary,
            rejects,
            path,
            n,
            ["customer_source_id"],
            "customer_source_id: no customer with this source id in this source system",
        )


class _PreparedCustomer(NamedTuple):
    """A valid customer row with everything computable without the database.

    A plain tuple of strings and bytes, because it crosses from a worker process
    and pickling is a real share of the cost.  ``new_id``, ``wrapped`` and
    ``sealed`` are speculative: used if the row turns out to be a new customer,
    discarded if it attaches to an existing one (the main process then parses
    the raw row again, which it keeps).
    """

    source_system: str
    source_id: str
    full_name: str
    id_type: str | None
    mobile: str | None
    org_unit: str | None
    custom_attributes: dict[str, str]
    id_bidx: bytes | None
    nm_bidx: bytes | None
    mobile_bidx: bytes | None
    email_bidx: bytes | None
    id_others: tuple[bytes, ...]
    """``id_bidx`` under older index keys (empty unless a re-index is under way)."""
    nm_others: tuple[bytes, ...]
    digest: bytes
    new_id: bytes
    kek_version: int
    wrapped: bytes
    sealed: tuple[bytes | None, ...]
    """Aligned with ``schema.table("customers").encrypted_fields``."""


class _CustomerImporter(_FileImporter):
    kind = "customers"
    parse = staticmethod(rows.parse_customer)
    parallel = True

    def prepare_row(self, row: rows.CustomerRow) -> _PreparedCustomer:
        indexer = self.vault.indexer
        cid = uuid.uuid4()
        key, wrapped = new_data_key(self.vault.provider, cid)
        sealed = sealed_profile(self.table, cid, key, row)
        return _PreparedCustomer(
            source_system=row.source_system,
            source_id=row.source_id,
            full_name=row.full_name,
            id_type=row.id_type,
            mobile=row.mobile,
            org_unit=row.org_unit,
            custom_attributes=row.custom_attributes,
            id_bidx=indexer.digest(blind_index.ID_NUMBER, row.id_number) if row.id_number else None,
            nm_bidx=indexer.name_mobile(row.full_name, row.mobile) if row.mobile else None,
            mobile_bidx=indexer.digest(blind_index.MOBILE, row.mobile) if row.mobile else None,
            email_bidx=(
                indexer.digest(blind_index.EMAIL, identifiers.email_index_form(row.email))
                if row.email
                else None
            ),
            id_others=indexer.others(blind_index.ID_NUMBER, row.id_number) if row.id_number else (),
            nm_others=(indexer.name_mobile_others(row.full_name, row.mobile) if row.mobile else ()),
            digest=self.fingerprint(row),
            new_id=cid.bytes,
            kek_version=wrapped.kek_version,
            wrapped=wrapped.wrapped,
            sealed=tuple(sealed.get(f.name) for f in self.table.encrypted_fields),
        )

    def apply(
        self, conn: Connection, parsed: list[Parsed], path: Path, rejects: RejectSink | None
    ) -> FileSummary:
        return _CustomerBatch(self, conn, path, rejects, self.raw_rows).run(parsed)


@dataclass
class _Known:
    """What a batch knows about a customer it may update without decrypting it whole."""

    mobile: str | bytes | None  # E.164 if known in clear, sealed bytes if from the database
    custom: dict[str, Any]
    id_bidx: bytes | None
    org_unit_id: int | None


class _CustomerBatch:
    """One batch of customer rows, resolved against the database and itself, then written.

    New customers, their keys and links are collected and inserted in bulk at the
    end; a later row of the same batch that attaches to one of them updates the
    pending record in memory, so a batch costs a handful of statements, not one
    per merge.
    """

    def __init__(
        self,
        importer: _CustomerImporter,
        conn: Connection,
        path: Path,
        rejects: RejectSink | None,
        raw_rows: Mapping[int, Mapping[str, str | None]],
    ) -> None:
        self.importer = importer
        self.raw_rows = raw_rows
        self.vault = importer.vault
        self.conn = conn
        self.path = path
        self.rejects = rejects
        self.table = importer.table
        self.now = self.vault.clock()
        self.summary = FileSummary(kind="customers", file=path.name)
        self.keys: dict[uuid.UUID, DataKey] = {}
        self.wrapped: dict[uuid.UUID, WrappedKey] = {}
        self.known: dict[uuid.UUID, _Known] = {}
        self.pending: dict[str, list[dict[str, Any]]] = {
            "data_keys": [],
            "customers": [],
            "links": [],
        }
        self.pending_records: dict[uuid.UUID, dict[str, Any]] = {}
        self.pending_links: dict[tuple[str, str], dict[str, Any]] = {}
        self.by_id: dict[bytes, uuid.UUID] = {}
        self.org_units: dict[str, int] = {}
        self._sealed_names = [f.name for f in self.table.encrypted_fields]

    def run(self, parsed: list[Parsed]) -> FileSummary:
        prepared: list[tuple[int, _PreparedCustomer]] = parsed
        links = self._existing_links(prepared)
        by_id = self.by_id = self._existing_by(
            columns(Customer).id_number_bidx,
            [(p.id_bidx, p.id_others) for _, p in prepared if p.id_bidx],
        )
        by_nm = self._existing_by(
            columns(Customer).name_mobile_bidx,
            [(p.nm_bidx, p.nm_others) for _, p in prepared if p.nm_bidx],
        )
        self._load_customers(
            {c for c, _ in links.values()} | set(by_id.values()) | set(by_nm.values())
        )

        for number, p in prepared:
            id_bidx, nm_bidx, digest = p.id_bidx, p.nm_bidx, p.digest
            key = (p.source_system, p.source_id)
            if key in links:
                cid, old_digest = links[key]
                self._in_scope(cid)
                if old_digest == digest:
                    self.summary.unchanged += 1
                    continue
                if self._update(number, cid, self._row(number), id_bidx):
                    self._relink(key, digest)
                    links[key] = (cid, digest)
                    self.summary.updated += 1
                continue
            match = by_id.get(id_bidx) if id_bidx else (by_nm.get(nm_bidx) if nm_bidx else None)
            if match is not None:
                self._in_scope(match)
                if self._update(number, match, self._row(number), id_bidx):
                    self._link(key, match, digest)
                    links[key] = (match, digest)
                    self.summary.merged += 1
                continue
            cid = self._create(p)
            self._link(key, cid, digest)
            links[key] = (cid, digest)
            if id_bidx:
                by_id[id_bidx] = cid
            if nm_bidx:
                by_nm.setdefault(nm_bidx, cid)
            self.summary.imported += 1
        self._flush()
        return self.summary

    def _in_scope(self, cid: uuid.UUID, moving_to: int | None = None) -> None:
        """Refuse (by raising) to touch a stored customer the caller may not reach.

        Asked once where a row resolves to ``cid`` (its current org unit), and
        again only if the row would move it to another unit ``moving_to``.
        """
        check = self.importer.scope_check
        if check is None:
            return
        known = self.known.get(cid)
        if known is None:
            raise IntegrityError(f"customer {cid} was resolved but not loaded")
        if moving_to is None:
            check(cid, known.org_unit_id)
        elif moving_to != known.org_unit_id:
            check(cid, moving_to)

    def _row(self, number: int) -> rows.CustomerRow:
        """The full parsed row, for the minority of rows that touch an existing customer."""
        return rows.parse_customer(self.raw_rows[number])

    # --- reads ---------------------------------------------------------------------------

    def _existing_links(
        self, parsed: list[Parsed]
    ) -> dict[tuple[str, str], tuple[uuid.UUID, bytes | None]]:
        keys = list({(r.source_system, r.source_id) for _, r in parsed})
        link = columns(SourceLink)
        result = self.conn.execute(
            sa.select(
                link.source_system, link.source_id, link.customer_id, link.content_digest
            ).where(sa.tuple_(link.source_system, link.source_id).in_(keys))
        )
        return {(s, i): (c, d) for s, i, c, d in result}

    def _existing_by(
        self, column: Any, digests: list[tuple[bytes, tuple[bytes, ...]]]
    ) -> dict[bytes, uuid.UUID]:
        """Customers found by a blind index, keyed by the *primary* digest of the value.

        Each value comes with its digests under older index keys, so a customer not
        yet re-indexed after an index-key rotation is found all the same.
        """
        if not digests:
            return {}
        primary_of = {d: p for p, others in digests for d in (p, *others)}
        result = self.conn.execute(
            sa.select(column, columns(Customer).id).where(column.in_(set(primary_of)))
        )
        found: dict[bytes, uuid.UUID] = {}
        for d, c in result:
            if d == primary_of[d] or primary_of[d] not in found:
                found[primary_of[d]] = c
        return found

    def _load_customers(self, ids: set[uuid.UUID]) -> None:
        if not ids:
            return
        c = columns(Customer)
        query = sa.select(c.id, c.mobile, c.custom_attributes, c.id_number_bidx, c.org_unit_id)
        query = query.where(c.id.in_(ids))
        if self.importer.scope_check is not None:
            # The org unit checked must be the one the update overwrites: on PostgreSQL
            # (READ COMMITTED) lock the rows, or a concurrent move would slip between.
            # SQLite's write transactions already hold the database (BEGIN IMMEDIATE).
            query = query.with_for_update()
        result = self.conn.execute(query)
        for cid, mobile, custom, id_bidx, unit in result:
            self.known[cid] = _Known(
                mobile=mobile, custom=dict(custom or {}), id_bidx=id_bidx, org_unit_id=unit
            )
        self.keys.update(load_data_keys(self.conn, self.vault.provider, ids))

    def _org_unit(self, code: str | None) -> int | None:
        if code is None:
            return None
        if code not in self.org_units:
            unit = columns(OrgUnit)
            found = self.conn.execute(sa.select(unit.id).where(unit.code == code)).scalar()
            if found is None:
                found = self.conn.execute(
                    sa.insert(OrgUnit).values(code=code, name=code).returning(unit.id)
                ).scalar_one()
            self.org_units[code] = found
        return self.org_units[code]

    # --- writes --------------------------------------------------------------------------

    def _create(self, p: _PreparedCustomer) -> uuid.UUID:
        cid = uuid.UUID(bytes=p.new_id)
        wrapped = WrappedKey(
            subject_id=cid, version=1, kek_version=p.kek_version, wrapped=p.wrapped
        )
        self.wrapped[cid] = wrapped
        org_unit_id = self._org_unit(p.org_unit)
        self.known[cid] = _Known(
            mobile=p.mobile,
            custom=dict(p.custom_attributes),
            id_bidx=p.id_bidx,
            org_unit_id=org_unit_id,
        )
        record: dict[str, Any] = dict(zip(self._sealed_names, p.sealed, strict=True))
        record.update(
            id=cid,
            id_type=p.id_type,
            id_number_bidx=p.id_bidx,
            mobile_bidx=p.mobile_bidx,
            email_bidx=p.email_bidx,
            name_mobile_bidx=p.nm_bidx,
            org_unit_id=org_unit_id,
            custom_attributes=dict(p.custom_attributes),
            created_at=self.now,
            updated_at=self.now,
        )
        self.pending["data_keys"].append(wrapped_key_row(wrapped, self.now))
        self.pending["customers"].append(record)
        self.pending_records[cid] = record
        return cid

    def _update(
        self, number: int, cid: uuid.UUID, row: rows.CustomerRow, id_bidx: bytes | None
    ) -> bool:
        """Overwrite the fields the row provides; empty cells never erase. False if rejected."""
        known = self.known.get(cid)
        if cid not in self.keys and cid in self.wrapped:
            self.keys[cid] = open_data_key(self.vault.provider, self.wrapped[cid])
        key = self.keys.get(cid)
        if known is None or key is None:
            raise IntegrityError(f"customer {cid} has no data key; the store is inconsistent")
        if id_bidx and id_bidx != known.id_bidx:
            others = self.vault.indexer.others(blind_index.ID_NUMBER, row.id_number or "")
            owner = self.by_id.get(id_bidx) or self._existing_by(
                columns(Customer).id_number_bidx, [(id_bidx, others)]
            ).get(id_bidx)
            if owner is not None and owner != cid:
                self.importer._reject(
                    self.summary,
                    self.rejects,
                    self.path,
                    number,
                    ["id_number"],
                    "id_number: already belongs to another customer",
                )
                return False
        values: dict[str, Any] = sealed_profile(self.table, cid, key, row)
        indexer = self.vault.indexer
        mobile = row.mobile or self._stored_mobile(cid, known, key)
        if row.id_number and id_bidx:
            values.update(id_type=row.id_type, id_number_bidx=id_bidx)
            if known.id_bidx and self.by_id.get(known.id_bidx) == cid:
                del self.by_id[known.id_bidx]
            self.by_id[id_bidx] = cid
            known.id_bidx = id_bidx
        if row.mobile:
            values["mobile_bidx"] = indexer.digest(blind_index.MOBILE, row.mobile)
            known.mobile = row.mobile
        if row.email:
            values["email_bidx"] = indexer.digest(
                blind_index.EMAIL, identifiers.email_index_form(row.email)
            )
        if mobile:
            values["name_mobile_bidx"] = indexer.name_mobile(row.full_name, mobile)
        if row.org_unit:
            values["org_unit_id"] = self._org_unit(row.org_unit)
            self._in_scope(cid, moving_to=values["org_unit_id"])
            known.org_unit_id = values["org_unit_id"]
        if row.custom_attributes:
            known.custom = known.custom | row.custom_attributes
            values["custom_attributes"] = known.custom
        values["updated_at"] = self.now
        if cid in self.pending_records:
            self.pending_records[cid].update(values)
        else:
            self.conn.execute(
                sa.update(Customer).where(columns(Customer).id == cid).values(**values)
            )
        return True

    def _stored_mobile(self, cid: uuid.UUID, known: _Known, key: DataKey) -> str | None:
        if isinstance(known.mobile, bytes):
            known.mobile = open_sealed(self.table.field("mobile"), cid, key, known.mobile)
        return known.mobile if isinstance(known.mobile, str) else None

    def _link(self, key: tuple[str, str], cid: uuid.UUID, digest: bytes) -> None:
        link = {
            "source_system": key[0],
            "source_id": key[1],
            "customer_id": cid,
            "content_digest": digest,
            "linked_at": self.now,
        }
        self.pending["links"].append(link)
        self.pending_links[key] = link

    def _relink(self, key: tuple[str, str], digest: bytes) -> None:
        if key in self.pending_links:
            self.pending_links[key]["content_digest"] = digest
            return
        self.conn.execute(
            sa.update(SourceLink)
            .where(columns(SourceLink).source_system == key[0])
            .where(columns(SourceLink).source_id == key[1])
            .values(content_digest=digest)
        )

    def _flush(self) -> None:
        for name, model in (
            ("data_keys", DataKeyRow),
            ("customers", Customer),
            ("links", SourceLink),
        ):
            if self.pending[name]:
                self.conn.execute(sa.insert(model), self.pending[name])
                self.pending[name] = []
        self.pending_records.clear()
        self.pending_links.clear()


class _ChildImporter(_FileImporter):
    """Policies, claims, interactions, consents: rows that hang off an imported customer."""

    def apply(
        self, conn: Connection, parsed: list[Parsed], path: Path, rejects: RejectSink | None
    ) -> FileSummary:
        summary = FileSummary(kind=self.kind, file=path.name)
        owners = self.customers_by_source(conn, parsed)
        keys = load_data_keys(conn, self.vault.provider, set(owners.values()))
        now = self.vault.clock()
        inserts: list[dict[str, Any]] = []
        context = self.prefetch(conn, parsed)
        for number, row in parsed:
            cid = owners.get((row.source_system, row.customer_source_id))
            if cid is None:
                self.no_customer(summary, rejects, path, number)
                continue
            outcome = self.place(conn, context, number, row, cid, keys[cid], now, inserts)
            if isinstance(outcome, str):
                field_name = outcome.split(":", 1)[0]
                self._reject(summary, rejects, path, number, [field_name], outcome)
            else:
                setattr(summary, outcome[0], getattr(summary, outcome[0]) + 1)
        if inserts:
            conn.execute(sa.insert(self.model), inserts)
        return summary

    model: Any

    def prefetch(self, conn: Connection, parsed: list[Parsed]) -> dict[str, Any]:
        return {}

    def place(
        self,
        conn: Connection,
        context: dict[str, Any],
        number: int,
        row: Any,
        cid: uuid.UUID,
        key: DataKey,
        now: dt.datetime,
        inserts: list[dict[str, Any]],
    ) -> str | tuple[str]:
        """Stage the row; returns ``("imported",)``-like outcome or a reject reason."""
        raise NotImplementedError


class _FingerprintedImporter(_ChildImporter):
    """Rows with no key of their own: a keyed hash of the row is their identity."""

    def prefetch(self, conn: Connection, parsed: list[Parsed]) -> dict[str, Any]:
        prints = {self.fingerprint(r): n for n, r in parsed}
        fingerprint = columns(self.model).fingerprint
        found = conn.execute(sa.select(fingerprint).where(fingerprint.in_(list(prints)))).scalars()
        return {"seen": set(found)}

    def place(
        self,
        conn: Connection,
        context: dict[str, Any],
        number: int,
        row: Any,
        cid: uuid.UUID,
        key: DataKey,
        now: dt.datetime,
        inserts: list[dict[str, Any]],
    ) -> str | tuple[str]:
        digest = self.fingerprint(row)
        if digest in context["seen"]:
            return ("unchanged",)
        context["seen"].add(digest)
        record_id = uuid.uuid4()
        inserts.append(self.record(row, record_id, cid, key, now) | {"fingerprint": digest})
        return ("imported",)

    def record(
        self, row: Any, record_id: uuid.UUID, cid: uuid.UUID, key: DataKey, now: dt.datetime
    ) -> dict[str, Any]:
        raise NotImplementedError


class _InteractionImporter(_FingerprintedImporter):
    kind = "interactions"
    model = Interaction
    parse = staticmethod(rows.parse_interaction)

    def record(
        self, row: Any, record_id: uuid.UUID, cid: uuid.UUID, key: DataKey, now: dt.datetime
    ) -> dict[str, Any]:
        return {
            "id": record_id,
            "customer_id": cid,
            "channel": row.channel,
            "direction": row.direction,
            "occurred_at": row.occurred_at,
            "topic": row.topic,
            "satisfaction": row.satisfaction,
            "source_system": row.source_system,
            "created_at": now,
            **seal_fields(self.table, record_id, key, {"note": row.note}),
        }


class _ConsentImporter(_FingerprintedImporter):
    kind = "consents"
    model = Consent
    parse = staticmethod(rows.parse_consent)

    def record(
        self, row: Any, record_id: uuid.UUID, cid: uuid.UUID, key: DataKey, now: dt.datetime
    ) -> dict[str, Any]:
        return {
            "id": record_id,
            "customer_id": cid,
            "purpose": row.purpose,
            "channel": row.channel,
            "status": row.status,
            "recorded_at": row.recorded_at,
            "source": row.source,
            "source_system": row.source_system,
        }


def _all_digests(
    indexer: blind_index.BlindIndexer, field: str, parsed: list[Parsed], attribute: str
) -> dict[bytes, bytes]:
    """Every digest (under every index key) of each row's number, mapped to its primary one."""
    primary_of: dict[bytes, bytes] = {}
    for _, row in parsed:
        value = getattr(row, attribute)
        primary = indexer.digest(field, value)
        for d in (primary, *indexer.others(field, value)):
            primary_of[d] = primary
    return primary_of


class _NumberedImporter(_ChildImporter):
    """Policies and claims: keyed by a number stored sealed and found by its blind index."""

    number_field: str
    bidx_field: str

    def prefetch(self, conn: Connection, parsed: list[Parsed]) -> dict[str, Any]:
        primary_of = _all_digests(self.vault.indexer, self.number_field, parsed, self.number_field)
        c = columns(self.model)
        column = getattr(c, self.bidx_field)
        found = conn.execute(
            sa.select(column, c.id, c.customer_id, c.content_digest).where(
                column.in_(list(primary_of))
            )
        )
        return {"existing": {primary_of[d]: (i, c, cd) for d, i, c, cd in found}}

    def place(
        self,
        conn: Connection,
        context: dict[str, Any],
        number: int,
        row: Any,
        cid: uuid.UUID,
        key: DataKey,
        now: dt.datetime,
        inserts: list[dict[str, Any]],
    ) -> str | tuple[str]:
        bidx = self.vault.indexer.digest(self.number_field, getattr(row, self.number_field))
        digest = self.fingerprint(row)
        existing = context["existing"].get(bidx)
        if existing is not None:
            record_id, owner, old_digest = existing
            if owner != cid:
                return f"{self.number_field}: already belongs to another customer"
            if old_digest == digest:
                return ("unchanged",)
        else:
            record_id = uuid.uuid4()
        values = self.values(conn, context, row, record_id, cid, key)
        if isinstance(values, str):
            return values
        values.update({self.bidx_field: bidx, "content_digest": digest})
        if existing is not None:
            conn.execute(
                sa.update(self.model).where(columns(self.model).id == record_id).values(**values)
            )
            context["existing"][bidx] = (record_id, cid, digest)
            return ("updated",)
        values.update(id=record_id, customer_id=cid, created_at=now)
        inserts.append(values)
        context["existing"][bidx] = (record_id, cid, digest)
        return ("imported",)

    def values(
        self,
        conn: Connection,
        context: dict[str, Any],
        row: Any,
        record_id: uuid.UUID,
        cid: uuid.UUID,
        key: DataKey,
    ) -> dict[str, Any] | str:
        raise NotImplementedError


class _PolicyImporter(_NumberedImporter):
    kind = "policies"
    model = Policy
    number_field = blind_index.POLICY_NUMBER
    bidx_field = "policy_number_bidx"
    parse = staticmethod(rows.parse_policy)

    def values(
        self,
        conn: Connection,
        context: dict[str, Any],
        row: Any,
        record_id: uuid.UUID,
        cid: uuid.UUID,
        key: DataKey,
    ) -> dict[str, Any] | str:
        return {
            "product_line": row.product_line,
            "status": row.status,
            "start_date": row.start_date,
            "end_date": row.end_date,
            "annual_premium": row.annual_premium,
            "sum_insured": row.sum_insured,
            "sales_channel": row.sales_channel,
            "source_system": row.source_system,
            **seal_fields(self.table, record_id, key, {"policy_number": row.policy_number}),
        }


class _ClaimImporter(_NumberedImporter):
    kind = "claims"
    model = Claim
    number_field = blind_index.CLAIM_NUMBER
    bidx_field = "claim_number_bidx"
    parse = staticmethod(rows.parse_claim)

    def prefetch(self, conn: Connection, parsed: list[Parsed]) -> dict[str, Any]:
        context = super().prefetch(conn, parsed)
        primary_of = _all_digests(
            self.vault.indexer, blind_index.POLICY_NUMBER, parsed, "policy_number"
        )
        policy = columns(Policy)
        found = conn.execute(
            sa.select(policy.policy_number_bidx, policy.id, policy.customer_id).where(
                policy.policy_number_bidx.in_(list(primary_of))
            )
        )
        context["policies"] = {primary_of[d]: (i, c) for d, i, c in found}
        return context

    def values(
        self,
        conn: Connection,
        context: dict[str, Any],
        row: Any,
        record_id: uuid.UUID,
        cid: uuid.UUID,
        key: DataKey,
    ) -> dict[str, Any] | str:
        policy = context["policies"].get(
            self.vault.indexer.digest(blind_index.POLICY_NUMBER, row.policy_number)
        )
        if policy is None or policy[1] != cid:
            return "policy_number: no such policy for this customer"
        sealed = seal_fields(
            self.table,
            record_id,
            key,
            {
                "claim_number": row.claim_number,
                "claim_type": row.claim_type,
                "description": row.description,
            },
        )
        return {
            "policy_id": policy[0],
            "incident_date": row.incident_date,
            "reported_date": row.reported_date,
            "closed_date": row.closed_date,
            "claimed_amount": row.claimed_amount,
            "paid_amount": row.paid_amount,
            "status": row.status,
            "source_system": row.source_system,
            "description_redacted": None,  # the stored redaction of the old text, if any
            **sealed,
        }


_IMPORTERS: dict[str, Callable[[Vault], _FileImporter]] = {
    "customers": _CustomerImporter,
    "policies": _PolicyImporter,
    "claims": _ClaimImporter,
    "interactions": _InteractionImporter,
    "consents": _ConsentImporter,
}


class _Collect:
    """A reject sink that remembers the one rejection of a single-row import."""

    def __init__(self) -> None:
        self.rejected: tuple[list[str], str] | None = None

    def reject(self, source_file: str, row_number: int, fields: Sequence[str], reason: str) -> None:
        self.rejected = (list(fields), reason)


def import_one(
    vault: Vault,
    kind: str,
    raw: Mapping[str, str | None],
    *,
    scope_check: ScopeCheck | None = None,
) -> str:
    """Import one row of ``kind`` (the API's writes), in its own transaction.

    Same validation, sealing, identity resolution and conflict rules as a file
    import.  Returns the outcome (imported, merged, updated, unchanged); a
    rejected row raises ValidationError (bad value) or ConflictError (clash).
    Whatever ``scope_check`` raises propagates, with nothing written.
    """
    importer = _IMPORTERS[kind](vault)
    importer.scope_check = scope_check
    items = importer.prepare([(1, dict(raw))])
    if isinstance(items[0], _Rejected):
        rejected = items[0]
        field_name = rejected.fields[0] if rejected.fields else kind
        reason = rejected.reason.split("; ")[0].split(": ", 1)[-1]
        raise ValidationError(field_name, reason)
    importer.raw_rows = {1: dict(raw)}
    sink = _Collect()
    try:
        with vault.engine.begin() as conn:
            summary = importer.apply(conn, items, Path(f"{kind}.api"), sink)
    except DBIntegrityError:
        raise ConflictError(f"the {kind} row conflicts with data stored concurrently") from None
    if sink.rejected is not None:
        fields, reason = sink.rejected
        if "belongs to another customer" in reason or "conflicts" in reason:
            raise ConflictError(reason)
        raise ValidationError(fields[0] if fields else kind, reason.split(": ", 1)[-1])
    for outcome in ("imported", "merged", "updated", "unchanged"):
        if getattr(summary, outcome):
            return outcome
    raise StorageError("the row was neither stored nor rejected")
