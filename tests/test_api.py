"""The access API over real HTTP: a uvicorn server, a real database, the real policy file.

The authorization matrix over every endpoint, generated from ``policies/roles.yaml``,
lives in ``test_api_authorization_matrix.py``; this file holds the behaviour by example.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from api_support import client, running_api
from helpers import customer, resident_id, write_csv

from vault.errors import ValidationError
from vault.import_format import CONSENT_COLUMNS, CUSTOMER_COLUMNS, INTERACTION_COLUMNS
from vault.policy import load_policies
from vault.services.customers import find_customers, read_customer
from vault.services.importing import ImportSources, import_files
from vault.services.principals import add_principal
from vault.services.runtime import Vault
from vault.settings import PACKAGED_POLICIES, Settings

POLICIES = load_policies(PACKAGED_POLICIES / "roles.yaml")
ZHANG_ID = resident_id("11010519900307001")
LI_ID = resident_id("31010419850615002")
NOTE = "客户张伟来电，手机138-1234-5678，要求修改地址"


@dataclasses.dataclass
class Api:
    url: str
    keys: dict[str, str]
    zhang: uuid.UUID
    li: uuid.UUID
    vault: Vault
    clients: list[httpx.Client] = dataclasses.field(default_factory=list)

    def as_role(self, role: str, purpose: str | None) -> httpx.Client:
        return self.track(client(self.url, self.keys[role], purpose))

    def track(self, c: httpx.Client) -> httpx.Client:
        self.clients.append(c)
        return c


def _seed(vault: Vault, tmp_path: Path) -> tuple[uuid.UUID, uuid.UUID]:
    customers = [
        customer(
            source_system="crm",
            source_id="C1",
            full_name="张伟",
            id_type="resident_id",
            id_number=ZHANG_ID,
            mobile="138-1234-5678",
            email="zhangwei@163.com",
            address="上海市浦东新区世纪大道100号",
            province="上海",
            city="上海",
            postcode="200120",
            annual_income="300000",
            org_unit="SH-01",
        ),
        customer(
            source_system="crm",
            source_id="C2",
            full_name="李娜",
            id_type="resident_id",
            id_number=LI_ID,
            mobile="13912345678",
            email="lina@qq.com",
            org_unit="BJ-01",
        ),
    ]
    interactions = [
        {
            "source_system": "crm",
            "customer_source_id": "C1",
            "occurred_at": "2024-05-01T09:30:00Z",
            "channel": "phone",
            "direction": "inbound",
            "topic": "address_change",
            "note": NOTE,
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
        },
        {
            "source_system": "crm",
            "customer_source_id": "C2",
            "purpose": "marketing",
            "channel": "sms",
            "status": "granted",
            "recorded_at": "2024-01-01T00:00:00Z",
        },
        {
            "source_system": "crm",
            "customer_source_id": "C2",
            "purpose": "marketing",
            "channel": "sms",
            "status": "withdrawn",
            "recorded_at": "2024-06-01T00:00:00Z",
        },
    ]
    import_files(
        vault,
        ImportSources(
            customers=write_csv(tmp_path / "c.csv", customers, CUSTOMER_COLUMNS),
            interactions=write_csv(tmp_path / "i.csv", interactions, INTERACTION_COLUMNS),
            consents=write_csv(tmp_path / "k.csv", consents, CONSENT_COLUMNS),
        ),
    )
    return (
        find_customers(vault, "id_number", ZHANG_ID)[0],
        find_customers(vault, "id_number", LI_ID)[0],
    )


@pytest.fixture
def api(vault: Vault, settings: Settings, tmp_path: Path) -> Iterator[Api]:
    zhang, li = _seed(vault, tmp_path)
    keys = {}
    for role in POLICIES.roles:
        org_unit = "SH-01" if POLICIES.role(role).scope.value == "org_unit" else None
        _, keys[role] = add_principal(
            vault,
            f"p-{role.replace('_', '-')}",
            role,
            known_roles=POLICIES.roles,
            org_unit=org_unit,
        )
    with running_api(settings) as url:
        handle = Api(url, keys, zhang, li, vault)
        try:
            yield handle
        finally:
            for c in handle.clients:
                c.close()


def _events(vault: Vault) -> list[dict[str, object]]:
    with vault.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM audit_events ORDER BY seq")).mappings()
        return [dict(r) for r in rows]


# --- authentication, purpose, problems ------------------------------------------------


def test_health_needs_no_key_and_reveals_nothing(api: Api) -> None:
    response = httpx.get(f"{api.url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("key", [None, "nonsense", "cdv_0000000000000000_" + "A" * 43])
def test_missing_or_unknown_keys_get_401_problem_details(api: Api, key: str | None) -> None:
    response = api.track(client(api.url, key, "customer_support")).get(f"/v1/customers/{api.zhang}")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["status"] == 401


def test_a_revoked_key_gets_401(api: Api) -> None:
    from vault.services.principals import revoke_principal

    revoke_principal(api.vault, "p-claims-adjuster")
    response = api.as_role("claims_adjuster", "claims_processing").get(f"/v1/customers/{api.zhang}")
    assert response.status_code == 401


def test_a_request_without_purpose_gets_400(api: Api) -> None:
    response = api.as_role("claims_adjuster", None).get(f"/v1/customers/{api.zhang}")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "X-Purpose"


def test_a_purpose_not_allowed_for_the_role_gets_403_and_is_audited(api: Api) -> None:
    response = api.as_role("customer_service", "marketing").get(f"/v1/customers/{api.zhang}")
    assert response.status_code == 403
    denied = [e for e in _events(api.vault) if e["outcome"] == "denied"]
    assert len(denied) == 1
    assert denied[0]["principal"] == "p-customer-service"
    assert denied[0]["purpose"] == "marketing"


def test_customer_service_is_confined_to_its_org_unit(api: Api) -> None:
    cs = api.as_role("customer_service", "customer_support")
    assert cs.get(f"/v1/customers/{api.zhang}").status_code == 200
    assert cs.get(f"/v1/customers/{api.li}").status_code == 403


def test_an_unknown_customer_is_404_without_detail(api: Api) -> None:
    response = api.as_role("claims_adjuster", "claims_processing").get(
        f"/v1/customers/{uuid.uuid4()}"
    )
    assert response.status_code == 404


def test_every_response_is_no_store_and_carries_a_request_id(api: Api) -> None:
    for response in (
        httpx.get(f"{api.url}/healthz"),
        api.as_role("claims_adjuster", "claims_processing").get(f"/v1/customers/{api.zhang}"),
        api.as_role("claims_adjuster", None).get(f"/v1/customers/{api.zhang}"),
    ):
        assert response.headers["cache-control"] == "no-store"
        assert re.fullmatch(r"rq[0-9a-f]{16}", response.headers["x-request-id"])


# --- views ----------------------------------------------------------------------------


def test_customer_service_sees_names_clear_contact_and_id_masked_notes_redacted(api: Api) -> None:
    view = (
        api.as_role("customer_service", "customer_support").get(f"/v1/customers/{api.zhang}").json()
    )
    assert view["full_name"] == "张伟"
    assert view["mobile"] == "138****5678"
    assert view["id_number"] == ZHANG_ID[0] + "*" * 16 + ZHANG_ID[-1]
    assert view["email"] == "z***@163.com"
    note = view["interactions"][0]["note"]
    assert "138-1234-5678" not in note
    assert "张伟" not in note
    assert "要求修改地址" in note


def test_claims_adjuster_sees_the_id_number_in_clear(api: Api) -> None:
    view = (
        api.as_role("claims_adjuster", "claims_processing").get(f"/v1/customers/{api.zhang}").json()
    )
    assert view["id_number"] == ZHANG_ID


def test_notification_service_gets_contact_details_only_with_consent(api: Api) -> None:
    ns = api.as_role("notification_service", "marketing")
    granted = ns.get(f"/v1/customers/{api.zhang}").json()
    withdrawn = ns.get(f"/v1/customers/{api.li}").json()
    assert granted["mobile"] == "+8613812345678"
    assert "email" not in granted  # consent is for sms only
    assert "mobile" not in withdrawn  # granted, then withdrawn: the latest wins
    service = (
        api.as_role("notification_service", "service_notice")
        .get(f"/v1/customers/{api.zhang}")
        .json()
    )
    assert "mobile" not in service  # consent was for marketing, not service notices


def test_reads_are_audited_with_the_fields_returned_in_clear(api: Api) -> None:
    api.as_role("claims_adjuster", "claims_processing").get(f"/v1/customers/{api.zhang}")
    (event,) = [e for e in _events(api.vault) if e["outcome"] == "allowed"]
    assert event["action"] == "read"
    assert event["principal"] == "p-claims-adjuster"


# --- search -----------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["13812345678", "138-1234-5678", "+86 138 1234 5678"])
def test_search_by_any_mobile_spelling_in_the_body(api: Api, spelling: str) -> None:
    response = api.as_role("claims_adjuster", "claims_processing").post(
        "/v1/customers/search", json={"mobile": spelling}
    )
    assert response.status_code == 200
    items = response.json()["items"]
    assert [i["id"] for i in items] == [str(api.zhang)]


def test_search_needs_exactly_one_identifier(api: Api) -> None:
    response = api.as_role("claims_adjuster", "claims_processing").post(
        "/v1/customers/search", json={"mobile": "13812345678", "email": "a@b.cn"}
    )
    assert response.status_code == 422


def test_search_out_of_scope_customers_are_not_returned(api: Api) -> None:
    response = api.as_role("customer_service", "customer_support").post(
        "/v1/customers/search", json={"id_number": LI_ID}
    )
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


# --- writes -----------------------------------------------------------------------------


def test_creating_a_customer_and_rejecting_bad_input_without_storing_it(api: Api) -> None:
    crm = api.as_role("crm_integration", "customer_support")
    ok = crm.post("/v1/customers", json={"full_name": "王芳", "mobile": "13700001111"})
    assert ok.status_code == 201, ok.text
    assert ok.json()["outcome"] == "imported"
    bad = crm.post("/v1/customers", json={"full_name": "赵敏", "mobile": "1370000"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "mobile"
    assert "1370000" not in bad.text
    bad_id = crm.post(
        "/v1/customers",
        json={"full_name": "赵敏", "id_type": "resident_id", "id_number": ZHANG_ID[:-1] + "0"},
    )
    assert bad_id.status_code == 422
    unknown = crm.post("/v1/customers", json={"full_name": "x", "shoe_size": 42})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "shoe_size"
    too_long = crm.post("/v1/customers", json={"full_name": "x" * 101})
    assert too_long.status_code == 422


def test_an_oversize_body_gets_413(api: Api) -> None:
    crm = api.as_role("crm_integration", "customer_support")
    response = crm.post(
        "/v1/customers",
        content=b'{"full_name": "' + b"x" * 300_000 + b'"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413


def test_an_oversize_streamed_body_gets_413_and_stores_nothing(api: Api) -> None:
    """A chunked body declares no length: the limit must still answer 413, not 400."""
    crm = api.as_role("crm_integration", "customer_support")
    before = find_customers(api.vault, "mobile", "13700002222")

    def chunks() -> Iterator[bytes]:
        yield b'{"full_name": "\xe7\x8e\x8b\xe8\x8a\xb3", "mobile": "13700002222", "notes": "'
        for _ in range(40):
            yield b"x" * 8192
        yield b'"}'

    response = crm.post(
        "/v1/customers", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 413
    assert before == find_customers(api.vault, "mobile", "13700002222") == []


def test_patch_changes_only_the_given_fields(api: Api) -> None:
    cs = api.as_role("customer_service", "customer_support")
    response = cs.patch(f"/v1/customers/{api.zhang}", json={"email": "new@example.cn"})
    assert response.status_code == 200, response.text
    adjuster = api.as_role("claims_adjuster", "claims_processing")
    view = adjuster.get(f"/v1/customers/{api.zhang}").json()
    assert view["id_number"] == ZHANG_ID
    assert find_customers(api.vault, "email", "NEW@example.cn") == [api.zhang]


def test_sub_resources_are_added_to_the_customer(api: Api) -> None:
    crm = api.as_role("crm_integration", "customer_support")
    policy = {
        "policy_number": "POL202400000009",
        "product_line": "health",
        "status": "active",
        "start_date": "2024-01-01",
        "annual_premium": 100,
        "sum_insured": 1000,
        "sales_channel": "online",
    }
    assert crm.post(f"/v1/customers/{api.zhang}/policies", json=policy).status_code == 201
    claim = {
        "policy_number": "POL202400000009",
        "claim_number": "CLM202400000009",
        "incident_date": "2024-02-01",
        "reported_date": "2024-02-02",
        "claim_type": "medical",
        "claimed_amount": 50,
        "status": "reported",
    }
    assert crm.post(f"/v1/customers/{api.zhang}/claims", json=claim).status_code == 403
    claims = api.as_role("crm_integration", "claims_processing")  # claims need that purpose
    assert claims.post(f"/v1/customers/{api.zhang}/claims", json=claim).status_code == 201
    taken = crm.post(f"/v1/customers/{api.li}/policies", json=policy)
    assert taken.status_code == 409
    view = (
        api.as_role("claims_adjuster", "claims_processing").get(f"/v1/customers/{api.zhang}").json()
    )
    assert [c["status"] for c in view["claims"]] == ["reported"]


# --- audit ------------------------------------------------------------------------------


def test_compliance_reads_events_verifies_the_chain_and_gets_access_reports(api: Api) -> None:
    api.as_role("claims_adjuster", "claims_processing").get(f"/v1/customers/{api.zhang}")
    api.as_role("customer_service", "marketing").get(f"/v1/customers/{api.zhang}")
    officer = api.as_role("compliance_officer", "audit_review")
    events = officer.get("/v1/audit/events", params={"customer_id": str(api.zhang)}).json()
    outcomes = [e["outcome"] for e in events["events"]]
    assert outcomes[:2] == ["allowed", "denied"]
    verify = officer.get("/v1/audit/verify").json()
    assert verify["ok"] is True
    report = officer.get(f"/v1/customers/{api.zhang}/access-report").json()
    assert {e["principal"] for e in report["entries"]} >= {
        "p-claims-adjuster",
        "p-customer-service",
    }
    assert api.as_role("claims_adjuster", "audit_review").get("/v1/audit/events").status_code == 403


def test_a_read_fails_closed_when_the_audit_event_cannot_be_written(api: Api) -> None:
    with api.vault.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE audit_events RENAME TO audit_events_away")
    try:
        response = api.as_role("claims_adjuster", "claims_processing").get(
            f"/v1/customers/{api.zhang}"
        )
        assert response.status_code == 503
        assert "张伟" not in response.text
        assert ZHANG_ID not in response.text
    finally:
        with api.vault.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE audit_events_away RENAME TO audit_events")


def test_request_ids_are_always_accepted_by_the_audit_log() -> None:
    """A request id must never look like a phone or ID number (the audit log refuses those)."""
    from api.middleware import new_request_id
    from vault.audit import Action, AuditEvent, Outcome

    for _ in range(5000):
        AuditEvent(
            principal="p",
            role="r",
            purpose="x",
            action=Action.READ,
            outcome=Outcome.ALLOWED,
            request_id=new_request_id(),
        )
    bare = "1234567890123456"
    with pytest.raises(ValidationError):
        AuditEvent(
            principal="p",
            role="r",
            purpose="x",
            action=Action.READ,
            outcome=Outcome.ALLOWED,
            request_id=bare,
        )


def test_redact_strips_pii_from_text_next_to_chinese(api: Api) -> None:
    cs = api.as_role("customer_service", "customer_support")
    response = cs.post(
        "/v1/redact", json={"text": "客户张伟来电，手机13812345678，邮箱zhang@163.com谢谢"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "13812345678" not in body["text"]
    assert "zhang@163.com" not in body["text"]
    assert {e["type"] for e in body["entities"]} >= {"MOBILE", "EMAIL"}
    assert (
        api.as_role("analyst", "analytics").post("/v1/redact", json={"text": "x"}).status_code
        == 403
    )


def test_audit_is_complete_for_a_mix_of_requests(api: Api) -> None:
    """N mixed requests leave exactly the expected events, no more, no fewer."""
    adjuster = api.as_role("claims_adjuster", "claims_processing")
    cs = api.as_role("customer_service", "customer_support")
    expected: list[tuple[str, str, str]] = []  # (principal, action, outcome)
    for _ in range(3):
        assert adjuster.get(f"/v1/customers/{api.zhang}").status_code == 200
        expected.append(("p-claims-adjuster", "read", "allowed"))
    assert cs.get(f"/v1/customers/{api.li}").status_code == 403  # out of its org unit
    expected.append(("p-customer-service", "read", "denied"))
    assert api.as_role("analyst", "analytics").get(f"/v1/customers/{api.zhang}").status_code == 403
    expected.append(("p-analyst", "read", "denied"))
    found = adjuster.post("/v1/customers/search", json={"mobile": "138 1234 5678"})
    assert len(found.json()["items"]) == 1
    expected.append(("p-claims-adjuster", "search", "allowed"))
    assert cs.patch(f"/v1/customers/{api.zhang}", json={"city": "上海"}).status_code == 200
    expected += [("p-customer-service", "update", "allowed")] * 2  # intent, then result
    assert adjuster.get("/healthz").status_code == 200  # no customer data: no event
    assert api.as_role("claims_adjuster", None).get(f"/v1/customers/{api.zhang}").status_code == 400
    events = [(e["principal"], e["action"], e["outcome"]) for e in _events(api.vault)]
    assert events == expected


def test_an_unknown_purpose_is_denied_and_audited_without_its_text(api: Api) -> None:
    """A purpose header is caller-controlled text: it must not reach the audit log raw."""
    for purpose in ("zhang.wei", "call about 13800138000"):
        response = api.as_role("claims_adjuster", purpose).get(f"/v1/customers/{api.zhang}")
        assert response.status_code == 403
    denied = [e for e in _events(api.vault) if e["outcome"] == "denied"]
    assert [e["purpose"] for e in denied] == ["unknown", "unknown"]
    assert "13800138000" not in repr(_events(api.vault))


def test_custom_attributes_cannot_shadow_profile_fields(api: Api) -> None:
    crm = api.as_role("crm_integration", "customer_support")
    response = crm.post(
        "/v1/customers",
        json={
            "full_name": "王芳",
            "mobile": "13700001111",
            "custom_attributes": {"source_system": "zzz"},
        },
    )
    assert response.status_code == 422
    assert find_customers(api.vault, "mobile", "13700001111") == []


def test_custom_attributes_that_look_like_personal_data_get_422_and_store_nothing(
    api: Api,
) -> None:
    crm = api.as_role("crm_integration", "customer_support")
    for attributes in ({"qq_number": "x"}, {"backup_contact": "13900001111"}):
        response = crm.post(
            "/v1/customers",
            json={"full_name": "王芳", "mobile": "13700001111", "custom_attributes": attributes},
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == next(iter(attributes))
        assert "13900001111" not in response.text
    assert find_customers(api.vault, "mobile", "13700001111") == []


def _scoped_creator(vault: Vault, settings: Settings, tmp_path: Path) -> tuple[Settings, str]:
    """Settings whose customer_service role may also create, and such a principal in SH-01."""
    policies = tmp_path / "policies"
    shutil.copytree(PACKAGED_POLICIES, policies)
    roles = policies / "roles.yaml"
    text = roles.read_text(encoding="utf-8")
    marker = "      - customer.read\n"
    start = text.index("  customer_service:")
    at = text.index(marker, start) + len(marker)
    roles.write_text(text[:at] + "      - customer.create\n" + text[at:], encoding="utf-8")
    custom = dataclasses.replace(settings, policies_dir=policies)
    _, key = add_principal(
        vault,
        "cs-creator",
        "customer_service",
        known_roles=load_policies(roles).roles,
        org_unit="SH-01",
        kind="employee",
    )
    return custom, key


def test_an_org_unit_scoped_creator_creates_only_in_its_own_unit(
    vault: Vault, settings: Settings, tmp_path: Path
) -> None:
    """Scope of a create is the new customer's org unit, not the caller's: none is no unit."""
    _seed(vault, tmp_path)  # the org units SH-01 and BJ-01 exist
    custom, key = _scoped_creator(vault, settings, tmp_path)
    with running_api(custom) as url, client(url, key, "customer_support") as cs:
        own = cs.post(
            "/v1/customers",
            json={"full_name": "王芳", "mobile": "13700001111", "org_unit": "SH-01"},
        )
        assert own.status_code == 201, own.text
        other = cs.post(
            "/v1/customers",
            json={"full_name": "赵敏", "mobile": "13700003333", "org_unit": "BJ-01"},
        )
        assert other.status_code == 403
        unplaced = cs.post("/v1/customers", json={"full_name": "钱多", "mobile": "13700002222"})
        assert unplaced.status_code == 403
    assert not find_customers(vault, "mobile", "13700002222")
    denied = [e for e in _events(vault) if e["outcome"] == "denied"]
    assert [e["principal"] for e in denied] == ["cs-creator", "cs-creator"]


def test_a_create_cannot_attach_to_a_customer_outside_the_callers_scope(
    vault: Vault, settings: Settings, tmp_path: Path
) -> None:
    """Identity resolution finds 李娜 (BJ-01) by ID number or name and mobile: 403, nothing kept.

    Without the check, an SH-01 creator naming its own unit would have merged its
    row into the BJ-01 customer (changing her e-mail) and been told her id.
    """
    _seed(vault, tmp_path)
    custom, key = _scoped_creator(vault, settings, tmp_path)
    (li,) = find_customers(vault, "mobile", "13912345678")
    (zhang,) = find_customers(vault, "mobile", "13812345678")
    attempts = [
        {"full_name": "李娜", "id_type": "resident_id", "id_number": LI_ID},
        {"full_name": "李娜", "mobile": "13912345678"},
    ]
    with running_api(custom) as url, client(url, key, "customer_support") as cs:
        for i, body in enumerate(attempts):
            body |= {"org_unit": "SH-01", "email": f"taken{i}@example.com", "source_id": f"X{i}"}
            response = cs.post("/v1/customers", json=body)
            assert response.status_code == 403, response.text
            assert str(li) not in response.text
            assert LI_ID not in response.text
        # In scope, the same resolution still merges (张伟 is in SH-01).
        mine = cs.post(
            "/v1/customers",
            json={
                "full_name": "张伟",
                "id_type": "resident_id",
                "id_number": ZHANG_ID,
                "org_unit": "SH-01",
                "source_id": "X9",
            },
        )
        assert mine.status_code == 201, mine.text
        assert mine.json() == {"id": str(zhang), "outcome": "merged"}
    assert read_customer(vault, li)["email"] == "lina@qq.com"
    for i in range(len(attempts)):
        assert find_customers(vault, "email", f"taken{i}@example.com") == []
    with vault.engine.connect() as conn:
        links = conn.execute(sa.text("SELECT source_id FROM source_links")).scalars().all()
    assert {"X0", "X1"}.isdisjoint(links)
    assert "X9" in links
    denied = [e for e in _events(vault) if e["outcome"] == "denied"]
    assert len(denied) == len(attempts)
    assert all(str(li) in str(e["customer_ids"]) for e in denied)
