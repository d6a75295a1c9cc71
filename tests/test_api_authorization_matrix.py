"""The authorization matrix: every role x endpoint x purpose (x target org unit), over real HTTP.

Generated from ``policies/roles.yaml`` as the vault's own loader reads it: the
expected outcome of every request is derived from the role's allowed actions,
the purposes each action is allowed for, and the role's scope -- never written
down per role -- so a change to the policy file changes the expectations.
Reads (``GET /v1/customers/{id}`` and search results) are compared field by
field with the view the policy names for that role and purpose: the value in
clear, its format-aware mask (free text: the redaction engine's output), the
role's keyed pseudonym, or absent.  Denials must be 403 and audited as denied;
a missing ``X-Purpose`` must be 400 and leave no event.

One server and one database per back end serve the whole module (see the
``matrix`` fixture); writes go to scratch customers so the read targets stay as
seeded, and erasures each get a customer of their own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from api_support import client, running_api
from db_support import BACKENDS, fresh_database
from helpers import resident_id
from pydantic import TypeAdapter

from api.app import create_app
from vault import masking
from vault.audit.records import events_table
from vault.errors import NotFoundError
from vault.keyring import create_keyring
from vault.masking import Pseudonymise
from vault.policy import ACTIONS, PURPOSES, Scope, View, known_values, load_policies
from vault.redaction import Redactor
from vault.schema import PiiType, registry
from vault.services.customers import find_customers, read_customer
from vault.services.importing import import_one
from vault.services.principals import add_principal
from vault.services.runtime import Vault, open_vault
from vault.settings import PACKAGED_POLICIES, Settings

POLICIES = load_policies(PACKAGED_POLICIES / "roles.yaml")
PURPOSE_CASES: list[str | None] = [*sorted(PURPOSES), None, "no_such_purpose"]
"""Every purpose the vault knows, a missing header, and one it does not know."""
OWN_UNIT, OTHER_UNIT = "SH-01", "BJ-01"
TARGETS = ("own_unit", "other_unit")
"""Customers in the org unit of the org-unit-scoped principals, and in another one."""
CHILD_TABLES = ("source_links", "policies", "claims", "interactions", "consents")

ZHANG_ID = resident_id("11010519900307001")
LI_ID = resident_id("31010419850615002")
ZHANG_NOTE = "客户张伟来电，手机138-1234-5678，要求修改地址"
ZHANG_CLAIM = "张伟住院治疗，联系电话13812345678，邮箱zhangwei@163.com"
SEEDED_PII = (
    "张伟",
    ZHANG_ID,
    "13812345678",
    "zhangwei@163.com",
    "世纪大道100号",
    "李娜",
    LI_ID,
    "13912345678",
    "lina@qq.com",
)

TARGETED_CASES = [
    pytest.param(role, purpose, target, id=f"{role}-{purpose or 'no-purpose'}-{target}")
    for role, purpose, target in itertools.product(POLICIES.roles, PURPOSE_CASES, TARGETS)
]
UNTARGETED_CASES = [
    pytest.param(role, purpose, id=f"{role}-{purpose or 'no-purpose'}")
    for role, purpose in itertools.product(POLICIES.roles, PURPOSE_CASES)
]


# --- the expectation, from the policy alone ----------------------------------------------


def principal_name(role: str) -> str:
    return f"p-{role.replace('_', '-')}"


def principal_unit(role: str) -> str | None:
    return OWN_UNIT if POLICIES.role(role).scope is Scope.ORG_UNIT else None


def target_unit(target: str) -> str:
    return OWN_UNIT if target == "own_unit" else OTHER_UNIT


def expected_status(role: str, action: str, purpose: str | None, target: str | None) -> int | None:
    """400 or 403 if the policy refuses ``action``; ``None`` if it allows it.

    Read off the role's policy: the action must be granted, the purpose must be
    one the action is allowed for (``action_purposes``, else the role's
    purposes), and an org-unit-scoped role reaches only customers of its own
    unit for actions that concern one customer.
    """
    if purpose is None:
        return 400
    policy = POLICIES.role(role)
    if action not in policy.actions:
        return 403
    if purpose not in policy.action_purposes.get(action, policy.purposes):
        return 403
    if (
        target is not None
        and ACTIONS[action].targets_customer
        and policy.scope is Scope.ORG_UNIT
        and principal_unit(role) != target_unit(target)
    ):
        return 403
    return None


def in_scope(role: str, target: str) -> bool:
    """Whether a customer of ``target`` is within the role's scope (searches filter by it)."""
    return POLICIES.role(role).scope is Scope.ALL or principal_unit(role) == target_unit(target)


def consented_channels(consents: list[Mapping[str, Any]], purpose: str) -> frozenset[str]:
    """Channels whose latest consent for ``purpose`` is a grant."""
    latest: dict[str, Mapping[str, Any]] = {}
    for consent in sorted(consents, key=lambda c: c["recorded_at"]):
        if consent["purpose"] == purpose:
            latest[consent["channel"]] = consent
    return frozenset(ch for ch, c in latest.items() if c["status"] == "granted")


def as_text(value: object) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


# --- the shared server -------------------------------------------------------------------


@dataclasses.dataclass
class Matrix:
    url: str
    vault: Vault
    keys: dict[str, str]
    customers: dict[str, uuid.UUID]
    """``own_unit``/``other_unit``: the read targets; ``write_*``: scratch write targets."""
    policies_of: dict[str, str]
    """Scratch write target -> the policy number a claim can be filed against."""
    redactor: Redactor
    pseudonym_key: bytes
    exports_dir: Path
    clients: dict[tuple[str, str | None], httpx.Client] = dataclasses.field(default_factory=dict)
    counter: Iterator[int] = dataclasses.field(default_factory=lambda: itertools.count(1))

    def as_role(self, role: str, purpose: str | None) -> httpx.Client:
        if (role, purpose) not in self.clients:
            self.clients[role, purpose] = client(self.url, self.keys[role], purpose)
        return self.clients[role, purpose]

    def unique(self) -> int:
        return next(self.counter)

    def new_customer(self, unit: str) -> uuid.UUID:
        """A customer of its own (for an erasure), in org unit ``unit``."""
        n = self.unique()
        mobile = f"1370000{n:04d}"
        raw = {
            "source_system": "crm",
            "source_id": f"D{n}",
            "full_name": "赵敏",
            "mobile": mobile,
            "org_unit": unit,
        }
        import_one(self.vault, "customers", raw)
        (found,) = find_customers(self.vault, "mobile", mobile)
        return found

    # -- the exact view a role should get --

    def expected_view(self, role: str, purpose: str, customer_id: uuid.UUID) -> dict[str, Any]:
        """The 360 view of ``customer_id`` for ``role`` and ``purpose``, from the policy.

        Each field as the role's view says: clear (the value, JSON-encoded as the
        API encodes it), masked (the masker of the field's PII type; free text:
        the redaction engine with the customer's known values), pseudonym (the
        role's keyed token for that field), hidden (absent).  A consent-bound
        field is clear only if the latest consent for the purpose on one of its
        channels is a grant.  A list whose table the role sees nothing of is absent.
        """
        raw = read_customer(self.vault, customer_id)
        encoded = TypeAdapter(Any).dump_python(raw, mode="json")
        granted = consented_channels(raw.get("consents") or [], purpose)
        known = known_values(raw)
        views = POLICIES.role(role).views
        view = self._row(role, "customers", raw, encoded, granted, known)
        for table in CHILD_TABLES:
            if any(
                k.startswith(f"{table}.") and v.view is not View.HIDDEN for k, v in views.items()
            ):
                view[table] = [
                    self._row(role, table, r, e, granted, known)
                    for r, e in zip(raw[table], encoded[table], strict=True)
                ]
        return view

    def _row(
        self,
        role: str,
        table: str,
        raw: Mapping[str, Any],
        encoded: Mapping[str, Any],
        granted: frozenset[str],
        known: Mapping[str, str],
    ) -> dict[str, Any]:
        schema = registry()[table]
        views = POLICIES.role(role).views
        out: dict[str, Any] = {}
        for name, value in raw.items():
            try:
                field = schema.field(name)
            except KeyError:
                continue  # not a registry field: never shown
            field_view = views.get(field.qualified_name)
            view = View.HIDDEN if field_view is None else field_view.view
            if field_view is not None and field_view.consent_channels is not None:
                view = view if field_view.consent_channels & granted else View.HIDDEN
            if view is View.HIDDEN:
                continue
            if value is None:
                out[name] = None
            elif view is View.CLEAR:
                out[name] = encoded[name]
            elif view is View.PSEUDONYM:
                pseudonymise = Pseudonymise(self.pseudonym_key, role, field.qualified_name)
                out[name] = pseudonymise.apply(as_text(value))
            elif field.free_text or field.pii_type is PiiType.FREE_TEXT:
                out[name] = self.redactor.redact(as_text(value), known=dict(known)).text
            elif field.pii_type is PiiType.ID_NUMBER:
                out[name] = masking.mask_id_number(as_text(value), raw.get("id_type"))
            else:
                out[name] = masking.mask(as_text(value), field.pii_type)
        return out

    def clear_fields(self, role: str, purpose: str, customer_id: uuid.UUID) -> set[str]:
        """``table.field`` of every non-null value the role sees in clear (the audit event's)."""
        raw = read_customer(self.vault, customer_id)
        granted = consented_channels(raw.get("consents") or [], purpose)
        views = POLICIES.role(role).views
        rows: list[tuple[str, Mapping[str, Any]]] = [("customers", raw)]
        rows += [(t, r) for t in CHILD_TABLES for r in raw.get(t) or []]
        clear = set()
        for table, row in rows:
            for name, value in row.items():
                view = views.get(f"{table}.{name}")
                if view is None or value is None or view.view is not View.CLEAR:
                    continue
                if view.consent_channels is None or view.consent_channels & granted:
                    clear.add(f"{table}.{name}")
        return clear

    def events(self, request_id: str) -> list[dict[str, Any]]:
        events = events_table()
        with self.vault.engine.connect() as conn:
            rows = conn.execute(
                sa.select(events).where(events.c.request_id == request_id).order_by(events.c.seq)
            ).mappings()
            return [dict(r) for r in rows]

    # -- the outcome --

    def settle(
        self,
        response: httpx.Response,
        role: str,
        action: str,
        purpose: str | None,
        target: str | None = None,
        *,
        success: int = 200,
    ) -> bool:
        """Assert the refusal the policy predicts, or the success status; ``True`` if allowed.

        A refusal is a problem-details 400 naming ``X-Purpose`` (no event) or a
        403 with exactly one audit event: denied, this principal, this purpose
        (``unknown`` for one the vault does not know).  No refusal carries PII.
        """
        assert response.headers["cache-control"] == "no-store"
        expected = expected_status(role, action, purpose, target)
        case = (role, action, purpose, target, response.status_code, response.text[:300])
        request_id = response.headers["x-request-id"]
        if expected is None:
            assert response.status_code == success, case
            assert not [e for e in self.events(request_id) if e["outcome"] != "allowed"], case
            return True
        assert response.status_code == expected, case
        assert response.headers["content-type"] == "application/problem+json", case
        for value in SEEDED_PII:
            assert value not in response.text, case
        events = self.events(request_id)
        if expected == 400:
            assert response.json()["errors"][0]["field"] == "X-Purpose", case
            assert events == [], case
        else:
            assert [(e["outcome"], e["principal"], e["purpose"]) for e in events] == [
                ("denied", principal_name(role), purpose if purpose in PURPOSES else "unknown")
            ], case
        return False


def _seed(vault: Vault) -> tuple[dict[str, uuid.UUID], dict[str, str]]:
    """Two fully populated read targets (one per org unit) and two scratch write targets."""
    import_one(
        vault,
        "customers",
        {
            "source_system": "crm",
            "source_id": "C1",
            "full_name": "张伟",
            "gender": "M",
            "birth_date": "1990-03-07",
            "id_type": "resident_id",
            "id_number": ZHANG_ID,
            "mobile": "138-1234-5678",
            "email": "zhangwei@163.com",
            "address": "上海市浦东新区世纪大道100号",
            "province": "上海",
            "city": "上海",
            "postcode": "200120",
            "occupation": "engineer",
            "annual_income": "300000",
            "marital_status": "married",
            "education": "bachelor",
            "org_unit": OWN_UNIT,
            "loyalty_tier": "gold",  # a custom attribute
        },
    )
    import_one(
        vault,
        "customers",
        {
            "source_system": "crm",
            "source_id": "C2",
            "full_name": "李娜",
            "gender": "F",
            "birth_date": "1985-06-15",
            "id_type": "resident_id",
            "id_number": LI_ID,
            "mobile": "13912345678",
            "email": "lina@qq.com",
            "postcode": "100010",
            "org_unit": OTHER_UNIT,
        },
    )
    for source, number in (("C1", "1"), ("C2", "2")):
        import_one(
            vault,
            "policies",
            {
                "source_system": "crm",
                "customer_source_id": source,
                "policy_number": f"POL20240000000{number}",
                "product_line": "health",
                "status": "active",
                "start_date": "2024-01-01",
                "end_date": "2025-01-01",
                "annual_premium": "1200.50",
                "sum_insured": "500000",
                "sales_channel": "agent",
            },
        )
        import_one(
            vault,
            "claims",
            {
                "source_system": "crm",
                "customer_source_id": source,
                "policy_number": f"POL20240000000{number}",
                "claim_number": f"CLM20240000000{number}",
                "incident_date": "2024-03-01",
                "reported_date": "2024-03-02",
                "claim_type": "medical",
                "claimed_amount": "800",
                "paid_amount": "700.25",
                "status": "paid",
                "description": ZHANG_CLAIM if source == "C1" else None,
            },
        )
        import_one(
            vault,
            "interactions",
            {
                "source_system": "crm",
                "customer_source_id": source,
                "occurred_at": "2024-05-01T09:30:00Z",
                "channel": "phone",
                "direction": "inbound",
                "topic": "address_change",
                "note": ZHANG_NOTE if source == "C1" else "客户李娜咨询保单",
                "satisfaction": "4",
            },
        )
    consents = [  # (customer, purpose, channel, status, recorded_at)
        ("C1", "marketing", "sms", "granted", "2024-01-01T00:00:00Z"),
        ("C1", "service_notice", "email", "granted", "2024-01-01T00:00:00Z"),
        ("C1", "marketing", "email", "granted", "2024-01-01T00:00:00Z"),
        ("C1", "marketing", "email", "withdrawn", "2024-06-01T00:00:00Z"),
        ("C2", "service_notice", "phone", "granted", "2024-02-01T00:00:00Z"),
    ]
    for source, purpose, channel, status, recorded_at in consents:
        import_one(
            vault,
            "consents",
            {
                "source_system": "crm",
                "customer_source_id": source,
                "purpose": purpose,
                "channel": channel,
                "status": status,
                "recorded_at": recorded_at,
                "source": "web",
            },
        )
    ids = {
        "own_unit": find_customers(vault, "id_number", ZHANG_ID)[0],
        "other_unit": find_customers(vault, "id_number", LI_ID)[0],
    }
    policies_of = {}
    for target, unit, n in (("own_unit", OWN_UNIT, 3), ("other_unit", OTHER_UNIT, 4)):
        mobile = f"1360000000{n}"
        import_one(
            vault,
            "customers",
            {
                "source_system": "crm",
                "source_id": f"W{n}",
                "full_name": "王芳",
                "mobile": mobile,
                "org_unit": unit,
            },
        )
        import_one(
            vault,
            "policies",
            {
                "source_system": "crm",
                "customer_source_id": f"W{n}",
                "policy_number": f"POL20240000000{n}",
                "product_line": "auto",
                "status": "active",
                "start_date": "2024-01-01",
                "annual_premium": "100",
                "sum_insured": "1000",
                "sales_channel": "online",
            },
        )
        ids[f"write_{target}"] = find_customers(vault, "mobile", mobile)[0]
        policies_of[f"write_{target}"] = f"POL20240000000{n}"
    return ids, policies_of


@pytest.fixture(scope="module", params=BACKENDS)
def matrix(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Matrix]:
    directory = tmp_path_factory.mktemp(f"matrix-{request.param}")
    with fresh_database(str(request.param), directory) as url:
        keys_path = directory / "keys" / "keys.toml"
        create_keyring(keys_path)
        settings = Settings.resolve(
            database_url=url, keys_path=keys_path, exports_dir=directory / "exports", env={}
        )
        vault = open_vault(settings)
        try:
            customers, policies_of = _seed(vault)
            keys = {
                role: add_principal(
                    vault,
                    principal_name(role),
                    role,
                    known_roles=POLICIES.roles,
                    org_unit=principal_unit(role),
                )[1]
                for role in POLICIES.roles
            }
            with running_api(settings) as base:
                handle = Matrix(
                    base,
                    vault,
                    keys,
                    customers,
                    policies_of,
                    Redactor(),
                    vault.keyring.pseudonym_key.reveal(),
                    settings.exports_dir,
                )
                try:
                    yield handle
                finally:
                    for c in handle.clients.values():
                        c.close()
        finally:
            vault.close()


# --- the policy file itself --------------------------------------------------------------


def test_the_matrix_covers_every_role_and_purpose_of_the_policy_file() -> None:
    """Generated, not listed: a role or purpose added to the vault joins the matrix."""
    assert {p.values[0] for p in UNTARGETED_CASES} == set(POLICIES.roles)
    assert {p.values[1] for p in UNTARGETED_CASES} >= set(PURPOSES)
    readers = [
        r
        for r in POLICIES.roles
        for p in PURPOSES
        if expected_status(r, "customer.read", p, "own_unit") is None
    ]
    assert readers, "no role may read a customer: the read matrix would test only denials"


COVERED_ROUTES = {
    ("POST", "/v1/customers"),
    ("GET", "/v1/customers/{customer_id}"),
    ("PATCH", "/v1/customers/{customer_id}"),
    ("DELETE", "/v1/customers/{customer_id}"),
    ("POST", "/v1/customers/search"),
    *(
        ("POST", f"/v1/customers/{{customer_id}}/{r}")
        for r in ("policies", "claims", "interactions", "consents")
    ),
    ("GET", "/v1/customers/{customer_id}/access-report"),
    ("GET", "/v1/audit/events"),
    ("GET", "/v1/audit/verify"),
    ("GET", "/v1/admin/keys"),
    ("POST", "/v1/admin/keys/rotate"),
    ("POST", "/v1/redact"),
    ("POST", "/v1/exports"),
}
"""The endpoints the tests below exercise; every authenticated route of the app must be here."""


def test_every_authenticated_route_of_the_app_is_in_the_matrix() -> None:
    """A new endpoint cannot escape the matrix: the app's routes (its OpenAPI paths) are read."""
    paths = create_app().openapi()["paths"]
    routes = {(method.upper(), path) for path, item in paths.items() for method in item}
    assert routes - {("GET", "/healthz")} == COVERED_ROUTES


# --- reads -------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "purpose", "target"), TARGETED_CASES)
def test_reading_a_customer_shows_every_field_exactly_as_the_policy_views_it(
    matrix: Matrix, role: str, purpose: str | None, target: str
) -> None:
    customer_id = matrix.customers[target]
    response = matrix.as_role(role, purpose).get(f"/v1/customers/{customer_id}")
    if not matrix.settle(response, role, "customer.read", purpose, target):
        return
    assert purpose is not None
    expected = matrix.expected_view(role, purpose, customer_id)
    assert response.json() == expected
    (event,) = matrix.events(response.headers["x-request-id"])
    assert event["action"] == "read"
    assert event["customer_ids"] == [str(customer_id)]
    assert sorted(event["fields_in_clear"]) == sorted(
        matrix.clear_fields(role, purpose, customer_id)
    )


@pytest.mark.parametrize(("role", "purpose", "target"), TARGETED_CASES)
def test_search_returns_in_scope_customers_shaped_as_the_policy_views_them(
    matrix: Matrix, role: str, purpose: str | None, target: str
) -> None:
    customer_id = matrix.customers[target]
    id_number = ZHANG_ID if target == "own_unit" else LI_ID
    response = matrix.as_role(role, purpose).post(
        "/v1/customers/search", json={"id_number": id_number}
    )
    if not matrix.settle(response, role, "customer.search", purpose, target):
        return
    assert purpose is not None
    items = response.json()["items"]
    if in_scope(role, target):
        assert items == [matrix.expected_view(role, purpose, customer_id)]
    else:
        assert items == []  # out of scope: not returned, not revealed to exist
    events = matrix.events(response.headers["x-request-id"])
    assert [e["action"] for e in events] == ["search"]
    assert events[0]["customer_ids"] == ([str(customer_id)] if items else [])


@pytest.mark.parametrize(("role", "purpose", "target"), TARGETED_CASES)
def test_access_reports_go_only_to_roles_allowed_them(
    matrix: Matrix, role: str, purpose: str | None, target: str
) -> None:
    customer_id = matrix.customers[target]
    response = matrix.as_role(role, purpose).get(f"/v1/customers/{customer_id}/access-report")
    if not matrix.settle(response, role, "access_report.read", purpose, target):
        return
    body = response.json()
    assert body["customer_id"] == str(customer_id)
    assert isinstance(body["entries"], list)
    for value in SEEDED_PII:
        assert value not in response.text


# --- writes ------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "purpose", "target"), TARGETED_CASES)
def test_creating_a_customer_is_allowed_only_as_the_policy_says_and_denials_store_nothing(
    matrix: Matrix, role: str, purpose: str | None, target: str
) -> None:
    mobile = f"1350000{matrix.unique():04d}"
    response = matrix.as_role(role, purpose).post(
        "/v1/customers",
        json={"full_name": "钱七", "mobile": mobile, "org_unit": target_unit(target)},
    )
    allowed = matrix.settle(response, role, "customer.create", purpose, target, success=201)
    found = find_customers(matrix.vault, "mobile", mobile)
    if allowed:
        assert response.json() == {"id": str(found[0]), "outcome": "imported"}
    else:
        assert found == []


@pytest.mark.parametrize(("role", "purpose", "target"), TARGETED_CASES)
def test_updating_a_customer_is_allowed_only_as_the_policy_says_and_denials_change_nothing(
    matrix: Matrix, role: str, purpose: str | None, target: str
) -> None:
    customer_id = matrix.customers[f"write_{target}"]
    occupation = f"job-{matrix.unique()}"
    response = matrix.as_role(role, purpose).patch(
        f"/v1/customers/{customer_id}", json={"occupation": occupation}
    )
    allowed = matrix.settle(response, role, "customer.update", purpose, target)
    stored = read_customer(matrix.vault, customer_id)["occupation"]
    if allowed:
        assert response.json() == {"id": str(customer_id), "outcome": "updated"}
        assert stored == occupation
    else:
        assert stored != occupation


@pytest.mark.parametrize(("role", "purpose", "target"), TARGETED_CASES)
def test_erasing_a_customer_is_allowed_only_as_the_policy_says_and_denials_erase_nothing(
    matrix: Matrix, role: str, purpose: str | None, target: str
) -> None:
    customer_id = matrix.new_customer(target_unit(target))
    response = matrix.as_role(role, purpose).delete(f"/v1/customers/{customer_id}")
    if matrix.settle(response, role, "customer.erase", purpose, target):
        assert response.json()["outcome"] == "erased"
        with pytest.raises(NotFoundError):
            read_customer(matrix.vault, customer_id)
    else:
        assert read_customer(matrix.vault, customer_id)["full_name"] == "赵敏"


def _policy_body(matrix: Matrix, _customer: str) -> dict[str, Any]:
    return {
        "policy_number": f"POL2025{matrix.unique():08d}",
        "product_line": "life",
        "status": "active",
        "start_date": "2025-01-01",
        "annual_premium": 10,
        "sum_insured": 100,
        "sales_channel": "app",
    }


def _claim_body(matrix: Matrix, customer: str) -> dict[str, Any]:
    return {
        "policy_number": matrix.policies_of[customer],
        "claim_number": f"CLM2025{matrix.unique():08d}",
        "incident_date": "2025-02-01",
        "reported_date": "2025-02-02",
        "claim_type": "accident",
        "claimed_amount": 50,
        "status": "reported",
    }


def _interaction_body(matrix: Matrix, _customer: str) -> dict[str, Any]:
    return {
        "occurred_at": "2025-03-01T08:00:00Z",
        "channel": "app",
        "direction": "outbound",
        "topic": f"topic_{matrix.unique()}",
    }


def _consent_body(matrix: Matrix, _customer: str) -> dict[str, Any]:
    recorded = dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=matrix.unique())
    return {
        "purpose": "analytics",
        "channel": "post",
        "status": "granted",
        "recorded_at": recorded.isoformat(),
    }


SUB_RESOURCES = {
    "policies": ("policy.create", _policy_body),
    "claims": ("claim.create", _claim_body),
    "interactions": ("interaction.create", _interaction_body),
    "consents": ("consent.create", _consent_body),
}


@pytest.mark.parametrize("resource", sorted(SUB_RESOURCES))
@pytest.mark.parametrize(("role", "purpose", "target"), TARGETED_CASES)
def test_adding_a_sub_resource_is_allowed_only_as_the_policy_says_and_denials_add_nothing(
    matrix: Matrix, role: str, purpose: str | None, target: str, resource: str
) -> None:
    action, body = SUB_RESOURCES[resource]
    customer = f"write_{target}"
    customer_id = matrix.customers[customer]
    before = len(read_customer(matrix.vault, customer_id)[resource])
    response = matrix.as_role(role, purpose).post(
        f"/v1/customers/{customer_id}/{resource}", json=body(matrix, customer)
    )
    allowed = matrix.settle(response, role, action, purpose, target, success=201)
    after = len(read_customer(matrix.vault, customer_id)[resource])
    if allowed:
        assert response.json() == {"id": str(customer_id), "outcome": "imported"}
        assert after == before + 1
    else:
        assert after == before


# --- audit, administration, redaction ----------------------------------------------------


@pytest.mark.parametrize(("role", "purpose"), UNTARGETED_CASES)
def test_the_audit_log_is_readable_only_by_roles_allowed_it(
    matrix: Matrix, role: str, purpose: str | None
) -> None:
    response = matrix.as_role(role, purpose).get("/v1/audit/events", params={"limit": 5})
    if matrix.settle(response, role, "audit.read", purpose):
        events = response.json()["events"]
        assert 1 <= len(events) <= 5
        assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)


@pytest.mark.parametrize(("role", "purpose"), UNTARGETED_CASES)
def test_the_audit_chain_is_verifiable_only_by_roles_allowed_it(
    matrix: Matrix, role: str, purpose: str | None
) -> None:
    response = matrix.as_role(role, purpose).get("/v1/audit/verify")
    if matrix.settle(response, role, "audit.verify", purpose):
        assert response.json()["ok"] is True


@pytest.mark.parametrize(("role", "purpose"), UNTARGETED_CASES)
def test_redaction_is_offered_only_to_roles_allowed_it(
    matrix: Matrix, role: str, purpose: str | None
) -> None:
    response = matrix.as_role(role, purpose).post("/v1/redact", json={"text": ZHANG_NOTE})
    if matrix.settle(response, role, "redact.text", purpose):
        text = response.json()["text"]
        assert "138-1234-5678" not in text
        assert "要求修改地址" in text


@pytest.mark.parametrize(("role", "purpose"), UNTARGETED_CASES)
def test_analytics_exports_are_produced_only_for_roles_allowed_them(
    matrix: Matrix, role: str, purpose: str | None
) -> None:
    if expected_status(role, "export.create", purpose, None) is None:
        while _customer_count(matrix.vault) < 6:  # k=5 needs five rows; the seed has four
            matrix.new_customer(OWN_UNIT)
    response = matrix.as_role(role, purpose).post("/v1/exports", json={"format": "csv"})
    if matrix.settle(response, role, "export.create", purpose, success=201):
        manifest = response.json()["manifest"]
        assert manifest["rows"] + manifest["suppressed_rows"] == _customer_count(matrix.vault)
        assert manifest["k_achieved"] >= 5
        data = (matrix.exports_dir / response.json()["id"] / "data.csv").read_text("utf-8")
        for value in SEEDED_PII:
            assert value not in data


def _customer_count(vault: Vault) -> int:
    with vault.reader.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM customers")).scalar_one())


@pytest.mark.parametrize(("role", "purpose"), UNTARGETED_CASES)
def test_key_status_is_shown_only_to_roles_allowed_to_manage_keys(
    matrix: Matrix, role: str, purpose: str | None
) -> None:
    response = matrix.as_role(role, purpose).get("/v1/admin/keys")
    if matrix.settle(response, role, "keys.manage", purpose):
        families = {v["family"] for v in response.json()["versions"]}
        assert "kek" in families


@pytest.mark.parametrize(("role", "purpose"), UNTARGETED_CASES)
def test_key_rotation_is_refused_to_every_role_not_allowed_to_manage_keys(
    matrix: Matrix, role: str, purpose: str | None
) -> None:
    """Runs last in the module: an allowed rotation re-wraps every data key (once, for admin)."""
    response = matrix.as_role(role, purpose).post("/v1/admin/keys/rotate", json={"family": "kek"})
    if matrix.settle(response, role, "keys.manage", purpose):
        body = response.json()
        assert body["family"] == "kek"
        assert body["to_version"] > max(body["from_versions"])
        assert body["remaining"] == 0
        customer_id = matrix.customers["own_unit"]
        assert read_customer(matrix.vault, customer_id)["full_name"] == "张伟"
