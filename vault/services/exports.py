"""Analytics exports: read and decrypt, derive, count, search for k, generalise, suppress, write.

Two passes over the data, in bounded memory (docs/exports.md):

1. **Read.** Customers are read in pages by id (workers each take a slice of
   the id space, as forked processes like the importer's), their data keys
   unwrapped and only the sealed fields the profile names opened; features are
   derived from the non-personal child columns; pseudonyms, fixed bands and
   custom attributes computed.  Each quasi-identifier value becomes a small
   integer code.  The rows go to an encrypted scratch file
   (:mod:`vault.extracts.spill`); only the codes' counts stay in memory.
2. **Search.** :func:`vault.masking.kanonymity.search` picks the generalisation
   levels and the classes to suppress on the counts alone.
3. **Write.** The scratch rows are read back, their codes turned into labels
   at the chosen levels, suppressed classes dropped, and the rest streamed to
   the data file; then ``manifest.json``; then the staging directory becomes
   ``--out`` (:mod:`vault.extracts.output`).

Nothing personal is logged; the audit event carries the profile, the row
counts and the levels, never a value.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import multiprocessing
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from vault import schema
from vault.audit import Action, AuditEvent, AuditLog, Outcome
from vault.audit.group import GroupCommitLog
from vault.crypto import SecretKey
from vault.envelope import WrappedKey, open_data_key
from vault.errors import ValidationError
from vault.extracts import features as feature_set
from vault.extracts import tallies
from vault.extracts.output import (
    MANIFEST,
    DataWriter,
    Format,
    publish,
    sha256_file,
    staging,
    write_manifest,
)
from vault.extracts.spill import SpillWriter, read_spill
from vault.logs import get_logger
from vault.masking import Pseudonymise
from vault.masking.hierarchies import TOP, Hierarchy
from vault.masking.kanonymity import Counts, Ladder, Solution, node_keys, search, suppressed_classes
from vault.policy import Allowed
from vault.policy.export_profiles import Column, ExportProfile, ExportProfiles, Operator
from vault.progress import NullProgress, Progress
from vault.sealing import open_sealed, record_aad
from vault.services.access import AccessService, Caller
from vault.services.erasure import OPERATOR_ROLE, operator_principal
from vault.services.importing import default_workers
from vault.services.runtime import Vault
from vault.storage.engine import create_vault_engine
from vault.storage.tables import Customer, DataKeyRow, columns

EXPORT_ACTION = "export.create"
PAGE_SIZE = 2000
PARALLEL_MIN_CUSTOMERS = 20_000
"""Below this many customers, forking workers costs more than it saves."""
log = get_logger("vault.export")

_ARROW_KIND: Mapping[schema.Kind, pa.DataType] = {
    schema.Kind.TEXT: pa.string(),
    schema.Kind.DATE: pa.date32(),
    schema.Kind.DATETIME: pa.timestamp("us", tz="UTC"),
    schema.Kind.DECIMAL: pa.float64(),
    schema.Kind.INTEGER: pa.int64(),
}
_ARROW_FEATURE: Mapping[str, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
}


@dataclass(frozen=True)
class ExportRequest:
    """One export: which profile, where, in what format, as of which day, by and for whom."""

    profile: ExportProfile
    out: Path
    fmt: Format = Format.PARQUET
    as_of: dt.date | None = None
    """The day ages, tenures and recency are computed for (default: the vault clock's today)."""
    created_by: str = "cli"
    purpose: str = "analytics"
    workers: int | None = None
    page_size: int = PAGE_SIZE


@dataclass(frozen=True)
class ExportResult:
    out: Path
    data_file: Path
    manifest: dict[str, Any]


# --------------------------------------------------------------------------- the plan


@dataclass
class _Plan:
    """What pass 1 computes per customer, built once (operators checked) before any row."""

    profile: ExportProfile
    as_of: dt.date
    pseudonyms: dict[str, Pseudonymise]
    fixed: dict[str, Hierarchy[Any]]
    quasi: tuple[Column, ...]
    sensitive: str | None
    spill_key: SecretKey
    spill_dir: Path
    page_size: int
    settings_url: str
    in_scope: Callable[[int | None], bool]

    @property
    def sealed(self) -> tuple[schema.Field, ...]:
        return self.profile.sealed_fields

    def spill_schema(self) -> pa.Schema:
        fields: list[pa.Field] = []
        for column in self.profile.columns:
            if column.quasi_identifier:
                fields.append(pa.field(_qi_code(column.name), pa.int32()))
            else:
                fields.append(pa.field(column.name, _column_type(column)))
        for name in self.profile.features:
            fields.append(pa.field(name, _ARROW_FEATURE[feature_set.FEATURES[name].kind]))
        for name in self.profile.custom_attributes:
            fields.append(pa.field(name, pa.string()))
        return pa.schema(fields)


def _qi_code(name: str) -> str:
    return f"__code_{name}"


def _column_type(column: Column) -> pa.DataType:
    if column.operator is not Operator.CLEAR:
        return pa.string()
    return _ARROW_KIND[column.field.kind]


def output_schema(profile: ExportProfile) -> pa.Schema:
    """The data file's columns and types, in profile order."""
    fields = [pa.field(c.name, _column_type(c)) for c in profile.columns]
    fields += [pa.field(n, _ARROW_FEATURE[feature_set.FEATURES[n].kind]) for n in profile.features]
    fields += [pa.field(n, pa.string()) for n in profile.custom_attributes]
    return pa.schema(fields)


# --------------------------------------------------------------------------- pass 1


@dataclass
class _PartResult:
    """What one worker read: its scratch file, its codes' values and their counts."""

    spill: Path
    rows: int
    values: list[list[Any]]
    """Per quasi-identifier, the value of each local code."""
    sensitive_values: list[Any]
    codes: np.ndarray[Any, Any]
    weights: np.ndarray[Any, Any]


class _Coder:
    """Small integer codes for values, in order of first sight."""

    __slots__ = ("codes", "values")

    def __init__(self) -> None:
        self.codes: dict[Any, int] = {}
        self.values: list[Any] = []

    def code(self, value: Any) -> int:
        found = self.codes.get(value)
        if found is None:
            found = self.codes[value] = len(self.values)
            self.values.append(value)
        return found


def _bounds(workers: int) -> list[tuple[uuid.UUID | None, uuid.UUID | None]]:
    """Slices of the UUID space, one per worker (customer ids are uniform random UUIDs)."""
    if workers <= 1:
        return [(None, None)]
    cuts = [uuid.UUID(int=(i * (1 << 128)) // workers) for i in range(1, workers)]
    lows: list[uuid.UUID | None] = [None, *cuts]
    highs: list[uuid.UUID | None] = [*cuts, None]
    return list(zip(lows, highs, strict=True))


def _custom_names(plan: _Plan) -> tuple[str, ...]:
    """The custom attributes a row needs: the profile's, and the l-diversity attribute if custom."""
    names = list(plan.profile.custom_attributes)
    column_names = {column.name for column in plan.profile.columns}
    if plan.sensitive is not None and plan.sensitive not in column_names:
        names.append(plan.sensitive)
    return tuple(dict.fromkeys(names))


def customer_page_query(
    sealed: Sequence[schema.Field],
    plain: Sequence[schema.Field] = (),
    custom: Sequence[str] = (),
) -> sa.Select[tuple[Any, ...]]:
    """Customers with their wrapped data key, in id order: the pass-1 read (and the benchmark's).

    Columns: id, org unit, DEK version, KEK version, wrapped DEK, then the sealed
    fields, the plain fields and the custom attributes (extracted by the
    database, so the JSON document is never parsed in Python), in the order
    given.  The inner join drops a customer erased since the page began: its
    rows go with its key.
    """
    c = columns(Customer)
    k = columns(DataKeyRow)
    return (
        sa.select(
            c.id,
            c.org_unit_id,
            k.version,
            k.kek_version,
            k.wrapped,
            *(c[f.name] for f in sealed),
            *(c[f.name] for f in plain),
            *(c.custom_attributes[name].as_string() for name in custom),
        )
        .join(DataKeyRow, k.subject_id == c.id)
        .order_by(c.id)
    )


def customer_pages(
    conn: sa.Connection,
    query: sa.Select[tuple[Any, ...]],
    low: uuid.UUID | None,
    high: uuid.UUID | None,
    page_size: int,
) -> Iterator[Sequence[Any]]:
    """The rows of :func:`customer_page_query` with ``low <= id < high``, a page at a time."""
    c = columns(Customer)
    if low is not None:
        query = query.where(c.id >= low)
    if high is not None:
        query = query.where(c.id < high)
    last: uuid.UUID | None = None
    while True:
        page = conn.execute(
            (query if last is None else query.where(c.id > last)).limit(page_size)
        ).all()
        if not page:
            return
        yield page
        last = page[-1][0]


def _read_part(
    plan: _Plan,
    conn: sa.Connection,
    provider: Any,
    index: int,
    low: uuid.UUID | None,
    high: uuid.UUID | None,
    advance: Callable[[int], None],
) -> _PartResult:
    """Pass 1 over one slice of customers: decrypt, derive, code, spill, count."""
    profile = plan.profile
    sealed = plan.sealed
    plain = tuple(
        dict.fromkeys(
            col.field
            for col in profile.columns
            if not col.field.encrypted and col.field.name != "id"
        )
    )
    custom_all = _custom_names(plan)
    query = customer_page_query(sealed, plain, custom_all)
    first_sealed = 5
    first_plain = first_sealed + len(sealed)
    first_custom = first_plain + len(plain)
    custom_at = {name: first_custom + i for i, name in enumerate(custom_all)}
    quasi = plan.quasi
    coders = [_Coder() for _ in quasi]
    sensitive = _Coder()
    fixed_cache: dict[str, dict[Any, str | None]] = {name: {} for name in plan.fixed}
    code_chunks: list[np.ndarray[Any, Any]] = []
    spill_path = plan.spill_dir / f"part-{index}.spill"
    writer = SpillWriter(spill_path, plan.spill_key, f"export:part:{index}".encode())
    schema_ = plan.spill_schema()
    feature_names = profile.features
    custom_names = profile.custom_attributes
    as_of = plan.as_of
    try:
        for page in customer_pages(conn, query, low, high, plan.page_size):
            first, last = page[0][0], page[-1][0]
            policies = tallies.policy_tallies(conn, first, last, as_of)
            claims = tallies.claim_tallies(conn, first, last, as_of)
            contacts = tallies.contact_tallies(conn, first, last, as_of)
            out: dict[str, list[Any]] = {name: [] for name in schema_.names}
            sensitive_codes: list[int] = []
            kept = 0
            for row in page:
                cid, org_unit = row[0], row[1]
                if not plan.in_scope(org_unit):
                    continue
                key = open_data_key(provider, WrappedKey(cid, row[2], row[3], row[4]))
                values: dict[str, Any] = {"id": str(cid)}
                record_part = record_aad(cid, key)
                for position, f in enumerate(sealed, start=first_sealed):
                    blob = row[position]
                    values[f.name] = (
                        None
                        if blob is None
                        else open_sealed(f, cid, key, blob, record_part=record_part)
                    )
                for position, f in enumerate(plain, start=first_plain):
                    values[f.name] = row[position]
                labels: dict[str, Any] = {}
                for column in profile.columns:
                    value = values.get(column.field.name)
                    if column.quasi_identifier:
                        continue
                    if column.operator is Operator.PSEUDONYMISE:
                        shown = (
                            None
                            if value is None
                            else plan.pseudonyms[column.name].apply(str(value))
                        )
                    elif column.operator is Operator.GENERALISE:
                        cache = fixed_cache[column.name]
                        if value in cache:
                            shown = cache[value]
                        else:
                            shown = cache[value] = _label(
                                plan.fixed[column.name], value, column.level or 0
                            )
                    else:
                        shown = value
                    out[column.name].append(shown)
                    labels[column.name] = shown
                for q, column in enumerate(quasi):
                    out[_qi_code(column.name)].append(coders[q].code(values.get(column.field.name)))
                derived = feature_set.from_tallies(
                    policies.get(cid, feature_set.NO_POLICIES),
                    claims.get(cid, feature_set.NO_CLAIMS),
                    contacts.get(cid, feature_set.NO_CONTACTS),
                    as_of,
                )
                for name in feature_names:
                    out[name].append(derived[name])
                for name in custom_names:
                    out[name].append(row[custom_at[name]])
                if plan.sensitive is not None:
                    shown = (
                        labels[plan.sensitive]
                        if plan.sensitive in labels
                        else row[custom_at[plan.sensitive]]
                    )
                    sensitive_codes.append(sensitive.code(shown))
                kept += 1
            if kept:
                batch = pa.RecordBatch.from_pydict(out, schema=schema_)
                writer.write(batch)
                stacked = [np.asarray(out[_qi_code(x.name)], dtype=np.int64) for x in quasi]
                if plan.sensitive is not None:
                    stacked.append(np.asarray(sensitive_codes, dtype=np.int64))
                code_chunks.append(np.stack(stacked, axis=1))
            advance(len(page))
    finally:
        writer.close()
    width = len(quasi) + (1 if plan.sensitive is not None else 0)
    if code_chunks:
        unique, weights = np.unique(np.concatenate(code_chunks), axis=0, return_counts=True)
    else:
        unique, weights = np.zeros((0, width), dtype=np.int64), np.zeros(0, dtype=np.int64)
    return _PartResult(
        spill=spill_path,
        rows=writer.rows,
        values=[coder.values for coder in coders],
        sensitive_values=sensitive.values,
        codes=unique.astype(np.int64),
        weights=weights.astype(np.int64),
    )


def _label(hierarchy: Hierarchy[Any], value: Any, level: int) -> str | None:
    """A value's label at a level; a missing or unreadable value is null below the top."""
    if level == hierarchy.top:
        return TOP
    if value is None:
        return None
    try:
        return hierarchy.generalise(value, level)
    except ValidationError:
        return None


_ACTIVE: tuple[_Plan, Vault, Any] | None = None
"""The plan forked workers run (inherited through fork: keys are never pickled)."""


def _read_in_worker(index: int, low: uuid.UUID | None, high: uuid.UUID | None) -> _PartResult:
    if _ACTIVE is None:  # pragma: no cover - only if a worker is started without fork
        raise RuntimeError("no active export in this worker")
    plan, vault, counter = _ACTIVE
    vault.engine.dispose(close=False)  # the parent's pooled connections are not ours
    if vault.read_engine is not None:
        vault.read_engine.dispose(close=False)
    engine = create_vault_engine(plan.settings_url, read_only=True)

    def advance(n: int) -> None:
        with counter.get_lock():
            counter.value += n

    try:
        with engine.connect() as conn:
            return _read_part(plan, conn, vault.provider, index, low, high, advance)
    finally:
        engine.dispose()


def _first_pass(vault: Vault, plan: _Plan, workers: int, progress: Progress) -> list[_PartResult]:
    global _ACTIVE
    if workers <= 1:
        with vault.reader.connect() as conn:
            return [_read_part(plan, conn, vault.provider, 0, None, None, progress.advance)]
    context = multiprocessing.get_context("fork")
    counter = context.Value("q", 0)
    _ACTIVE = (plan, vault, counter)
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures: list[Future[_PartResult]] = [
                pool.submit(_read_in_worker, i, low, high)
                for i, (low, high) in enumerate(_bounds(workers))
            ]
            seen = 0
            pending: set[Future[_PartResult]] = set(futures)
            while pending:
                _, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                done = counter.value
                progress.advance(done - seen)
                seen = done
            return [f.result() for f in futures]
    finally:
        _ACTIVE = None


# --------------------------------------------------------------------------- search


@dataclass
class _Lattice:
    ladders: list[Ladder]
    labels: list[list[list[str | None]]]
    """``[q][level][code]``: the label of a code at a level."""
    level_names: list[tuple[str, ...]]
    remaps: list[list[np.ndarray[Any, Any]]]
    """``[part][q]``: local code to global level-0 code."""
    counts: Counts


def _build_lattice(plan: _Plan, parts: Sequence[_PartResult]) -> _Lattice:
    quasi = plan.quasi
    hierarchies = [column.build_hierarchy(plan.as_of) for column in quasi]
    global_coders = [_Coder() for _ in quasi]
    sensitive = _Coder()
    remaps: list[list[np.ndarray[Any, Any]]] = []
    merged: list[np.ndarray[Any, Any]] = []
    weights: list[np.ndarray[Any, Any]] = []
    for part in parts:
        maps = [
            np.asarray([global_coders[q].code(v) for v in part.values[q]], dtype=np.int64)
            for q in range(len(quasi))
        ]
        remaps.append(maps)
        if not len(part.codes):
            continue
        columns_ = [maps[q][part.codes[:, q]] for q in range(len(quasi))]
        if plan.sensitive is not None:
            smap = np.asarray([sensitive.code(v) for v in part.sensitive_values], dtype=np.int64)
            columns_.append(smap[part.codes[:, len(quasi)]])
        merged.append(np.stack(columns_, axis=1))
        weights.append(part.weights)
    width = len(quasi) + (1 if plan.sensitive is not None else 0)
    if merged:
        table, inverse = np.unique(np.concatenate(merged), axis=0, return_inverse=True)
        summed = np.bincount(inverse.ravel(), weights=np.concatenate(weights)).astype(np.int64)
    else:
        table, summed = np.zeros((0, width), dtype=np.int64), np.zeros(0, dtype=np.int64)
    ladders: list[Ladder] = []
    labels: list[list[list[str | None]]] = []
    for q, (column, hierarchy) in enumerate(zip(quasi, hierarchies, strict=True)):
        values = global_coders[q].values
        steps: list[np.ndarray[Any, Any]] = []
        names: list[list[str | None]] = []
        for level in range(hierarchy.levels):
            coder = _Coder()
            steps.append(
                np.asarray(
                    [coder.code(_label(hierarchy, v, level)) for v in values], dtype=np.int64
                )
            )
            names.append(coder.values)
        ladders.append(Ladder(column.name, tuple(steps), column.min_level))
        labels.append(names)
    counts = Counts(
        codes=table[:, : len(quasi)].astype(np.int64),
        weights=summed,
        sensitive=table[:, len(quasi)].astype(np.int64) if plan.sensitive is not None else None,
    )
    return _Lattice(ladders, labels, [h.level_names for h in hierarchies], remaps, counts)


# --------------------------------------------------------------------------- pass 2


def _second_pass(
    plan: _Plan,
    lattice: _Lattice,
    solution: Solution,
    parts: Sequence[_PartResult],
    writer: DataWriter,
    progress: Progress,
) -> None:
    levels = solution.chosen.levels
    profile = plan.profile
    classes, bad = suppressed_classes(
        lattice.ladders,
        lattice.counts,
        levels,
        k=profile.k,
        l_diversity=profile.l_diversity.l if profile.l_diversity else None,
    )
    label_arrays = [
        pa.array(lattice.labels[q][level], type=pa.string()) for q, level in enumerate(levels)
    ]
    out_schema = output_schema(profile)
    for p, part in enumerate(parts):
        context = f"export:part:{p}".encode()
        for batch in read_spill(part.spill, plan.spill_key, context):
            codes = np.stack(
                [
                    lattice.remaps[p][q][
                        batch.column(_qi_code(column.name)).to_numpy(zero_copy_only=False)
                    ]
                    for q, column in enumerate(plan.quasi)
                ],
                axis=1,
            )
            keys = node_keys(lattice.ladders, codes, levels)
            keep = ~bad[np.searchsorted(classes, keys)]
            arrays: list[pa.Array] = []
            for field in out_schema:
                column_ = next((c for c in profile.columns if c.name == field.name), None)
                if column_ is not None and column_.quasi_identifier:
                    q = plan.quasi.index(column_)
                    at_level = lattice.ladders[q].steps[levels[q]][codes[:, q]]
                    arrays.append(label_arrays[q].take(pa.array(at_level)))
                else:
                    arrays.append(batch.column(field.name))
            shaped = pa.RecordBatch.from_arrays(arrays, schema=out_schema)
            writer.write(shaped.filter(pa.array(keep)))
            progress.advance(batch.num_rows)


# --------------------------------------------------------------------------- the use case


def _count_customers(vault: Vault) -> int:
    with vault.reader.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(Customer)).scalar_one())


def run_export(
    vault: Vault,
    request: ExportRequest,
    *,
    decision: Allowed | None = None,
    progress: Progress | None = None,
    before_publish: Callable[[ExportResult], None] | None = None,
) -> ExportResult:
    """Write a k-anonymous extract of ``request.profile`` into ``request.out``.

    ``decision`` is the policy's answer for an API principal (its scope filters
    customers); ``None`` for an operator at the command line, who holds the keyring.
    ``before_publish`` sees the finished result while it is still staged: the
    audit event is written there, so no extract appears without one (if it
    raises, nothing is published).
    """
    progress = progress or NullProgress()
    profile = request.profile
    if decision is not None and (not decision.genuine or decision.action != EXPORT_ACTION):
        raise TypeError("an export needs a genuine export.create decision")
    as_of = request.as_of or vault.clock().date()
    started = time.monotonic()
    total = _count_customers(vault)
    workers = request.workers if request.workers is not None else default_workers()
    if request.workers is None and total < PARALLEL_MIN_CUSTOMERS:
        workers = 1
    pseudonym_key = vault.current_keyring().pseudonym_key.reveal()
    with staging(request.out) as stage:
        spill_dir = stage / "scratch"
        spill_dir.mkdir(mode=0o700)
        plan = _Plan(
            profile=profile,
            as_of=as_of,
            pseudonyms={
                c.name: Pseudonymise(
                    pseudonym_key, scope=profile.recipient, domain=c.field.qualified_name
                )
                for c in profile.columns
                if c.operator is Operator.PSEUDONYMISE
            },
            fixed={
                c.name: c.build_hierarchy(as_of)
                for c in profile.columns
                if c.operator is Operator.GENERALISE and not c.quasi_identifier
            },
            quasi=profile.quasi_identifiers,
            sensitive=profile.l_diversity.attribute if profile.l_diversity else None,
            spill_key=SecretKey.generate(),
            spill_dir=spill_dir,
            page_size=request.page_size,
            settings_url=vault.settings.database_url,
            in_scope=decision.covers if decision is not None else _everyone,
        )
        progress.start(f"export {profile.name}: reading", total)
        try:
            parts = _first_pass(vault, plan, workers, progress)
        finally:
            progress.finish()
        population = sum(p.rows for p in parts)
        lattice = _build_lattice(plan, parts)
        solution = search(
            lattice.ladders,
            lattice.counts,
            k=profile.k,
            max_suppression=profile.max_suppression,
            l_diversity=profile.l_diversity.l if profile.l_diversity else None,
        )
        data_path = stage / request.fmt.file_name
        writer = DataWriter(data_path, output_schema(profile), request.fmt)
        progress.start(f"export {profile.name}: writing", population)
        try:
            _second_pass(plan, lattice, solution, parts, writer, progress)
        finally:
            writer.close()
            progress.finish()
        manifest = _manifest(request, as_of, lattice, solution, population, writer, vault)
        manifest["sha256"] = sha256_file(data_path)
        write_manifest(stage / MANIFEST, manifest)
        result = ExportResult(request.out, request.out / request.fmt.file_name, manifest)
        if before_publish is not None:
            before_publish(result)
        publish(stage, request.out, keep=(request.fmt.file_name, MANIFEST))
    log.info(
        "export.done",
        profile=profile.name,
        rows=writer.rows,
        suppressed=solution.chosen.suppressed,
        workers=workers,
        seconds=round(time.monotonic() - started, 3),
    )
    return result


def _everyone(_org_unit: int | None) -> bool:
    return True


def _manifest(
    request: ExportRequest,
    as_of: dt.date,
    lattice: _Lattice,
    solution: Solution,
    population: int,
    writer: DataWriter,
    vault: Vault,
) -> dict[str, Any]:
    profile = request.profile
    chosen = solution.chosen
    levels = {
        ladder.column: {
            "hierarchy": column.hierarchy,
            "level": level,
            "level_name": lattice.level_names[q][level],
            "levels": ladder.levels,
        }
        for q, (ladder, column, level) in enumerate(
            zip(lattice.ladders, profile.quasi_identifiers, chosen.levels, strict=True)
        )
    }
    notes: list[str] = []
    if solution.limit_binding:
        unconstrained = solution.unconstrained
        notes.append(
            f"suppressing at most {profile.max_suppression:.1%} of rows could not reach k at "
            f"the least-loss levels (which would suppress {unconstrained.suppressed} rows): "
            "generalised further instead"
        )
    l_div = None
    if profile.l_diversity is not None:
        l_div = {
            "attribute": profile.l_diversity.attribute,
            "l": profile.l_diversity.l,
            "l_achieved": chosen.l_achieved,
        }
    return {
        "format_version": 1,
        "profile": profile.name,
        "description": profile.description,
        "format": request.fmt.value,
        "data_file": request.fmt.file_name,
        "rows": writer.rows,
        "population": population,
        "suppressed_rows": chosen.suppressed,
        "max_suppression": profile.max_suppression,
        "suppression_limit_binding": solution.limit_binding,
        "k": profile.k,
        "k_achieved": chosen.k_achieved,
        "l_diversity": l_div,
        "quasi_identifiers": [c.name for c in profile.quasi_identifiers],
        "generalisation": levels,
        "information_loss": round(chosen.loss, 6),
        "lattice_nodes_evaluated": solution.nodes_evaluated,
        "columns": list(profile.column_names),
        "features": list(profile.features),
        "recipient": profile.recipient,
        "purpose": request.purpose,
        "created_by": request.created_by,
        "created_at": vault.clock().isoformat(),
        "as_of": as_of.isoformat(),
        "notes": notes,
    }


def audit_summary(result: ExportResult) -> dict[str, int | str | bool]:
    """What the audit event records of an export: counts, names and levels, never a value."""
    m = result.manifest
    levels = ",".join(f"{c}:{v['level']}" for c, v in m["generalisation"].items())
    return {
        "profile": m["profile"],
        "format": m["format"],
        "rows": m["rows"],
        "suppressed_rows": m["suppressed_rows"],
        "k": m["k"],
        "k_achieved": m["k_achieved"],
        "levels": levels,
    }


# --------------------------------------------------------------------------- operators


def export_as_operator(
    vault: Vault,
    audit: AuditLog | GroupCommitLog,
    request: ExportRequest,
    progress: Progress | None = None,
) -> ExportResult:
    """``customer-vault export``: audited intent, the export, audited result (with row counts).

    The result event is written before the extract is published; a failure
    after the intent is recorded as ``failed`` (and nothing is published).
    """
    principal = operator_principal()
    profile = request.profile
    request = dataclasses.replace(request, created_by=principal, purpose=profile.purpose)
    request_id = f"cli-{uuid.uuid4().hex}"

    def event(outcome: Outcome, **detail: int | str | bool) -> AuditEvent:
        return AuditEvent(
            principal=principal,
            role=OPERATOR_ROLE,
            purpose=profile.purpose,
            action=Action.EXPORT,
            outcome=outcome,
            request_id=request_id,
            detail={"policy_action": EXPORT_ACTION, "via": "cli", **detail},
        )

    audit.append(event(Outcome.ALLOWED, stage="intent", profile=profile.name))
    recorded = False

    def record(result: ExportResult) -> None:
        nonlocal recorded
        audit.append(event(Outcome.ALLOWED, stage="result", **audit_summary(result)))
        recorded = True

    try:
        return run_export(vault, request, progress=progress, before_publish=record)
    except Exception:
        stage = "publish" if recorded else "result"  # after the result event: publishing failed
        with contextlib.suppress(Exception):
            audit.append(event(Outcome.FAILED, stage=stage, profile=profile.name))
        raise


# --------------------------------------------------------------------------- API principals


def export_as_principal(
    access: AccessService,
    caller: Caller,
    profiles: ExportProfiles,
    *,
    profile_name: str,
    fmt: Format,
    exports_dir: Path,
    as_of: dt.date | None = None,
) -> tuple[str, ExportResult]:
    """``POST /v1/exports``: decided, then audited (intent, result with row counts), then run.

    The policy must allow ``export.create`` for the caller's purpose, and the
    profile must be made for that purpose (a profile for another purpose is
    refused and audited like any denial).  The extract goes to a new
    directory under ``exports_dir`` named by the returned export id, which is
    the request id of the audit events.  Readers run in this process: forking
    a threaded server is not safe.
    """
    decision = access.check(caller, EXPORT_ACTION)
    profile = profiles.get(profile_name)
    if caller.purpose != profile.purpose:
        access.deny(
            caller, EXPORT_ACTION, f"profile {profile.name} is for purpose {profile.purpose}"
        )
    export_id = _export_id(caller.request_id)
    exports_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    request = ExportRequest(
        profile=profile,
        out=exports_dir / export_id,
        fmt=fmt,
        as_of=as_of,
        created_by=caller.principal.name,
        purpose=profile.purpose,
        workers=1,
    )
    intent = {"stage": "intent", "profile": profile.name}
    access.record(caller, EXPORT_ACTION, detail=intent)
    recorded = False

    def record(result: ExportResult) -> None:
        nonlocal recorded
        detail = {"stage": "result", **audit_summary(result)}
        access.record(caller, EXPORT_ACTION, detail=detail)
        recorded = True

    try:
        result = run_export(access.vault, request, decision=decision, before_publish=record)
    except Exception:
        stage = "publish" if recorded else "result"
        with contextlib.suppress(Exception):
            access.record_failed(
                caller, EXPORT_ACTION, detail={"stage": stage, "profile": profile.name}
            )
        raise
    return export_id, result


_EXPORT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def _export_id(request_id: str) -> str:
    """The request id (server-made) as a directory name; refused if it could not be one."""
    if not _EXPORT_ID.fullmatch(request_id):
        raise ValidationError("request_id", "cannot name an export directory")
    return request_id
