"""Stored redactions: worked out at write time, served only while they are exactly right.

Run on SQLite and PostgreSQL, with the real redactor, the real policy file and
the API over HTTP where a read is what is being checked.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from api_support import client, running_api
from helpers import customer, resident_id, write_csv

from vault import schema
from vault.import_format import CUSTOMER_COLUMNS, INTERACTION_COLUMNS
from vault.policy import load_policies
from vault.redaction import Redactor
from vault.redaction.stored import BASIS, TEXT, StoredRedactions, text_of
from vault.sealing import open_sealed, seal
from vault.services import redactions as redactions_service
from vault.services.customers import find_customers
from vault.services.datakeys import load_data_keys
from vault.services.importing import ImportSources, import_files
from vault.services.principals import add_principal
from vault.services.redactions import RefreshQueue, RefreshSummary, refresh_redactions
from vault.services.runtime import Vault
from vault.settings import PACKAGED_POLICIES, Settings

POLICIES = load_policies(PACKAGED_POLICIES / "roles.yaml")
ZHANG_ID = resident_id("11010519900307001")
NOTES = (
    "客户张伟来电，手机138-1234-5678，要求修改地址",
    "Mr Zhang asked us to email zhangwei@163.com about the renewal",
)
NOTE_FIELD = schema.table("interactions").field("note_redacted")


@pytest.fixture(scope="module")
def stored() -> StoredRedactions:
    return StoredRedactions(Redactor())


def _import(vault: Vault, tmp_path: Path, *, full_name: str = "张伟") -> uuid.UUID:
    row = customer(
        source_system="crm",
        source_id="C1",
        full_name=full_name,
        id_type="resident_id",
        id_number=ZHANG_ID,
        mobile="138-1234-5678",
        email="zhangwei@163.com",
        org_unit="SH-01",
    )
    notes = [
        {
            "source_system": "crm",
            "customer_source_id": "C1",
            "occurred_at": f"2024-05-0{i + 1}T09:30:00Z",
            "channel": "phone",
            "direction": "inbound",
            "topic": "address_change",
            "note": note,
        }
        for i, note in enumerate(NOTES)
    ]
    import_files(
        vault,
        ImportSources(
            customers=write_csv(tmp_path / "c.csv", [row], CUSTOMER_COLUMNS),
            interactions=write_csv(tmp_path / "i.csv", notes, INTERACTION_COLUMNS),
        ),
    )
    return find_customers(vault, "id_number", ZHANG_ID)[0]


def _entries(vault: Vault, cid: uuid.UUID) -> dict[uuid.UUID, dict[str, str] | None]:
    with vault.engine.connect() as conn:
        key = load_data_keys(conn, vault.provider, [cid])[cid]
        rows = conn.execute(
            sa.text("SELECT id, note_redacted FROM interactions WHERE customer_id = :c"),
            {"c": cid.hex if vault.engine.dialect.name == "sqlite" else cid},
        ).all()
    out: dict[uuid.UUID, dict[str, str] | None] = {}
    for rid, blob in rows:
        record_id = rid if isinstance(rid, uuid.UUID) else uuid.UUID(str(rid))
        out[record_id] = (
            None if blob is None else open_sealed(NOTE_FIELD, record_id, key, bytes(blob))
        )
    return out


def _damage_a_note(vault: Vault, cid: uuid.UUID) -> None:
    """Flip a bit of one of the customer's sealed notes (it no longer authenticates)."""
    with vault.engine.begin() as conn:
        rid, blob = conn.execute(
            sa.text("SELECT id, note FROM interactions WHERE customer_id = :c LIMIT 1"),
            {"c": cid.hex if vault.engine.dialect.name == "sqlite" else cid},
        ).one()
        damaged = bytes(blob)[:-1] + bytes([bytes(blob)[-1] ^ 1])
        conn.execute(
            sa.text("UPDATE interactions SET note = :b WHERE id = :i"), {"b": damaged, "i": rid}
        )


def _import_second(vault: Vault, tmp_path: Path) -> uuid.UUID:
    """Another customer with one note, in its own import (no stored redactions)."""
    row = customer(
        source_system="crm",
        source_id="C2",
        full_name="李娜",
        id_type="resident_id",
        id_number=resident_id("44030419920101011"),
        mobile="13700002222",
    )
    note = {
        "source_system": "crm",
        "customer_source_id": "C2",
        "occurred_at": "2024-05-03T09:30:00Z",
        "channel": "phone",
        "direction": "inbound",
        "topic": "renewal",
        "note": "李娜 asked to be called on 13700002222",
    }
    import_files(
        vault,
        ImportSources(
            customers=write_csv(tmp_path / "c2.csv", [row], CUSTOMER_COLUMNS),
            interactions=write_csv(tmp_path / "i2.csv", [note], INTERACTION_COLUMNS),
        ),
    )
    return find_customers(vault, "mobile", "13700002222")[0]


def _put(vault: Vault, cid: uuid.UUID, record_id: uuid.UUID, entry: dict[str, str]) -> None:
    with vault.engine.begin() as conn:
        key = load_data_keys(conn, vault.provider, [cid])[cid]
        table = sa.table("interactions", sa.column("id", sa.Uuid()), sa.column("note_redacted"))
        conn.execute(
            sa.update(table)
            .where(table.c.id == record_id)
            .values(note_redacted=seal(NOTE_FIELD, record_id, key, entry))
        )


def test_a_refresh_stores_exactly_what_live_redaction_gives(
    vault: Vault, tmp_path: Path, stored: StoredRedactions
) -> None:
    cid = _import(vault, tmp_path)
    assert set(_entries(vault, cid).values()) == {None}  # the service import stores none

    first = refresh_redactions(vault, stored)
    assert (first.customers, first.redacted, first.current) == (1, 2, 0)
    live = text_of(stored_redactor := Redactor())
    known = {"full_name": "张伟", "mobile": "+8613812345678", "email": "zhangwei@163.com"}
    entries = [e for e in _entries(vault, cid).values() if e is not None]
    assert sorted(e[TEXT] for e in entries) == sorted(live(n, known) for n in NOTES)
    assert all("张伟" not in e[TEXT] and "1234" not in e[TEXT] for e in entries)
    assert stored_redactor.loaded

    again = refresh_redactions(vault, stored)
    assert (again.customers, again.redacted) == (0, 0)  # nothing missing: not even read
    every = refresh_redactions(vault, stored, every=True)
    assert (every.customers, every.redacted, every.current) == (1, 0, 2)


def test_the_basis_changes_with_the_text_the_known_values_and_the_engine() -> None:
    a = StoredRedactions(Redactor(), lambda text, known: text)
    known = {"full_name": "张伟"}
    assert a.basis("note", known) == a.basis("note", dict(known))
    assert a.basis("note", known) != a.basis("note ", known)
    assert a.basis("note", known) != a.basis("note", {"full_name": "张伟明"})
    assert a.basis("note", known) != a.basis("note", {})
    other_engine = StoredRedactions(Redactor(min_score=0.6), lambda text, known: text)
    assert a.basis("note", known) != other_engine.basis("note", known)


def test_the_basis_follows_the_spacy_model_that_will_actually_run() -> None:
    """An installed model's name and version enter the basis; a missing one runs blank."""

    def basis(model: str) -> str:
        engine = Redactor(spacy_models={"en": model})  # never built: only its settings count
        return StoredRedactions(engine, lambda text, known: text).basis("note", {})

    blank = StoredRedactions(Redactor(), lambda text, known: text).basis("note", {})
    # Neither is installed, so both run a blank pipeline: the same answers, the same basis.
    assert basis("xx_missing_model_a") == basis("xx_missing_model_b")
    # Any installed distribution stands in for a model package here (its version is read
    # from the metadata, as spaCy's is_package decides).
    assert basis("PyYAML") != basis("xx_missing_model_a")
    assert basis("PyYAML") != blank


def test_the_basis_changes_when_the_installed_model_is_upgraded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.metadata.version
    installed = {"xx_model": "3.8.0"}

    def version(name: str) -> str:  # a model package "installed" at a version we choose
        return installed[name] if name in installed else real(name)

    monkeypatch.setattr(importlib.metadata, "version", version)

    def basis() -> str:
        engine = Redactor(spacy_models={"en": "xx_model"})
        return StoredRedactions(engine, lambda text, known: text).basis("note", {})

    before = basis()
    assert basis() == before
    installed["xx_model"] = "3.8.1"
    assert basis() != before


def test_serving_answers_only_entries_whose_basis_matches() -> None:
    calls: list[str] = []

    def live(text: str, known: object) -> str:
        calls.append(text)
        return "<live>"

    s = StoredRedactions(Redactor(), live)
    known = {"full_name": "张伟"}
    redact = s.serving({s.basis("held", known): "<stored>"})
    assert redact("held", known) == "<stored>"
    assert redact("other", known) == "<live>"
    assert redact("held", {"full_name": "李娜"}) == "<live>"
    assert calls == ["other", "held"]


@pytest.fixture
def adjuster_url(vault: Vault, settings: Settings) -> Iterator[tuple[str, str]]:
    _, key = add_principal(vault, "p-adjuster", "claims_adjuster", known_roles=POLICIES.roles)
    with running_api(settings) as url:
        yield url, key


def _notes_over_http(url: str, key: str, cid: uuid.UUID) -> list[str]:
    with client(url, key, "claims_processing") as c:
        response = c.get(f"/v1/customers/{cid}")
    assert response.status_code == 200
    return sorted(i["note"] for i in response.json()["interactions"])


def test_a_read_serves_a_matching_stored_entry_and_redacts_live_otherwise(
    vault: Vault, tmp_path: Path, stored: StoredRedactions, adjuster_url: tuple[str, str]
) -> None:
    url, key = adjuster_url
    cid = _import(vault, tmp_path)
    live_answer = _notes_over_http(url, key, cid)  # nothing stored yet: redacted live
    refresh_redactions(vault, stored)
    assert _notes_over_http(url, key, cid) == live_answer

    # An entry with the right basis is what the read serves (a marker proves it) ...
    (rid, entry), *_ = ((r, e) for r, e in _entries(vault, cid).items() if e is not None)
    _put(vault, cid, rid, {BASIS: entry[BASIS], TEXT: "<served from storage>"})
    assert "<served from storage>" in _notes_over_http(url, key, cid)
    # ... and one whose basis does not match what the read holds is never served.
    _put(vault, cid, rid, {BASIS: "0" * 64, TEXT: "<stale>"})
    assert _notes_over_http(url, key, cid) == live_answer


def test_a_changed_name_retires_the_entries_made_with_the_old_one(
    vault: Vault, tmp_path: Path, stored: StoredRedactions, adjuster_url: tuple[str, str]
) -> None:
    url, key = adjuster_url
    cid = _import(vault, tmp_path)
    refresh_redactions(vault, stored)
    before = {r: e for r, e in _entries(vault, cid).items() if e is not None}
    for rid, entry in before.items():  # were they served, this marker would show
        _put(vault, cid, rid, {BASIS: entry[BASIS], TEXT: "<made with the old name>"})
    _import(vault, tmp_path, full_name="张伟明")  # the customer's name changes

    notes = _notes_over_http(url, key, cid)
    assert not any("old name" in n for n in notes)
    assert not any("张伟" in n for n in notes)
    summary = refresh_redactions(vault, stored, every=True)
    assert (summary.redacted, summary.current) == (2, 0)


def test_the_import_command_stores_redactions_and_refresh_reports(
    vault: Vault, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    row = customer(
        source_system="crm",
        source_id="C9",
        full_name="王芳",
        id_type="resident_id",
        id_number=resident_id("44030419920101003"),
        mobile="13700001111",
    )
    note = {
        "source_system": "crm",
        "customer_source_id": "C9",
        "occurred_at": "2024-05-01T09:30:00Z",
        "channel": "phone",
        "direction": "inbound",
        "topic": "claim_status",
        "note": "王芳说手机13700001111可以联系",
    }
    cli = [sys.executable, "-m", "vault"]
    done = subprocess.run(
        [
            *cli,
            "import",
            "--customers",
            str(write_csv(tmp_path / "c.csv", [row], CUSTOMER_COLUMNS)),
            "--interactions",
            str(write_csv(tmp_path / "i.csv", [note], INTERACTION_COLUMNS)),
            "--json",
        ],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["redactions"] == {"customers": 1, "current": 0, "redacted": 1}
    again = subprocess.run(
        [*cli, "redactions", "refresh", "--all", "--json"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"customers": 1, "current": 1, "redacted": 0}
    assert "13700001111" not in done.stdout + done.stderr + again.stdout + again.stderr


def test_an_import_whose_redaction_step_fails_still_reports_what_it_committed(
    vault: Vault, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    earlier = _import(vault, tmp_path)  # imported without redactions: its entries are missing
    _damage_a_note(vault, earlier)  # and one of its sealed notes is damaged
    row = customer(
        source_system="crm",
        source_id="C8",
        full_name="李娜",
        id_type="resident_id",
        id_number=resident_id("44030419920101011"),
        mobile="13700002222",
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "vault",
            "import",
            "--customers",
            str(write_csv(tmp_path / "c8.csv", [row], CUSTOMER_COLUMNS)),
            "--json",
        ],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 4, done.stderr  # IntegrityError's exit status
    summary = json.loads(done.stdout)
    assert summary["totals"]["imported"] == 1
    assert "error" in summary["redactions"]
    assert "the import committed" in done.stderr
    assert "Traceback" not in done.stderr
    assert find_customers(vault, "mobile", "13700002222")  # committed, and reported so
    assert "13700002222" not in done.stdout + done.stderr


def test_api_writes_store_the_redactions_their_reads_will_serve(
    vault: Vault, tmp_path: Path, settings: Settings
) -> None:
    cid = _import(vault, tmp_path)
    _, crm = add_principal(vault, "p-crm", "crm_integration", known_roles=POLICIES.roles)
    with running_api(settings) as url, client(url, crm, "customer_support") as c:
        added = c.post(
            f"/v1/customers/{cid}/interactions",
            json={
                "occurred_at": "2024-06-01T10:00:00Z",
                "channel": "phone",
                "direction": "inbound",
                "topic": "renewal",
                "note": "张伟 called from 13812345678 about the renewal",
            },
        )
        assert added.status_code == 201, added.text
        # The refresh runs after the write has answered, in the server's background thread.
        deadline = time.monotonic() + 60
        while True:
            entries = _entries(vault, cid)
            if all(e is not None for e in entries.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert len(entries) == 3
        assert all(e is not None for e in entries.values())

        renamed = c.patch(f"/v1/customers/{cid}", json={"full_name": "张伟明"})
        assert renamed.status_code == 200, renamed.text
    # Stopping the server finished its queue: the PATCH's refresh redid all three.
    stored = StoredRedactions(Redactor())
    summary = refresh_redactions(vault, stored, every=True)
    assert (summary.current, summary.redacted) == (3, 0)


class _HeldQueue:
    """A :class:`RefreshQueue` whose batches are recorded, and whose first batch waits."""

    def __init__(
        self, vault: Vault, stored: StoredRedactions, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.batches: list[list[uuid.UUID]] = []
        self.entered, self.release = threading.Event(), threading.Event()
        real = redactions_service.refresh_redactions

        def recorded(v: Vault, s: StoredRedactions, ids: list[uuid.UUID]) -> RefreshSummary:
            self.batches.append(list(ids))
            self.entered.set()
            assert self.release.wait(60)
            return real(v, s, ids)

        monkeypatch.setattr(redactions_service, "refresh_redactions", recorded)
        self.queue = RefreshQueue(vault, lambda: stored)


def test_the_refresh_queue_refreshes_each_submitted_customer_once_in_the_background(
    vault: Vault, tmp_path: Path, stored: StoredRedactions, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = _import(vault, tmp_path)
    held = _HeldQueue(vault, stored, monkeypatch)
    queue = held.queue
    try:
        assert queue.drain(timeout=0)  # nothing queued: idle, and no thread yet
        queue.submit(cid)
        assert held.entered.wait(60)  # the background thread has taken it and is working
        assert not queue.drain(timeout=0)
        for _ in range(3):  # written again meanwhile: queued once
            queue.submit(cid)
        held.release.set()
        assert queue.drain(timeout=60)
        assert held.batches == [[cid], [cid]]
        assert all(e is not None for e in _entries(vault, cid).values())
    finally:
        queue.close()
    queue.submit(cid)  # after close: ignored
    assert queue.drain(timeout=0)
    assert len(held.batches) == 2


def test_a_failed_batch_is_retried_one_customer_at_a_time(
    vault: Vault, tmp_path: Path, stored: StoredRedactions, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = _import(vault, tmp_path)
    _damage_a_note(vault, bad)
    good = _import_second(vault, tmp_path)
    held = _HeldQueue(vault, stored, monkeypatch)
    queue = held.queue
    try:
        queue.submit(uuid.uuid4())  # held in the first batch, while the next two queue up
        assert held.entered.wait(60)
        queue.submit(bad)
        queue.submit(good)
        held.release.set()
        assert queue.drain(timeout=60)
        # The batch of both fails on the damaged note; alone, the good customer succeeds.
        assert held.batches[1:] == [[bad, good], [bad], [good]]
        assert all(e is not None for e in _entries(vault, good).values())
        assert any(e is None for e in _entries(vault, bad).values())
        queue.submit(good)  # the thread survived the failures
        assert queue.drain(timeout=60)
        assert held.batches[-1] == [good]
    finally:
        queue.close()
