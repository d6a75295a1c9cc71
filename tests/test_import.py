"""Importing CRM extracts: validation and rejects, identity resolution, idempotency, atomicity."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import customer, read_csv, resident_id, write_csv

from vault.errors import ValidationError
from vault.import_format import (
    CLAIM_COLUMNS,
    CONSENT_COLUMNS,
    CUSTOMER_COLUMNS,
    INTERACTION_COLUMNS,
    POLICY_COLUMNS,
)
from vault.services.customers import find_customers, read_customer, store_counts
from vault.services.importing import CsvRejects, ImportSources, import_files
from vault.services.runtime import Vault

ZHANG_ID = resident_id("11010519900307001")
LI_ID = resident_id("31010419850615002")


def _zhang(**overrides: str) -> dict[str, str]:
    row = customer(
        source_system="crm",
        source_id="C1",
        full_name="张伟",
        gender="M",
        birth_date="1990-03-07",
        id_type="resident_id",
        id_number=ZHANG_ID,
        mobile="138-1234-5678",
        email="ZhangWei@163.com",
        address="北京市朝阳区建国路88号",
        province="北京",
        city="北京",
        postcode="100022",
        occupation="engineer",
        annual_income="250000",
        marital_status="married",
        education="bachelor",
        org_unit="BJ-01",
    )
    return row | overrides


@contextlib.contextmanager
def _failing_source_link(vault: Vault, source_id: str) -> Iterator[None]:
    """A real database trigger that refuses the source link of one source id."""
    sqlite = vault.engine.dialect.name == "sqlite"
    with vault.engine.begin() as conn:
        if sqlite:
            conn.exec_driver_sql(
                "CREATE TRIGGER boom BEFORE INSERT ON source_links "
                f"WHEN NEW.source_id = '{source_id}' BEGIN SELECT RAISE(ABORT, 'boom'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.source_id = '{source_id}' THEN RAISE EXCEPTION 'boom'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER boom BEFORE INSERT ON source_links "
                "FOR EACH ROW EXECUTE FUNCTION boom()"
            )
    try:
        yield
    finally:
        with vault.engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER boom" + ("" if sqlite else " ON source_links"))
            if not sqlite:
                conn.exec_driver_sql("DROP FUNCTION boom()")


def _import(vault: Vault, tmp_path: Path, **files: Path) -> tuple[dict, list[dict[str, str]]]:
    rejects = tmp_path / "rejects.csv"
    with rejects.open("w", encoding="utf-8", newline="") as fh:
        summary = import_files(vault, ImportSources(**files), CsvRejects(fh)).as_dict()
    return summary, read_csv(rejects)


def test_valid_rows_import_and_each_invalid_row_is_rejected_with_a_reason_naming_the_field(
    vault: Vault, tmp_path: Path
) -> None:
    bad_check = ZHANG_ID[:-1] + ("1" if ZHANG_ID[-1] != "1" else "2")
    rows = [
        _zhang(),
        customer(
            source_system="crm",
            source_id="C2",
            full_name="李娜",
            id_type="resident_id",
            id_number=bad_check,
            mobile="13912345678",
        ),
        customer(source_system="crm", source_id="C3", full_name="王芳", mobile="1391234"),
        customer(
            source_system="crm",
            source_id="C4",
            full_name="赵敏",
            mobile="13712345678",
            email="zhao@@qq.com",
        ),
        customer(
            source_system="crm",
            source_id="C5",
            full_name="孙丽",
            mobile="13612345678",
            birth_date="2023-02-30",
        ),
        customer(source_system="crm", source_id="C6", full_name="", mobile="13512345678"),
        customer(source_system="crm", source_id="C7", full_name="周杰"),
        customer(
            source_system="crm",
            source_id="C8",
            full_name="吴磊",
            id_type="resident_id",
            id_number=LI_ID,
            birth_date="1985-06-16",
            gender="M",
        ),
        customer(source_system="CRM!", source_id="C9", full_name="郑爽", mobile="13412345678"),
    ]
    path = write_csv(tmp_path / "customers.csv", rows, CUSTOMER_COLUMNS)
    summary, rejects = _import(vault, tmp_path, customers=path)

    assert summary["totals"] == {
        "read": 9,
        "imported": 1,
        "merged": 0,
        "updated": 0,
        "unchanged": 0,
        "rejected": 8,
    }
    assert [(r["row_number"], r["fields"]) for r in rejects] == [
        ("2", "id_number"),
        ("3", "mobile"),
        ("4", "email"),
        ("5", "birth_date"),
        ("6", "full_name"),
        ("7", "id_number"),
        ("8", "birth_date;gender"),
        ("9", "source_system"),
    ]
    assert all(r["source_file"] == "customers.csv" for r in rejects)
    assert rejects[0]["reason"] == "id_number: check digit does not match"
    assert "does not match the resident ID" in rejects[6]["reason"]
    raw = (tmp_path / "rejects.csv").read_text(encoding="utf-8")
    for secret in (bad_check, "1391234", "zhao@@qq.com", "2023-02-30", "李娜", "王芳", LI_ID):
        assert secret not in raw
    assert store_counts(vault)["customers"] == 1


def test_custom_attributes_that_look_like_personal_data_are_rejected_not_stored_in_clear(
    vault: Vault, tmp_path: Path
) -> None:
    """Custom attributes are stored in clear, so PII-shaped ones must never get there."""
    header = [*CUSTOMER_COLUMNS, "vip_tier", "wechat_id", "note_code"]
    rows = [
        _zhang(vip_tier="gold", note_code="A7"),
        {**_zhang(vip_tier="gold"), "source_id": "C2", "wechat_id": "wx_zhangwei88"},
        {**_zhang(vip_tier="gold"), "source_id": "C3", "note_code": "call 139 1234 5678"},
        {**_zhang(vip_tier="gold"), "source_id": "C4", "note_code": "zw@example.cn"},
    ]
    summary, rejects = _import(
        vault, tmp_path, customers=write_csv(tmp_path / "c.csv", rows, header)
    )
    assert summary["totals"]["rejected"] == 3
    assert [(r["row_number"], r["fields"]) for r in rejects] == [
        ("2", "wechat_id"),
        ("3", "note_code"),
        ("4", "note_code"),
    ]
    raw = (tmp_path / "rejects.csv").read_text(encoding="utf-8")
    for secret in ("wx_zhangwei88", "139 1234 5678", "zw@example.cn"):
        assert secret not in raw
    (cid,) = find_customers(vault, "id_number", ZHANG_ID)
    assert read_customer(vault, cid)["custom_attributes"] == {"vip_tier": "gold", "note_code": "A7"}


def test_a_file_missing_a_required_column_is_refused_before_anything_is_written(
    vault: Vault, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "c.csv", [_zhang()], [c for c in CUSTOMER_COLUMNS if c != "full_name"]
    )
    with pytest.raises(ValidationError, match=r"missing column.*full_name"):
        _import(vault, tmp_path, customers=path)
    assert store_counts(vault)["customers"] == 0


def test_imported_profile_reads_back_canonical_and_complete(vault: Vault, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", [_zhang(vip_tier="gold")], [*CUSTOMER_COLUMNS, "vip_tier"])
    _import(vault, tmp_path, customers=path)
    (cid,) = find_customers(vault, "id_number", ZHANG_ID)
    profile = read_customer(vault, cid)
    assert profile["full_name"] == "张伟"
    assert profile["mobile"] == "+8613812345678"
    assert profile["email"] == "ZhangWei@163.com"
    assert str(profile["birth_date"]) == "1990-03-07"
    assert str(profile["annual_income"]) == "250000.00"
    assert profile["custom_attributes"] == {"vip_tier": "gold"}
    assert profile["source_links"] == [{"source_system": "crm", "source_id": "C1"}]


def test_gender_and_birth_date_are_taken_from_the_resident_id_when_missing(
    vault: Vault, tmp_path: Path
) -> None:
    row = customer(
        source_system="crm", source_id="X", full_name="李娜", id_type="resident_id", id_number=LI_ID
    )
    _import(vault, tmp_path, customers=write_csv(tmp_path / "c.csv", [row], CUSTOMER_COLUMNS))
    profile = read_customer(vault, find_customers(vault, "id_number", LI_ID)[0])
    assert (str(profile["birth_date"]), profile["gender"]) == ("1985-06-15", "F")


@pytest.mark.parametrize("spelling", ["13812345678", "138-1234-5678", "+86 138 1234 5678"])
def test_each_mobile_spelling_finds_the_customer(
    vault: Vault, tmp_path: Path, spelling: str
) -> None:
    _import(vault, tmp_path, customers=write_csv(tmp_path / "c.csv", [_zhang()], CUSTOMER_COLUMNS))
    assert len(find_customers(vault, "mobile", spelling)) == 1
    assert len(find_customers(vault, "email", "zhangwei@163.COM")) == 1


def test_reimporting_the_same_file_changes_nothing(vault: Vault, tmp_path: Path) -> None:
    rows = [
        _zhang(),
        customer(
            source_system="crm",
            source_id="C2",
            full_name="John Smith",
            id_type="passport",
            id_number="E12345678",
            mobile="13912345678",
        ),
    ]
    path = write_csv(tmp_path / "c.csv", rows, CUSTOMER_COLUMNS)
    _import(vault, tmp_path, customers=path)
    with vault.engine.connect() as conn:
        before = conn.execute(
            sa.text("SELECT id, full_name, updated_at FROM customers ORDER BY id")
        ).all()
    summary, rejects = _import(vault, tmp_path, customers=path)
    assert summary["totals"]["unchanged"] == 2
    assert summary["totals"]["imported"] == summary["totals"]["updated"] == 0
    assert rejects == []
    with vault.engine.connect() as conn:
        after = conn.execute(
            sa.text("SELECT id, full_name, updated_at FROM customers ORDER BY id")
        ).all()
    assert before == after  # not even re-encrypted
    assert store_counts(vault)["source_links"] == 2


def test_rows_from_another_source_system_attach_to_the_same_customer(
    vault: Vault, tmp_path: Path
) -> None:
    rows = [
        _zhang(),
        # same person in the agency system: same ID in another spelling, other mobile spelling
        customer(
            source_system="agency",
            source_id="AG-1",
            full_name="张伟",
            id_type="resident_id",
            id_number=ZHANG_ID.lower()[:6] + " " + ZHANG_ID.lower()[6:],
            mobile="+86 138 1234 5678",
        ),
        # same person without an ID number: matched on name + mobile
        customer(source_system="agency", source_id="AG-2", full_name="张 伟", mobile="13812345678"),
        # same mobile, different name: a different person
        customer(source_system="agency", source_id="AG-3", full_name="张丽", mobile="13812345678"),
    ]
    summary, _ = _import(
        vault, tmp_path, customers=write_csv(tmp_path / "c.csv", rows, CUSTOMER_COLUMNS)
    )
    assert summary["totals"]["imported"] == 2
    assert summary["totals"]["merged"] == 2
    (zhang,) = find_customers(vault, "id_number", ZHANG_ID)
    links = read_customer(vault, zhang)["source_links"]
    assert sorted((s["source_system"], s["source_id"]) for s in links) == [
        ("agency", "AG-1"),
        ("agency", "AG-2"),
        ("crm", "C1"),
    ]
    assert len(find_customers(vault, "mobile", "138 1234 5678")) == 2


def test_identity_resolution_also_works_across_separate_imports(
    vault: Vault, tmp_path: Path
) -> None:
    _import(vault, tmp_path, customers=write_csv(tmp_path / "a.csv", [_zhang()], CUSTOMER_COLUMNS))
    other = customer(
        source_system="agency",
        source_id="AG-9",
        full_name="张伟",
        id_type="resident_id",
        id_number=ZHANG_ID,
        email="new@example.cn",
    )
    summary, _ = _import(
        vault, tmp_path, customers=write_csv(tmp_path / "b.csv", [other], CUSTOMER_COLUMNS)
    )
    assert summary["totals"]["merged"] == 1
    assert store_counts(vault)["customers"] == 1
    (cid,) = find_customers(vault, "email", "NEW@example.cn")
    profile = read_customer(vault, cid)
    assert profile["mobile"] == "+8613812345678"  # empty cells never erase
    assert find_customers(vault, "email", "zhangwei@163.com") == []


def test_a_changed_row_updates_the_customer(vault: Vault, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    _import(vault, tmp_path, customers=write_csv(path, [_zhang()], CUSTOMER_COLUMNS))
    moved = _zhang()
    moved["mobile"] = "13700001111"
    summary, _ = _import(vault, tmp_path, customers=write_csv(path, [moved], CUSTOMER_COLUMNS))
    assert summary["totals"]["updated"] == 1
    assert find_customers(vault, "mobile", "13812345678") == []
    assert len(find_customers(vault, "mobile", "137-0000-1111")) == 1


def test_an_id_number_already_held_by_another_customer_is_rejected_on_update(
    vault: Vault, tmp_path: Path
) -> None:
    other = customer(
        source_system="crm",
        source_id="C2",
        full_name="李娜",
        id_type="resident_id",
        id_number=LI_ID,
    )
    path = tmp_path / "c.csv"
    _import(vault, tmp_path, customers=write_csv(path, [_zhang(), other], CUSTOMER_COLUMNS))
    stolen = _zhang(id_number=LI_ID, birth_date="", gender="")
    summary, rejects = _import(
        vault, tmp_path, customers=write_csv(path, [stolen], CUSTOMER_COLUMNS)
    )
    assert summary["totals"]["rejected"] == 1
    assert rejects[0]["reason"] == "id_number: already belongs to another customer"
    assert len(find_customers(vault, "id_number", ZHANG_ID)) == 1


def test_a_batch_that_fails_in_the_database_leaves_no_half_written_customer(
    vault: Vault, tmp_path: Path
) -> None:
    """A trigger makes one row's source link fail: that customer must not exist at all."""
    with _failing_source_link(vault, "BOOM"):
        rows = [
            _zhang(),
            customer(
                source_system="crm",
                source_id="BOOM",
                full_name="李娜",
                id_type="resident_id",
                id_number=LI_ID,
            ),
            customer(
                source_system="crm", source_id="C3", full_name="John Smith", mobile="13912345678"
            ),
        ]
        summary, rejects = _import(
            vault, tmp_path, customers=write_csv(tmp_path / "c.csv", rows, CUSTOMER_COLUMNS)
        )
        assert summary["totals"]["imported"] == 2
        assert [(r["row_number"], r["fields"]) for r in rejects] == [("2", "row")]
        counts = store_counts(vault)
        assert counts["customers"] == counts["data_keys"] == counts["source_links"] == 2
        assert find_customers(vault, "id_number", LI_ID) == []


def _children(tmp_path: Path) -> dict[str, Path]:
    policies = [
        {
            "source_system": "crm",
            "customer_source_id": "C1",
            "policy_number": "POL202400000001",
            "product_line": "health",
            "status": "active",
            "start_date": "2024-01-01",
            "end_date": "2025-01-01",
            "annual_premium": "3200.50",
            "sum_insured": "500000",
            "sales_channel": "agent",
        },
        {
            "source_system": "crm",
            "customer_source_id": "NOPE",
            "policy_number": "POL202400000002",
            "product_line": "auto",
            "status": "active",
            "start_date": "2024-01-01",
            "annual_premium": "1",
            "sum_insured": "1",
            "sales_channel": "online",
        },
        {
            "source_system": "crm",
            "customer_source_id": "C1",
            "policy_number": "POL-BAD",
            "product_line": "boats",
            "status": "active",
            "start_date": "2024-01-01",
            "annual_premium": "-5",
            "sum_insured": "1",
            "sales_channel": "online",
        },
    ]
    claims = [
        {
            "source_system": "crm",
            "customer_source_id": "C1",
            "policy_number": "POL202400000001",
            "claim_number": "CLM202400000001",
            "incident_date": "2024-03-01",
            "reported_date": "2024-03-02",
            "claim_type": "medical",
            "claimed_amount": "1200",
            "status": "paid",
            "paid_amount": "1000",
            "description": "张伟住院，银行卡6222021234567890128",
        },
        {
            "source_system": "crm",
            "customer_source_id": "C1",
            "policy_number": "POL209900000009",
            "claim_number": "CLM202400000002",
            "incident_date": "2024-03-01",
            "reported_date": "2024-03-02",
            "claim_type": "medical",
            "claimed_amount": "1",
            "status": "reported",
        },
    ]
    interactions = [
        {
            "source_system": "crm",
            "customer_source_id": "C1",
            "occurred_at": "2024-05-01T09:30:00+08:00",
            "channel": "phone",
            "direction": "inbound",
            "topic": "address_change",
            "note": "客户张伟来电，手机138-1234-5678，要求修改地址",
            "satisfaction": "4",
        },
        {
            "source_system": "crm",
            "customer_source_id": "C1",
            "occurred_at": "2024-05-02T10:00:00",
            "channel": "fax",
            "direction": "inbound",
            "topic": "x",
            "satisfaction": "9",
        },
    ]
    consents = [
        {
            "source_system": "crm",
            "customer_source_id": "C1",
            "purpose": "marketing",
            "channel": "sms",
            "status": "granted",
            "recorded_at": "2024-01-01T00:00:00Z",
            "source": "app",
        },
    ]
    return {
        "policies": write_csv(tmp_path / "policies.csv", policies, POLICY_COLUMNS),
        "claims": write_csv(tmp_path / "claims.csv", claims, CLAIM_COLUMNS),
        "interactions": write_csv(tmp_path / "interactions.csv", interactions, INTERACTION_COLUMNS),
        "consents": write_csv(tmp_path / "consents.csv", consents, CONSENT_COLUMNS),
    }


def test_policies_claims_interactions_and_consents_attach_to_their_customer(
    vault: Vault, tmp_path: Path
) -> None:
    files = {
        "customers": write_csv(tmp_path / "c.csv", [_zhang()], CUSTOMER_COLUMNS),
        **_children(tmp_path),
    }
    summary, rejects = _import(vault, tmp_path, **files)
    per_file = {f["kind"]: f for f in summary["files"]}
    assert {k: (v["imported"], v["rejected"]) for k, v in per_file.items()} == {
        "customers": (1, 0),
        "policies": (1, 2),
        "claims": (1, 1),
        "interactions": (1, 1),
        "consents": (1, 0),
    }
    reasons = {(r["source_file"], r["row_number"]): r for r in rejects}
    assert reasons[("policies.csv", "2")]["fields"] == "customer_source_id"
    assert reasons[("policies.csv", "3")]["fields"] == "policy_number;product_line;annual_premium"
    assert (
        reasons[("claims.csv", "2")]["reason"] == "policy_number: no such policy for this customer"
    )
    assert reasons[("interactions.csv", "2")]["fields"] == "channel;satisfaction"

    (cid,) = find_customers(vault, "mobile", "13812345678")
    view = read_customer(vault, cid)
    assert view["policies"][0]["policy_number"] == "POL202400000001"
    assert view["claims"][0]["description"] == "张伟住院，银行卡6222021234567890128"
    assert view["claims"][0]["claim_type"] == "medical"
    assert view["interactions"][0]["note"].startswith("客户张伟来电")
    assert view["interactions"][0]["occurred_at"].isoformat() == "2024-05-01T01:30:00+00:00"
    assert view["consents"][0]["status"] == "granted"

    again, _ = _import(vault, tmp_path, **files)
    assert again["totals"]["imported"] == 0
    assert again["totals"]["unchanged"] == 5


def test_a_policy_number_of_another_customer_is_not_taken_over(
    vault: Vault, tmp_path: Path
) -> None:
    rows = [
        _zhang(),
        customer(
            source_system="crm",
            source_id="C2",
            full_name="李娜",
            id_type="resident_id",
            id_number=LI_ID,
        ),
    ]
    files = {
        "customers": write_csv(tmp_path / "c.csv", rows, CUSTOMER_COLUMNS),
        **_children(tmp_path),
    }
    _import(vault, tmp_path, **files)
    hijack = [
        {
            "source_system": "crm",
            "customer_source_id": "C2",
            "policy_number": "POL202400000001",
            "product_line": "health",
            "status": "active",
            "start_date": "2024-01-01",
            "annual_premium": "1",
            "sum_insured": "1",
            "sales_channel": "agent",
        }
    ]
    _summary, rejects = _import(
        vault, tmp_path, policies=write_csv(tmp_path / "p2.csv", hijack, POLICY_COLUMNS)
    )
    assert rejects[0]["reason"] == "policy_number: already belongs to another customer"


def test_rejects_writer_has_a_header_even_when_nothing_is_rejected() -> None:
    buffer = io.StringIO()
    CsvRejects(buffer)
    assert buffer.getvalue().strip() == "source_file,row_number,fields,reason"


def test_preparing_in_worker_processes_gives_the_same_result_as_in_process(
    settings: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The forked-worker path (used for large files) against the in-process path."""
    from vault.demo_data import generate_demo_data
    from vault.services import importing
    from vault.services.runtime import open_vault

    demo = generate_demo_data(tmp_path / "demo", 300, seed=3, invalid_rows=7)
    monkeypatch.setattr(importing._CustomerImporter, "parallel_min_rows", 1)
    monkeypatch.setattr(importing, "BATCH_SIZE", 64)
    outcomes = []
    for workers in (1, 2):
        vault = open_vault(settings)  # type: ignore[arg-type]
        try:
            with vault.engine.begin() as conn:  # start from an empty store each time
                for table in ("source_links", "customers", "data_keys", "org_units"):
                    conn.exec_driver_sql(f"DELETE FROM {table}")
            rejects = tmp_path / f"rejects-{workers}.csv"
            with rejects.open("w", encoding="utf-8", newline="") as fh:
                summary = import_files(
                    vault, ImportSources(customers=demo.customers), CsvRejects(fh), workers=workers
                )
            found = find_customers(vault, "mobile", read_csv(demo.customers)[0]["mobile"])
            outcomes.append(
                (summary.totals(), rejects.read_text(), len(found), store_counts(vault))
            )
        finally:
            vault.close()
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0]["merged"] > 0


def test_a_batch_retried_row_by_row_reports_each_reject_once(vault: Vault, tmp_path: Path) -> None:
    """A reject found inside a batch that then fails in the database is not written twice."""
    other = customer(
        source_system="crm",
        source_id="C2",
        full_name="李娜",
        id_type="resident_id",
        id_number=LI_ID,
    )
    _import(
        vault,
        tmp_path,
        customers=write_csv(tmp_path / "a.csv", [_zhang(), other], CUSTOMER_COLUMNS),
    )
    with _failing_source_link(vault, "BOOM"):
        rows = [
            _zhang(id_number=LI_ID, birth_date="", gender=""),  # rejected inside the batch
            customer(source_system="crm", source_id="BOOM", full_name="王芳", mobile="13700001111"),
        ]
        summary, rejects = _import(
            vault, tmp_path, customers=write_csv(tmp_path / "b.csv", rows, CUSTOMER_COLUMNS)
        )
        assert [(r["row_number"], r["fields"]) for r in rejects] == [
            ("1", "id_number"),
            ("2", "row"),
        ]
        assert summary["totals"]["rejected"] == 2
