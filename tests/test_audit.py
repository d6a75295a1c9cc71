"""The audit log: append, fail closed, no PII, chain and signed checkpoints, verify, query.

Every tampering case is done with raw SQL on the real database (SQLite and
PostgreSQL), the way someone with write access to it would, and must be reported
with the right sequence number and kind of break.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from vault.audit import (
    GENESIS,
    Action,
    AuditEvent,
    AuditLog,
    BreakKind,
    Checkpoint,
    EventBody,
    EventQuery,
    Outcome,
    VerificationReport,
    access_report,
    event_hash,
    key_id,
    latest_checkpoint,
    list_events,
    public_keys_from_keyring,
    sign_checkpoint,
    signer_from_keyring,
    verify_checkpoint_signature,
    verify_exported_checkpoint,
    verify_log,
)
from vault.audit.records import body_from_row, checkpoints_table, customers_table, events_table
from vault.crypto import SecretKey, Signer
from vault.errors import AuditUnavailable, IntegrityError, ValidationError
from vault.keyring import Keyring, KeyVersion, create_keyring
from vault.storage.audit_tables import AUDIT_TABLES
from vault.storage.engine import create_vault_engine

ALICE = uuid.UUID("0b7e7c1e-55d1-4f7c-9c64-0d6a1f1f0a01")
BOB = uuid.UUID("5f0c3a52-8f0e-4a1e-bb7c-7f2d1c9e0b02")
CAROL = uuid.UUID("9a4d2e61-3b5c-4d7e-8f90-a1b2c3d4e503")
START = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC)


# --------------------------------------------------------------------------- fixtures


class Ticker:
    """A clock that moves one minute per reading: distinct, predictable event times."""

    def __init__(self, start: dt.datetime = START, step: dt.timedelta = dt.timedelta(minutes=1)):
        self._now = start
        self._step = step
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            now = self._now
            self._now += self._step
            return now


def _clear_audit_tables(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            names = ", ".join(f'"{t}"' for t in AUDIT_TABLES)
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The test's migrated database; the audit tables start and end empty."""
    engine = create_vault_engine(database_url)
    _clear_audit_tables(engine)
    yield engine
    _clear_audit_tables(engine)
    engine.dispose()


@pytest.fixture
def signer() -> Signer:
    return Signer(SecretKey.generate())


@pytest.fixture
def log(engine: Engine, signer: Signer) -> AuditLog:
    return AuditLog(engine, signer, clock=Ticker(), checkpoint_every=10)


def event(**overrides: Any) -> AuditEvent:
    values: dict[str, Any] = {
        "principal": "emp-0042",
        "role": "claims_handler",
        "org_unit": "SH-CLAIMS",
        "purpose": "claims_handling",
        "action": Action.READ,
        "outcome": Outcome.ALLOWED,
        "request_id": str(uuid.uuid4()),
        "customer_ids": (ALICE,),
        "fields_in_clear": ("customers.full_name", "customers.mobile"),
    }
    values.update(overrides)
    return AuditEvent(**values)


def fill(log: AuditLog, count: int) -> None:
    for i in range(count):
        customer = (ALICE, BOB, CAROL)[i % 3]
        log.append(event(customer_ids=(customer,), request_id=f"req-{i:04d}"))


def raw(engine: Engine, sql: str, **params: Any) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def stored_rows(engine: Engine) -> list[dict[str, Any]]:
    events = events_table()
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(events).order_by(events.c.seq)).mappings()]


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def shift_seqs(engine: Engine, first: int, by: int) -> None:
    """Renumber events ``first..`` by ``by`` (in two steps: seq is a primary key)."""
    raw(engine, "UPDATE audit_events SET seq = seq + 1000000 WHERE seq >= :f", f=first)
    raw(engine, "UPDATE audit_events SET seq = seq - 1000000 + :by WHERE seq >= 1000000", by=by)


def only_break(report: VerificationReport) -> tuple[int, BreakKind]:
    assert len(report.breaks) == 1, report.breaks
    return report.breaks[0].seq, report.breaks[0].kind


# --------------------------------------------------------------------------- appending


def test_appended_events_get_gapless_seqs_from_one_and_the_chain_verifies(
    log: AuditLog, engine: Engine
) -> None:
    fill(log, 25)
    rows = stored_rows(engine)
    assert [r["seq"] for r in rows] == list(range(1, 26))
    assert rows[0]["previous_hash"] == GENESIS == bytes(32)
    assert all(b["previous_hash"] == a["event_hash"] for a, b in itertools.pairwise(rows))
    report = verify_log(engine, [log.public_key], chunk_size=7)
    assert report.ok, report.breaks
    assert (report.head_seq, report.head_hash) == (25, rows[-1]["event_hash"])
    assert report.events_checked == 25
    assert report.checkpoints_checked == 2  # automatic, at 10 and 20


def test_append_returns_the_recorded_event_only_once_it_is_committed(
    log: AuditLog, database_url: str
) -> None:
    recorded = log.append(event(customer_ids=(BOB, ALICE, BOB)))
    other = create_vault_engine(database_url)  # another connection pool sees it at once
    try:
        page = list_events(other)
        row = stored_rows(other)[0]
    finally:
        other.dispose()
    assert page.events == (recorded,)
    assert recorded.seq == 1
    assert recorded.customer_ids == (ALICE, BOB)  # de-duplicated, canonical order
    assert recorded.fields_in_clear == ("customers.full_name", "customers.mobile")
    assert recorded.event_hash == event_hash(1, GENESIS, body_from_row(row))


def test_event_times_are_utc_whatever_zone_the_clock_reports(
    engine: Engine, signer: Signer
) -> None:
    beijing = dt.timezone(dt.timedelta(hours=8))
    moment = dt.datetime(2026, 11, 22, 17, 30, 15, 123456, tzinfo=beijing)
    log = AuditLog(engine, signer, clock=lambda: moment)
    recorded = log.append(event())
    stored = list_events(engine).events[0]
    assert stored.occurred_at == recorded.occurred_at == moment
    assert stored.occurred_at.utcoffset() == dt.timedelta(0)
    assert stored.occurred_at.hour == 9
    assert stored.occurred_at.microsecond == 123456


def test_a_search_is_recorded_as_one_event_per_customer_returned_in_one_transaction(
    log: AuditLog, engine: Engine
) -> None:
    hits = [ALICE, BOB, CAROL]
    recorded = log.append_all(
        [
            event(action=Action.SEARCH, customer_ids=(c,), fields_in_clear=(), request_id="r-1")
            for c in hits
        ]
    )
    assert [e.seq for e in recorded] == [1, 2, 3]
    assert {e.occurred_at for e in recorded} == {recorded[0].occurred_at}
    for customer in hits:
        assert [e.seq for e in access_report(engine, customer).entries] == [
            1 + hits.index(customer)
        ]
    assert verify_log(engine, [log.public_key]).ok


def test_a_checkpoint_is_signed_automatically_every_n_events_in_the_same_transaction(
    engine: Engine, signer: Signer
) -> None:
    log = AuditLog(engine, signer, clock=Ticker(), checkpoint_every=4)
    fill(log, 9)
    log.append_all([event(), event(), event()])  # 10..12 crosses 12
    with engine.connect() as conn:
        seqs = conn.execute(sa.text("SELECT seq FROM audit_checkpoints ORDER BY seq")).scalars()
        assert list(seqs) == [4, 8, 12]
    checkpoint = latest_checkpoint(engine)
    assert checkpoint is not None
    assert checkpoint.seq == 12
    assert checkpoint.key_id == key_id(signer.public_key())
    assert checkpoint.chain_hash == stored_rows(engine)[-1]["event_hash"]
    assert verify_checkpoint_signature(checkpoint, signer.public_key())


def test_an_empty_log_verifies_and_can_be_checkpointed(log: AuditLog, engine: Engine) -> None:
    checkpoint = log.checkpoint()
    assert (checkpoint.seq, checkpoint.chain_hash) == (0, GENESIS)
    assert verify_log(engine, [log.public_key]).ok
    assert verify_exported_checkpoint(engine, checkpoint.to_json(), [log.public_key]).ok


def test_chain_hash_known_answer() -> None:
    """Pins the canonical encoding: a change to it must be a new format version."""
    body = EventBody(
        occurred_at=dt.datetime(2026, 11, 22, 9, 0, 0, 1, tzinfo=dt.UTC),
        principal="emp-0042",
        role="claims_handler",
        org_unit=None,
        purpose="claims_handling",
        action="read",
        outcome="allowed",
        request_id="req-1",
        customer_ids=(str(ALICE),),
        fields_in_clear=("customers.mobile",),
        reason=None,
        detail=(("flag", True), ("result_count", 1), ("search_field", "mobile")),
    )
    assert event_hash(1, GENESIS, body).hex() == KNOWN_HASH


KNOWN_HASH = "c588db5ed79c54666f69a3642a6726b44a4a5e4f76baf5da0ca5cf3d1eefabf5"

_texts = st.text(max_size=6)
_bodies = st.builds(
    EventBody,
    occurred_at=st.datetimes(timezones=st.just(dt.UTC)),
    principal=_texts,
    role=_texts,
    org_unit=st.none() | _texts,
    purpose=_texts,
    action=_texts,
    outcome=_texts,
    request_id=_texts,
    customer_ids=st.lists(_texts, max_size=3).map(tuple),
    fields_in_clear=st.lists(_texts, max_size=3).map(tuple),
    reason=st.none() | _texts,
    detail=st.dictionaries(
        st.text(max_size=3), st.text(max_size=3) | st.integers() | st.booleans(), max_size=3
    ).map(lambda d: tuple(sorted(d.items()))),
)


@given(a=_bodies, b=_bodies)
def test_the_canonical_encoding_is_unambiguous(a: EventBody, b: EventBody) -> None:
    """Two bodies encode alike exactly when they are the same (True and 1 are not)."""
    assert (a.encode() == b.encode()) == (repr(a) == repr(b))


@given(body=_bodies, seq=st.integers(1, 2**40), other=st.integers(1, 2**40))
def test_the_hash_commits_to_the_seq_and_the_previous_hash(
    body: EventBody, seq: int, other: int
) -> None:
    digest = event_hash(seq, GENESIS, body)
    assert (event_hash(other, GENESIS, body) == digest) == (other == seq)
    assert event_hash(seq, b"\x01" * 32, body) != digest


# --------------------------------------------------------------------------- fail closed


@pytest.fixture
def refusing_trigger(engine: Engine) -> Iterator[Any]:
    """Install a real trigger that makes the database refuse inserts into a table."""
    installed: list[str] = []

    def install(table: str, when_seq: int | None = None) -> None:
        name = f"refuse_{table}"
        if engine.dialect.name == "sqlite":
            when = f"WHEN NEW.seq = {when_seq}" if when_seq else ""
            raw(
                engine,
                f"CREATE TRIGGER {name} BEFORE INSERT ON {table} {when} "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END",
            )
        else:
            when = f"WHEN (NEW.seq = {when_seq})" if when_seq else ""
            raw(
                engine,
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused'; END $$",
            )
            raw(
                engine,
                f"CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW {when} "
                f"EXECUTE FUNCTION {name}()",
            )
        installed.append(table)

    yield install
    for table in installed:
        if engine.dialect.name == "sqlite":
            raw(engine, f"DROP TRIGGER IF EXISTS refuse_{table}")
        else:
            raw(engine, f"DROP TRIGGER IF EXISTS refuse_{table} ON {table}")
            raw(engine, f"DROP FUNCTION IF EXISTS refuse_{table}()")


def test_append_fails_closed_when_the_database_refuses_the_event(
    log: AuditLog, engine: Engine, refusing_trigger: Any
) -> None:
    fill(log, 2)
    refusing_trigger("audit_events")
    with pytest.raises(AuditUnavailable) as caught:
        log.append(event(principal="emp-secret-7", customer_ids=(BOB,)))
    message = str(caught.value)
    assert "emp-secret-7" not in message
    assert str(BOB) not in message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    assert count(engine, "audit_events") == 2
    assert count(engine, "audit_event_customers") == 2


def test_nothing_is_half_written_when_the_customer_index_insert_fails(
    log: AuditLog, engine: Engine, refusing_trigger: Any
) -> None:
    refusing_trigger("audit_event_customers")
    with pytest.raises(AuditUnavailable):
        log.append(event())
    assert count(engine, "audit_events") == 0
    log.append(event(customer_ids=()))  # an event without customers still goes through
    assert verify_log(engine, [log.public_key]).ok


def test_an_event_is_not_written_when_its_checkpoint_cannot_be(
    engine: Engine, signer: Signer, refusing_trigger: Any
) -> None:
    log = AuditLog(engine, signer, clock=Ticker(), checkpoint_every=3)
    fill(log, 2)
    refusing_trigger("audit_checkpoints")
    with pytest.raises(AuditUnavailable):
        log.append(event())
    assert count(engine, "audit_events") == 2


def test_a_batch_is_written_whole_or_not_at_all(
    log: AuditLog, engine: Engine, refusing_trigger: Any
) -> None:
    refusing_trigger("audit_events", when_seq=3)
    with pytest.raises(AuditUnavailable):
        log.append_all([event(customer_ids=(c,)) for c in (ALICE, BOB, CAROL)])
    assert count(engine, "audit_events") == 0
    assert count(engine, "audit_event_customers") == 0


def test_append_fails_closed_when_the_audit_table_is_gone(log: AuditLog, engine: Engine) -> None:
    fill(log, 1)
    raw(engine, "ALTER TABLE audit_event_customers RENAME TO audit_event_customers_away")
    try:
        with pytest.raises(AuditUnavailable):
            log.append(event())
    finally:
        raw(engine, "ALTER TABLE audit_event_customers_away RENAME TO audit_event_customers")
    assert count(engine, "audit_events") == 1


def test_append_fails_closed_when_the_database_is_unreachable(signer: Signer) -> None:
    engine = create_vault_engine("postgresql://postgres@127.0.0.1:1/nowhere")
    try:
        with pytest.raises(AuditUnavailable):
            AuditLog(engine, signer).append(event())
    finally:
        engine.dispose()


def test_append_fails_closed_when_the_schema_was_never_migrated(
    tmp_path: Any, signer: Signer
) -> None:
    engine = create_vault_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with pytest.raises(AuditUnavailable):
            AuditLog(engine, signer).append(event())
    finally:
        engine.dispose()


def test_a_clock_without_a_timezone_fails_closed(engine: Engine, signer: Signer) -> None:
    log = AuditLog(engine, signer, clock=lambda: dt.datetime(2026, 11, 22, 9, 0))
    with pytest.raises(AuditUnavailable):
        log.append(event())
    assert count(engine, "audit_events") == 0


# --------------------------------------------------------------------------- no PII in events


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("principal", "13812345678"),
        ("principal", "zhang.wei@example.com"),
        ("principal", "张伟"),
        ("request_id", "11010519491231002X"),
        ("request_id", "req 1"),
        ("org_unit", "138-1234-5678"),
        ("purpose", ""),
        ("role", "r" * 65),
        ("reason", "caller asked about 13812345678"),
        ("reason", "mobile 138 1234 5678 does not match"),
        ("reason", "customer 张伟 is outside your org unit"),
        ("reason", "sent to zhang.wei@example.com"),
        ("reason", "passport E12345678 expired"),
        ("detail", {"note": "call 021-12345678"}),
        ("detail", {"mobile": "withheld"}),
        ("detail", {"Bad Key": 1}),
        ("detail", {"ratio": 0.5}),
        ("fields_in_clear", ("13812345678",)),
        ("fields_in_clear", ("mobile",)),
        ("fields_in_clear", ("customers.mobile_number",)),
        ("fields_in_clear", "customers.mobile"),
        ("customer_ids", ("0b7e7c1e-55d1-4f7c-9c64-0d6a1f1f0a01",)),
        ("action", "peek"),
        ("outcome", "maybe"),
    ],
)
def test_events_refuse_values_that_are_not_ids_or_field_names(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        event(**{field: value})
    assert caught.value.field.split(".")[0] == field
    for text in value.values() if isinstance(value, dict) else [value]:
        if isinstance(text, str) and len(text) > 3:
            assert text not in str(caught.value)  # the error never echoes the value


def test_identifiers_that_merely_contain_digits_are_accepted() -> None:
    accepted = event(
        principal=str(uuid.uuid4()),
        request_id="01JD3M8Z8Q4K7W2X5Y6V9T0S1R",  # a ULID
        org_unit="E1234567",
        reason=f"customer {BOB} is outside org unit SH-01 (rule 7)",
        detail={"search_field": "mobile", "result_count": 3, "masked": True},
    )
    assert accepted.detail == {"masked": True, "result_count": 3, "search_field": "mobile"}


def test_stored_events_hold_only_ids_and_field_names(log: AuditLog, engine: Engine) -> None:
    log.append(event(detail={"search_field": "mobile"}, reason="ok"))
    row = stored_rows(engine)[0]
    assert row["customer_ids"] == [str(ALICE)]
    assert row["fields_in_clear"] == ["customers.full_name", "customers.mobile"]
    assert row["detail"] == {"search_field": "mobile"}


# --------------------------------------------------------------------------- checkpoints


def test_exported_checkpoint_verifies_with_the_public_key_alone(log: AuditLog) -> None:
    fill(log, 3)
    document = log.checkpoint().to_json()
    parsed = json.loads(document)
    assert set(parsed) == {
        "format", "seq", "hash", "signed_at", "key_id", "public_key", "signature"
    }  # fmt: skip
    assert parsed["seq"] == 3
    assert parsed["key_id"] == key_id(log.public_key)
    assert len(parsed["key_id"]) == 16
    assert verify_checkpoint_signature(Checkpoint.from_json(document), log.public_key)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seq", 2),
        ("hash", "ab" * 32),
        ("signed_at", "2030-01-01T00:00:00.000000Z"),
        ("signature", "A" * 86 + "=="),
    ],
)
def test_an_altered_exported_checkpoint_is_rejected(
    log: AuditLog, engine: Engine, field: str, value: Any
) -> None:
    fill(log, 3)
    document = json.loads(log.checkpoint().to_json())
    document[field] = value
    altered = json.dumps(document)
    assert not verify_checkpoint_signature(Checkpoint.from_json(altered), log.public_key)
    report = verify_exported_checkpoint(engine, altered, [log.public_key])
    assert BreakKind.BAD_SIGNATURE in {b.kind for b in report.breaks}


def test_a_forged_checkpoint_under_another_key_is_rejected(log: AuditLog, engine: Engine) -> None:
    fill(log, 3)
    rows = stored_rows(engine)
    forger = Signer(SecretKey.generate())
    forged = sign_checkpoint(forger, 3, rows[-1]["event_hash"], START)
    assert not verify_checkpoint_signature(forged, log.public_key)
    report = verify_exported_checkpoint(engine, forged.to_json(), [log.public_key])
    assert only_break(report) == (3, BreakKind.UNTRUSTED_KEY)
    # Claiming the trusted key's id and public key does not help without its private key.
    document = json.loads(forged.to_json())
    document["key_id"] = key_id(log.public_key)
    impostor = json.dumps(document)
    assert only_break(verify_exported_checkpoint(engine, impostor, [log.public_key])) == (
        3,
        BreakKind.BAD_SIGNATURE,
    )


@pytest.mark.parametrize(
    "document",
    ["not json", "[]", '{"format": "other"}', '{"format": "cdv-audit-checkpoint/1", "seq": -1}'],
)
def test_a_malformed_checkpoint_document_is_refused(engine: Engine, document: str) -> None:
    with pytest.raises(ValidationError):
        verify_exported_checkpoint(engine, document, [])


def test_checkpoints_from_every_audit_key_version_verify_across_a_rotation(
    engine: Engine, tmp_path: Any
) -> None:
    keyring = create_keyring(tmp_path / "keys.toml")
    AuditLog(engine, signer_from_keyring(keyring), clock=Ticker()).checkpoint()
    rotated = _with_new_audit_version(keyring)
    log = AuditLog(engine, signer_from_keyring(rotated), clock=Ticker(), checkpoint_every=2)
    fill(log, 2)
    trusted = public_keys_from_keyring(rotated)
    assert len(trusted) == 2
    assert verify_log(engine, trusted).ok
    newest_only = verify_log(engine, [log.public_key])
    assert only_break(newest_only) == (0, BreakKind.UNTRUSTED_KEY)


def _with_new_audit_version(keyring: Keyring) -> Keyring:
    family = keyring.families["audit"]
    version = KeyVersion(version=2, key=SecretKey.generate(), created_at=START)
    audit = dataclasses.replace(family, primary=2, versions={**family.versions, 2: version})
    return dataclasses.replace(keyring, families={**keyring.families, "audit": audit})


# --------------------------------------------------------------------------- tampering


@pytest.mark.parametrize("chunk_size", [3, 1000])
def test_a_modified_field_is_reported_at_its_seq(
    log: AuditLog, engine: Engine, chunk_size: int
) -> None:
    fill(log, 12)
    raw(engine, "UPDATE audit_events SET purpose = 'marketing' WHERE seq = 7")
    report = verify_log(engine, [log.public_key], chunk_size=chunk_size)
    assert only_break(report) == (7, BreakKind.MODIFIED)


def test_a_modified_time_is_reported_as_modified(log: AuditLog, engine: Engine) -> None:
    fill(log, 5)
    rows = stored_rows(engine)
    events = events_table()
    with engine.begin() as conn:
        conn.execute(
            sa.update(events)
            .where(events.c.seq == 2)
            .values(occurred_at=rows[1]["occurred_at"] + dt.timedelta(microseconds=1))
        )
    assert only_break(verify_log(engine, [log.public_key])) == (2, BreakKind.MODIFIED)


@pytest.mark.parametrize("chunk_size", [3, 1000])
def test_a_deleted_event_is_reported_as_missing(
    log: AuditLog, engine: Engine, chunk_size: int
) -> None:
    fill(log, 12)
    raw(engine, "DELETE FROM audit_events WHERE seq IN (6, 7)")
    report = verify_log(engine, [log.public_key], chunk_size=chunk_size)
    assert only_break(report) == (6, BreakKind.MISSING)
    assert "6..7" in report.breaks[0].detail


def test_a_deletion_hidden_by_renumbering_is_reported_where_it_happened(
    log: AuditLog, engine: Engine
) -> None:
    fill(log, 9)  # no checkpoint yet: the renumbered tail is all the verifier has
    raw(engine, "DELETE FROM audit_events WHERE seq = 4")
    shift_seqs(engine, 5, -1)
    assert only_break(verify_log(engine, [log.public_key])) == (4, BreakKind.REORDERED)


@pytest.mark.parametrize("chunk_size", [2, 1000])
def test_a_forged_event_slipped_into_the_chain_is_reported_as_inserted(
    log: AuditLog, engine: Engine, chunk_size: int
) -> None:
    fill(log, 9)
    rows = stored_rows(engine)
    shift_seqs(engine, 5, +1)
    forged_body = body_from_row(rows[4])
    forged_body = EventBody(**{**_fields(forged_body), "principal": "emp-0666"})
    previous = rows[3]["event_hash"]
    forged = {
        **rows[4],
        "seq": 5,
        "principal": "emp-0666",
        "previous_hash": previous,
        "event_hash": event_hash(5, previous, forged_body),
    }
    with engine.begin() as conn:
        conn.execute(sa.insert(events_table()), [forged])
        conn.execute(sa.insert(customers_table()), [{"seq": 5, "customer_id": _uuid(rows[4])}])
    report = verify_log(engine, [log.public_key], chunk_size=chunk_size)
    assert only_break(report) == (5, BreakKind.INSERTED)


@pytest.mark.parametrize(("first", "second", "chunk_size"), [(5, 6, 1000), (5, 6, 5), (3, 8, 2)])
def test_swapped_events_are_reported_as_reordered(
    log: AuditLog, engine: Engine, first: int, second: int, chunk_size: int
) -> None:
    fill(log, 9)
    raw(engine, "UPDATE audit_events SET seq = -1 WHERE seq = :a", a=first)
    raw(engine, "UPDATE audit_events SET seq = :a WHERE seq = :b", a=first, b=second)
    raw(engine, "UPDATE audit_events SET seq = :b WHERE seq = -1", b=second)
    report = verify_log(engine, [log.public_key], chunk_size=chunk_size)
    assert [(b.seq, b.kind) for b in report.breaks] == [
        (first, BreakKind.REORDERED),
        (second, BreakKind.REORDERED),
    ]
    assert f"written as event {second}" in report.breaks[0].detail


def test_a_rewritten_and_rehashed_event_breaks_the_link_to_its_successor(
    log: AuditLog, engine: Engine
) -> None:
    fill(log, 6)
    rows = stored_rows(engine)
    body = EventBody(**{**_fields(body_from_row(rows[2])), "purpose": "marketing"})
    new_hash = event_hash(3, rows[2]["previous_hash"], body)
    raw(
        engine,
        "UPDATE audit_events SET purpose = 'marketing', event_hash = :h WHERE seq = 3",
        h=new_hash,
    )
    assert only_break(verify_log(engine, [log.public_key])) == (4, BreakKind.UNLINKED)


def test_a_thinned_out_customer_index_is_reported(log: AuditLog, engine: Engine) -> None:
    fill(log, 5)
    raw(engine, "DELETE FROM audit_event_customers WHERE seq = 2")
    assert only_break(verify_log(engine, [log.public_key])) == (2, BreakKind.INDEX_MISMATCH)


def test_an_altered_stored_checkpoint_is_reported(log: AuditLog, engine: Engine) -> None:
    fill(log, 10)
    raw(engine, "UPDATE audit_checkpoints SET seq = 9 WHERE seq = 10")
    assert only_break(verify_log(engine, [log.public_key])) == (9, BreakKind.BAD_SIGNATURE)


def test_a_truncated_tail_is_caught_by_the_exported_checkpoint(
    log: AuditLog, engine: Engine
) -> None:
    fill(log, 25)
    exported = log.checkpoint().to_json()  # copied out of the database
    raw(engine, "DELETE FROM audit_events WHERE seq > 15")
    assert only_break(verify_log(engine, [log.public_key])) == (16, BreakKind.TRUNCATED)
    raw(engine, "DELETE FROM audit_checkpoints WHERE seq > 15")
    assert verify_log(engine, [log.public_key]).ok  # the database alone cannot tell any more
    report = verify_exported_checkpoint(engine, exported, [log.public_key])
    assert only_break(report) == (16, BreakKind.TRUNCATED)
    assert "25" in report.breaks[0].detail


def test_a_consistent_rewrite_of_the_whole_chain_is_caught(log: AuditLog, engine: Engine) -> None:
    """Recomputed hashes and re-signed checkpoints under the forger's own key still fail."""
    fill(log, 25)
    exported = log.checkpoint().to_json()
    forger = Signer(SecretKey.generate())
    _rewrite_chain(engine, change_seq=3, forger=forger)

    assert not verify_log(engine, [forger.public_key()]).breaks  # consistent: as intended
    report = verify_log(engine, [log.public_key])
    assert {b.kind for b in report.breaks} == {BreakKind.UNTRUSTED_KEY}
    raw(engine, "DELETE FROM audit_checkpoints")  # even without any stored checkpoint...
    assert verify_log(engine, [log.public_key]).ok
    report = verify_exported_checkpoint(engine, exported, [log.public_key])  # ...this holds
    assert only_break(report) == (25, BreakKind.CHECKPOINT_MISMATCH)


def _rewrite_chain(engine: Engine, *, change_seq: int, forger: Signer) -> None:
    rows = stored_rows(engine)
    previous = GENESIS
    with engine.begin() as conn:
        for row in rows:
            fields = _fields(body_from_row(row))
            if row["seq"] == change_seq:
                fields["purpose"] = "marketing"
            digest = event_hash(row["seq"], previous, EventBody(**fields))
            conn.execute(
                sa.text(
                    "UPDATE audit_events SET purpose = :p, previous_hash = :prev, "
                    "event_hash = :h WHERE seq = :s"
                ),
                {"p": fields["purpose"], "prev": previous, "h": digest, "s": row["seq"]},
            )
            previous = digest
        conn.execute(sa.text("DELETE FROM audit_checkpoints"))
        for seq in (10, 20, 25):
            head = conn.execute(
                sa.text("SELECT event_hash FROM audit_events WHERE seq = :s"), {"s": seq}
            ).scalar_one()
            forged = sign_checkpoint(forger, seq, bytes(head), START)
            conn.execute(
                sa.insert(checkpoints_table()).values(
                    seq=seq,
                    chain_hash=forged.chain_hash,
                    signed_at=forged.signed_at,
                    key_id=forged.key_id,
                    public_key=forged.public_key,
                    signature=forged.signature,
                )
            )


def _fields(body: EventBody) -> dict[str, Any]:
    return {f.name: getattr(body, f.name) for f in dataclasses.fields(body)}


def _uuid(row: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(row["customer_ids"][0])


def test_stored_values_the_column_cannot_hold_are_reported_not_raised(
    log: AuditLog, engine: Engine
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's column types refuse such values outright")
    fill(log, 10)
    raw(engine, "UPDATE audit_events SET occurred_at = 'yesterday' WHERE seq = 3")
    raw(engine, "UPDATE audit_events SET customer_ids = '{' WHERE seq = 5")
    raw(engine, "UPDATE audit_events SET event_hash = 'text' WHERE seq = 7")
    raw(engine, "UPDATE audit_checkpoints SET signed_at = 'soon'")
    report = verify_log(engine, [log.public_key], chunk_size=4)
    assert [(b.seq, b.kind) for b in report.breaks] == [
        (3, BreakKind.MODIFIED),
        (5, BreakKind.MODIFIED),
        (7, BreakKind.MODIFIED),
        (10, BreakKind.BAD_SIGNATURE),
    ]
    with pytest.raises(IntegrityError):
        list_events(engine)
    with pytest.raises(IntegrityError):
        latest_checkpoint(engine)


def test_verification_stops_after_max_breaks_and_says_so(log: AuditLog, engine: Engine) -> None:
    fill(log, 12)
    raw(engine, "UPDATE audit_events SET role = 'auditor'")
    report = verify_log(engine, [log.public_key], max_breaks=4)
    assert not report.complete
    assert [b.seq for b in report.breaks] == [1, 2, 3, 4]


# --------------------------------------------------------------------------- queries


def test_events_are_filtered_by_every_criterion(engine: Engine, signer: Signer) -> None:
    log = AuditLog(engine, signer, clock=Ticker())
    log.append(event(principal="emp-1", customer_ids=(ALICE,)))  # 09:00
    log.append(event(principal="emp-2", purpose="underwriting", customer_ids=(ALICE, BOB)))
    log.append(event(action=Action.EXPORT, customer_ids=(BOB, CAROL), fields_in_clear=()))
    log.append(event(outcome=Outcome.DENIED, reason="purpose not allowed", fields_in_clear=()))

    def seqs(**filters: Any) -> list[int]:
        return [e.seq for e in list_events(engine, EventQuery(**filters)).events]

    assert seqs() == [1, 2, 3, 4]
    assert seqs(customer_id=BOB) == [2, 3]
    assert seqs(customer_id=uuid.uuid4()) == []
    assert seqs(principal="emp-2") == [2]
    assert seqs(purpose="underwriting") == [2]
    assert seqs(action=Action.EXPORT) == [3]
    assert seqs(outcome="denied") == [4]
    assert seqs(occurred_from=START + dt.timedelta(minutes=1)) == [2, 3, 4]
    assert seqs(occurred_to=START + dt.timedelta(minutes=2)) == [1, 2]
    assert seqs(customer_id=ALICE, occurred_from=START + dt.timedelta(seconds=30)) == [2, 4]
    assert seqs(customer_id=ALICE, principal="emp-0042") == [4]


def test_events_are_paginated_by_seq_cursor(log: AuditLog, engine: Engine) -> None:
    fill(log, 11)
    pages: list[list[int]] = []
    after = 0
    while True:
        page = list_events(engine, EventQuery(customer_id=ALICE, after_seq=after, limit=2))
        pages.append([e.seq for e in page.events])
        if page.next_after_seq is None:
            break
        after = page.next_after_seq
    assert pages == [[1, 4], [7, 10]]  # the last full page knows it is the last


@pytest.mark.parametrize(
    "filters",
    [{"limit": 0}, {"limit": 501}, {"after_seq": -1}, {"occurred_from": dt.datetime(2026, 1, 1)}],
)
def test_bad_query_parameters_are_refused(filters: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        EventQuery(**filters)


def test_the_access_report_lists_every_event_touching_a_customer(
    log: AuditLog, engine: Engine
) -> None:
    log.append(event(customer_ids=(ALICE,), fields_in_clear=("customers.mobile",)))
    log.append(event(customer_ids=(BOB,)))
    log.append(
        event(
            principal="emp-0099",
            role="marketing",
            purpose="marketing",
            outcome=Outcome.DENIED,
            reason="purpose not allowed for this role",
            customer_ids=(ALICE, BOB),
            fields_in_clear=(),
        )
    )
    report = access_report(engine, ALICE)
    assert report.next_after_seq is None
    assert [(e.seq, e.principal, e.role, e.purpose, e.outcome) for e in report.entries] == [
        (1, "emp-0042", "claims_handler", "claims_handling", "allowed"),
        (3, "emp-0099", "marketing", "marketing", "denied"),
    ]
    assert report.entries[0].fields_in_clear == ("customers.mobile",)
    assert report.entries[0].occurred_at.tzinfo is not None
