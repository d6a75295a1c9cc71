"""Stored redactions: worked out at write time, served only while they are exactly right.

Run on SQLite and PostgreSQL, with the real redactor, the real policy file and
the API over HTTP where a read is what is being checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
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
from vault.services.customers import find_customers
from vault.services.datakeys import load_data_keys
from vault.services.importing import ImportSources, import_files
from vault.services.principals import add_principal
from vault.services.redactions import refresh_redactions
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
        entries = _entries(vault, cid)
        assert len(entries) == 3
        assert all(e is not None for e in entries.values())

        renamed = c.patch(f"/v1/customers/{cid}", json={"full_name": "张伟明"})
        assert renamed.status_code == 200, renamed.text
    stored = StoredRedactions(Redactor())
    summary = refresh_redactions(vault, stored, every=True)
    assert (summary.current, summary.redacted) == (3, 0)  # the PATCH already redid all three
