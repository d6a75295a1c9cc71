"""Field views: every field of the customer 360 comes out clear, masked, pseudonymised or not
at all, exactly as ``policies/roles.yaml`` says.  Expectations are read from the YAML itself."""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from vault.errors import AccessDenied
from vault.masking import REDACTED, Pseudonymise, mask, mask_id_number
from vault.policy import (
    ACTIONS,
    PURPOSES,
    VIEW_TABLES,
    Allowed,
    Policies,
    known_values,
    load_policies,
    parse_policies,
    shape,
    shape_360,
)
from vault.schema import PiiType, registry

REPO = Path(__file__).resolve().parents[2]
ROLES_YAML = REPO / "policies" / "roles.yaml"
KEY = bytes(range(32))
ORG = 7
CUSTOMER_ID = uuid.UUID("0b7e6a52-51f4-4c52-9a55-3d0b7c9e2f11")
WHEN = dt.datetime(2024, 3, 1, 9, 30, tzinfo=dt.UTC)

PROFILE: dict[str, Any] = {
    "id": CUSTOMER_ID,
    "full_name": "张伟",
    "gender": "M",
    "birth_date": dt.date(1949, 12, 31),
    "id_type": "resident_id",
    "id_number": "11010519491231002X",
    "mobile": "+8613812345678",
    "email": "zhangwei@163.com",
    "address": "广东省深圳市南山区科技园路1号",
    "province": "广东省",
    "city": "深圳市",
    "postcode": "518057",
    "occupation": "engineer",
    "annual_income": Decimal("250000.00"),
    "marital_status": "married",
    "education": "bachelor",
    "org_unit_id": ORG,
    "custom_attributes": {"vip": "gold"},
    "created_at": WHEN,
    "updated_at": WHEN,
}
ROWS: dict[str, dict[str, Any]] = {
    "customers": PROFILE,
    "source_links": {
        "source_system": "crm",
        "source_id": "C-000123",
        "customer_id": CUSTOMER_ID,
        "content_digest": b"\x01" * 32,
        "linked_at": WHEN,
    },
    "policies": {
        "id": uuid.UUID(int=1),
        "customer_id": CUSTOMER_ID,
        "policy_number": "P2024000123",
        "product_line": "health",
        "status": "active",
        "start_date": dt.date(2024, 1, 1),
        "end_date": dt.date(2024, 12, 31),
        "annual_premium": Decimal("1200.00"),
        "sum_insured": Decimal("500000.00"),
        "sales_channel": "online",
        "source_system": "crm",
        "content_digest": b"\x02" * 32,
        "created_at": WHEN,
    },
    "claims": {
        "id": uuid.UUID(int=2),
        "customer_id": CUSTOMER_ID,
        "policy_id": uuid.UUID(int=1),
        "claim_number": "CLM2024000456",
        "incident_date": dt.date(2024, 2, 10),
        "reported_date": dt.date(2024, 2, 11),
        "closed_date": dt.date(2024, 2, 28),
        "claim_type": "hospitalisation",
        "claimed_amount": Decimal("8800.00"),
        "paid_amount": Decimal("8000.00"),
        "status": "paid",
        "description": "被保险人张伟住院三天，联系电话13812345678。",
        "source_system": "crm",
        "content_digest": b"\x03" * 32,
        "created_at": WHEN,
    },
    "interactions": {
        "id": uuid.UUID(int=3),
        "customer_id": CUSTOMER_ID,
        "channel": "phone",
        "direction": "inbound",
        "occurred_at": WHEN,
        "topic": "renewal",
        "note": "张伟 called from 13812345678 about renewal",
        "satisfaction": 5,
        "source_system": "crm",
        "fingerprint": b"\x04" * 32,
        "created_at": WHEN,
    },
    "consents": {
        "id": uuid.UUID(int=4),
        "customer_id": CUSTOMER_ID,
        "purpose": "marketing",
        "channel": "app",
        "status": "granted",
        "recorded_at": WHEN,
        "source": "app_settings",
        "source_system": "crm",
        "fingerprint": b"\x05" * 32,
    },
}
KNOWN = {"full_name": "张伟", "mobile": "13812345678"}


def fake_redact(text: str, known: Mapping[str, str]) -> str:
    """Stands in for the redaction engine: replaces the known values it is given."""
    for key, value in known.items():
        text = text.replace(value, f"<{key.upper()}>")
    return text


@cache
def policies() -> Policies:
    return load_policies(ROLES_YAML)


@cache
def raw_roles() -> dict[str, Any]:
    """The YAML as plain data, read independently of the loader under test."""
    roles: dict[str, Any] = yaml.safe_load(ROLES_YAML.read_text(encoding="utf-8"))["roles"]
    return roles


def expected_view(role: str, table: str, field: str) -> str:
    raw = (raw_roles()[role].get("fields") or {}).get(table, {}).get(field, "hidden")
    return raw if isinstance(raw, str) else "conditional"


def any_allowed(pol: Policies, role: str) -> Allowed:
    """An allowed decision for ``role``: the views are the role's whatever the action."""
    for action in ACTIONS:
        for purpose in PURPOSES:
            decision = pol.decide(
                role, action, purpose, principal_org_unit=str(ORG), customer_org_unit=str(ORG)
            )
            if isinstance(decision, Allowed):
                return decision
    raise AssertionError(f"{role} is allowed nothing")


def as_text(value: object) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def expected_mask(table: str, field: str, row: Mapping[str, Any]) -> str:
    f = registry()[table].field(field)
    value = as_text(row[field])
    if f.free_text:
        return fake_redact(value, KNOWN)
    if f.pii_type is PiiType.ID_NUMBER:
        return mask_id_number(value, row["id_type"])
    return mask(value, f.pii_type)


CASES = [
    (role, table, f.name)
    for role in yaml.safe_load(ROLES_YAML.read_text(encoding="utf-8"))["roles"]
    for table in VIEW_TABLES
    for f in registry()[table].fields
]


def test_every_view_table_has_a_complete_sample_row() -> None:
    for table in VIEW_TABLES:
        shown = {f.name for f in registry()[table].fields if f.redaction_of is None}
        assert set(ROWS[table]) == shown, table  # stored redactions never reach shaping


@pytest.mark.parametrize(("role", "table", "field"), CASES, ids="-".join)
def test_each_field_is_shaped_as_the_yaml_says(role: str, table: str, field: str) -> None:
    decision = any_allowed(policies(), role)
    row = ROWS[table]
    shaped = shape(decision, table, row, pseudonym_key=KEY, redact=fake_redact, known=KNOWN)
    qualified = f"{table}.{field}"
    view = expected_view(role, table, field)
    if view in ("hidden", "conditional"):  # conditional without consents: hidden
        assert field not in shaped.values
        assert qualified not in shaped.clear_fields
    elif view == "clear":
        assert shaped.values[field] == row[field]
        assert qualified in shaped.clear_fields
    elif view == "masked":
        assert shaped.values[field] != row[field]
        assert shaped.values[field] == expected_mask(table, field, row)
        assert qualified in shaped.masked_fields
        assert qualified not in shaped.clear_fields
    else:
        assert view == "pseudonym"
        token = shaped.values[field]
        assert token == Pseudonymise(KEY, role, qualified).apply(as_text(row[field]))
        assert token != row[field]
        assert token.startswith("p1_")
        assert qualified in shaped.pseudonym_fields


def test_the_yaml_uses_every_kind_of_view_somewhere() -> None:
    used = {
        expected_view(role, table, f.name)
        for role, table, _ in CASES
        for f in registry()[table].fields
    }
    assert used >= {"clear", "masked", "pseudonym", "hidden", "conditional"}


def test_customer_service_sees_names_clear_and_contact_and_id_masked_as_chinese_practice() -> None:
    decision = any_allowed(policies(), "customer_service")
    values = shape(decision, "customers", PROFILE, pseudonym_key=KEY).values
    assert values["full_name"] == "张伟"
    assert values["id_number"] == "1****************X"
    assert values["mobile"] == "138****5678"
    assert values["email"] == "z***@163.com"
    assert "annual_income" not in values


def test_compliance_officer_sees_names_masked_chinese_and_latin() -> None:
    decision = any_allowed(policies(), "compliance_officer")
    for name, masked in (("张伟", "张*"), ("John Smith", "J*** S****")):
        values = shape(decision, "customers", PROFILE | {"full_name": name}, pseudonym_key=KEY)
        assert values.values["full_name"] == masked


def test_claims_adjuster_sees_the_id_number_in_clear_for_verification() -> None:
    decision = any_allowed(policies(), "claims_adjuster")
    shaped = shape(decision, "customers", PROFILE, pseudonym_key=KEY)
    assert shaped.values["id_number"] == "11010519491231002X"
    assert "customers.id_number" in shaped.clear_fields


@pytest.mark.parametrize(
    ("id_type", "id_number", "masked"),
    [
        ("resident_id", "11010519491231002X", "1****************X"),
        ("passport", "E12345678", "E******78"),
        ("driving_licence", "11010519491231002X", REDACTED),
        (None, "11010519491231002X", REDACTED),
    ],
)
def test_a_masked_id_number_follows_its_sibling_document_type(
    id_type: str | None, id_number: str, masked: str
) -> None:
    decision = any_allowed(policies(), "customer_service")
    row = PROFILE | {"id_type": id_type, "id_number": id_number}
    assert shape(decision, "customers", row, pseudonym_key=KEY).values["id_number"] == masked


def test_free_text_under_masked_is_redacted_by_the_injected_engine_with_known_values() -> None:
    decision = any_allowed(policies(), "customer_service")
    row = ROWS["interactions"]
    seen: list[tuple[str, Mapping[str, str]]] = []

    def spy(text: str, known: Mapping[str, str]) -> str:
        seen.append((text, known))
        return fake_redact(text, known)

    shaped = shape(decision, "interactions", row, pseudonym_key=KEY, redact=spy, known=KNOWN)
    assert seen == [(row["note"], KNOWN)]
    assert shaped.values["note"] == "<FULL_NAME> called from <MOBILE> about renewal"


def test_free_text_without_a_redaction_engine_is_fully_redacted() -> None:
    decision = any_allowed(policies(), "customer_service")
    shaped = shape(decision, "claims", ROWS["claims"], pseudonym_key=KEY)
    assert shaped.values["description"] == REDACTED


def pseudonym_twin_policies(tmp_path: Path) -> Policies:
    """The real file plus a copy of compliance_officer under another name."""
    data = yaml.safe_load(ROLES_YAML.read_text(encoding="utf-8"))
    data["roles"]["compliance_twin"] = copy.deepcopy(data["roles"]["compliance_officer"])
    path = tmp_path / "roles.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return parse_policies(path.read_text(encoding="utf-8"), path)


def test_a_pseudonym_is_stable_for_one_role_and_differs_across_roles(tmp_path: Path) -> None:
    pol = pseudonym_twin_policies(tmp_path)
    officer, twin = any_allowed(pol, "compliance_officer"), any_allowed(pol, "compliance_twin")
    row = ROWS["policies"]
    first = shape(officer, "policies", row, pseudonym_key=KEY).values["policy_number"]
    again = shape(officer, "policies", dict(row), pseudonym_key=KEY).values["policy_number"]
    other = shape(twin, "policies", row, pseudonym_key=KEY).values["policy_number"]
    assert first == again
    assert first != other
    assert first != row["policy_number"]


def test_pseudonyms_differ_across_fields_for_equal_values() -> None:
    decision = any_allowed(policies(), "compliance_officer")
    same = "X2024000001"
    policy = shape(decision, "policies", {"policy_number": same}, pseudonym_key=KEY)
    claim = shape(decision, "claims", {"claim_number": same}, pseudonym_key=KEY)
    assert policy.values["policy_number"] != claim.values["claim_number"]


def test_a_pseudonym_depends_on_the_key() -> None:
    decision = any_allowed(policies(), "compliance_officer")
    row = {"policy_number": "P2024000123"}
    one = shape(decision, "policies", row, pseudonym_key=KEY).values["policy_number"]
    two = shape(decision, "policies", row, pseudonym_key=bytes(32)).values["policy_number"]
    assert one != two


def full_360() -> dict[str, Any]:
    return PROFILE | {
        "source_links": [{"source_system": "crm", "source_id": "C-000123"}],
        **{t: [ROWS[t]] for t in ("policies", "claims", "interactions", "consents")},
    }


@pytest.mark.parametrize("role", ["analyst", "admin"])
def test_analyst_and_admin_get_no_customer_field(role: str) -> None:
    for purpose in PURPOSES:
        assert not isinstance(
            policies().decide(role, "customer.read", purpose, customer_org_unit=str(ORG)),
            Allowed,
        )
    for table in VIEW_TABLES:
        assert all(expected_view(role, table, f.name) == "hidden" for f in registry()[table].fields)
    shaped = shape_360(any_allowed(policies(), role), full_360(), pseudonym_key=KEY)
    assert shaped.values == {}
    assert shaped.clear_fields == shaped.masked_fields == shaped.pseudonym_fields == []


def test_a_360_record_is_shaped_part_by_part_and_unseen_parts_are_left_out() -> None:
    decision = any_allowed(policies(), "claims_adjuster")
    record = full_360()
    shaped = shape_360(decision, record, pseudonym_key=KEY, redact=fake_redact)
    values = shaped.values
    assert values["id_number"] == PROFILE["id_number"]
    internal = {"content_digest"}  # not listed for adjusters, so hidden
    assert values["claims"] == [{k: v for k, v in ROWS["claims"].items() if k not in internal}]
    assert values["interactions"][0]["note"] == fake_redact(
        ROWS["interactions"]["note"], known_values(PROFILE)
    )
    assert "consents" not in values  # claims adjusters see nothing of consents
    assert "source_links" not in values
    assert "customers.id_number" in shaped.clear_fields
    assert "claims.description" in shaped.clear_fields
    assert "interactions.note" in shaped.masked_fields


def test_the_360_clear_fields_are_exactly_the_fields_returned_in_clear() -> None:
    decision = any_allowed(policies(), "customer_service")
    shaped = shape_360(decision, full_360(), pseudonym_key=KEY, redact=fake_redact)
    expected = {
        f"{table}.{f.name}"
        for table in VIEW_TABLES
        for f in registry()[table].fields
        if expected_view("customer_service", table, f.name) == "clear"
        and (f.name in PROFILE if table == "customers" else True)
        and (table != "source_links" or f.name in ("source_system", "source_id"))
    }
    assert set(shaped.clear_fields) == expected


def test_known_values_for_redaction_are_the_customers_personal_values_by_field_name() -> None:
    known = known_values(PROFILE | {"email": None})
    assert known["full_name"] == "张伟"
    assert known["mobile"] == "+8613812345678"
    assert known["birth_date"] == "1949-12-31"
    assert "email" not in known
    assert "org_unit_id" not in known


def test_a_null_value_stays_null_and_is_not_counted_as_revealed() -> None:
    decision = any_allowed(policies(), "customer_service")
    shaped = shape(
        decision, "customers", PROFILE | {"email": None, "full_name": None}, pseudonym_key=KEY
    )
    assert shaped.values["email"] is None
    assert shaped.values["full_name"] is None
    assert "customers.full_name" not in shaped.clear_fields
    assert "customers.email" not in shaped.masked_fields


def test_keys_that_are_not_registry_fields_are_dropped() -> None:
    decision = any_allowed(policies(), "claims_adjuster")
    shaped = shape(
        decision,
        "customers",
        PROFILE | {"password": "hunter2", "mobile_bidx": b"x"},
        pseudonym_key=KEY,
    )
    assert "password" not in shaped.values
    assert "mobile_bidx" not in shaped.values


def test_a_record_outside_an_org_unit_decision_is_refused() -> None:
    decision = any_allowed(policies(), "customer_service")
    with pytest.raises(AccessDenied, match="outside"):
        shape(decision, "customers", PROFILE | {"org_unit_id": 8}, pseudonym_key=KEY)
    with pytest.raises(AccessDenied, match="outside"):
        shape_360(decision, full_360() | {"org_unit_id": None}, pseudonym_key=KEY)


def test_shaping_for_another_purpose_than_decided_is_refused() -> None:
    decision = any_allowed(policies(), "customer_service")
    with pytest.raises(AccessDenied, match="purpose"):
        shape(decision, "customers", PROFILE, purpose="marketing", pseudonym_key=KEY)
    same = shape(decision, "customers", PROFILE, purpose=decision.purpose, pseudonym_key=KEY)
    assert same.values["full_name"] == "张伟"


def test_a_table_outside_the_customer_360_has_no_views() -> None:
    decision = any_allowed(policies(), "customer_service")
    with pytest.raises(KeyError):
        shape(decision, "data_keys", {"wrapped": b"x"}, pseudonym_key=KEY)


_SCALARS = st.one_of(
    st.text(max_size=30), st.integers(), st.none(), st.dates(), st.decimals(allow_nan=False)
)


@pytest.mark.parametrize("role", sorted(yaml.safe_load(ROLES_YAML.read_text("utf-8"))["roles"]))
@given(data=st.data())
def test_for_any_values_hidden_fields_never_appear_and_clear_fields_are_untouched(
    role: str, data: st.DataObject
) -> None:
    decision = any_allowed(policies(), role)
    table = data.draw(st.sampled_from(VIEW_TABLES))
    names = [f.name for f in registry()[table].fields]
    row = data.draw(st.fixed_dictionaries({}, optional=dict.fromkeys(names, _SCALARS)))
    if table == "customers":
        row["org_unit_id"] = ORG
    shaped = shape(decision, table, row, pseudonym_key=KEY, redact=fake_redact, known=KNOWN)
    for name, value in row.items():
        view = expected_view(role, table, name)
        if view in ("hidden", "conditional"):
            assert name not in shaped.values
        elif view == "clear" or value is None:
            assert shaped.values[name] == value
        else:
            assert isinstance(shaped.values[name], str)


def test_the_field_view_tables_in_docs_match_the_policy_file() -> None:
    lines = (REPO / "docs" / "policies.md").read_text(encoding="utf-8").splitlines()
    table = ""
    roles: list[str] = []
    checked = 0
    for line in lines:
        if line.startswith("#"):
            table, roles = line.removeprefix("#### ").strip() if line.startswith("####") else "", []
        elif table and line.startswith("| field |"):
            roles = [c.strip() for c in line.strip("|").split("|")][1:]
        elif table and roles and line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            field = cells[0].strip("`")
            for role, cell in zip(roles, cells[1:], strict=True):
                view = expected_view(role, table, field)
                if view == "conditional":
                    assert cell.startswith("clear if consent"), (role, table, field)
                else:
                    assert cell == ("·" if view == "hidden" else view), (role, table, field)
                checked += 1
    documented = {r for r in raw_roles() if any(raw_roles()[r].get("fields") or {})}
    viewable = [f for t in VIEW_TABLES for f in registry()[t].fields if f.redaction_of is None]
    assert checked == len(documented) * len(viewable)
