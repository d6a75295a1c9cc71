"""No PII in the API's own logs: the real server's output and the events the code logs.

Requests carrying seeded personal data -- creates, searches by ID number,
mobile and email, patches, sub-resources, free-text redaction, invalid input
holding PII (in bodies, paths, query strings, headers, malformed JSON), a
conflict and a server-side failure -- are driven at

* ``customer-vault serve`` as a subprocess with two workers, whose stdout and
  stderr bytes are scanned for every seeded value (raw UTF-8 and JSON-escaped);
* an in-process server under ``structlog.testing.capture_logs``, whose captured
  event dicts are scanned *before* the PII scrubber runs: the code itself must
  never hand a PII value to the logger (the scrubber is the last line of defence).

Positive control: the failed request's id and error type are found in the same
logs, so a scan that reads nothing (or the wrong stream) fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
import structlog
from api_support import client, running_api, serving_subprocess
from helpers import resident_id

from vault.policy import load_policies
from vault.services.principals import add_principal
from vault.services.runtime import Vault
from vault.settings import PACKAGED_POLICIES, Settings
from vault.storage.tables import OrgUnit

POLICIES = load_policies(PACKAGED_POLICIES / "roles.yaml")
ZHANG_ID = resident_id("11010519900307001")
LI_ID = resident_id("31010419850615002")
BAD_ID = ZHANG_ID[:-1] + ("0" if ZHANG_ID[-1] != "0" else "1")  # wrong check digit
SEEDED = {
    "name": "张伟",
    "other_name": "李娜",
    "id_number": ZHANG_ID,
    "other_id_number": LI_ID,
    "bad_id_number": BAD_ID,
    "mobile": "13812345678",
    "mobile_spelt": "138-1234-5678",
    "other_mobile": "13912345678",
    "new_mobile": "13687654321",
    "bad_mobile": "1381234567",
    "email": "zhangwei@163.com",
    "other_email": "lina@qq.com",
    "new_email": "zhang.new@example.cn",
    "bad_email": "zhangwei@@163",
    "address": "世纪大道100号",
    "note": "要求修改地址",
}
"""Every personal value the requests carry; none may reach a log in any spelling."""


def _spellings(value: str) -> set[bytes]:
    forms = {value.encode(), json.dumps(value)[1:-1].encode()}
    if value.isdigit() and len(value) == 11:
        forms.add(("+86" + value).encode())
    return forms


def assert_no_seeded_value(blob: bytes) -> None:
    for label, value in SEEDED.items():
        for form in _spellings(value):
            assert form not in blob, f"{label} ({form!r}) reached the logs"


def _keys(vault: Vault) -> dict[str, str]:
    """A principal per role the requests use; the org units exist before any customer does."""
    with vault.engine.begin() as conn:
        for code in ("SH-01", "BJ-01"):
            conn.execute(sa.insert(OrgUnit.__table__).values(code=code, name=code))  # type: ignore[attr-defined]
    return {
        role: add_principal(
            vault,
            f"p-{role.replace('_', '-')}",
            role,
            known_roles=POLICIES.roles,
            org_unit="SH-01" if POLICIES.role(role).scope.value == "org_unit" else None,
        )[1]
        for role in ("customer_service", "claims_adjuster", "crm_integration")
    }


def drive_pii_requests(url: str, keys: dict[str, str], break_audit: Callable[[bool], None]) -> str:
    """Every kind of PII-carrying request; returns the request id of the one that failed (503)."""
    with (
        client(url, keys["crm_integration"], "customer_support") as crm,
        client(url, keys["customer_service"], "customer_support") as cs,
        client(url, keys["claims_adjuster"], "claims_processing") as adjuster,
        client(url, keys["crm_integration"], "claims_processing") as crm_claims,
        client(url, ZHANG_ID, "claims_processing") as pii_as_key,
    ):
        created = crm.post(
            "/v1/customers",
            json={
                "full_name": SEEDED["name"],
                "id_type": "resident_id",
                "id_number": ZHANG_ID,
                "mobile": SEEDED["mobile_spelt"],
                "email": SEEDED["email"],
                "address": "上海市浦东新区" + SEEDED["address"],
                "org_unit": "SH-01",
            },
        )
        assert created.status_code == 201, created.text
        zhang = uuid.UUID(created.json()["id"])
        other = crm.post(
            "/v1/customers",
            json={
                "full_name": SEEDED["other_name"],
                "id_type": "resident_id",
                "id_number": LI_ID,
                "mobile": SEEDED["other_mobile"],
                "email": SEEDED["other_email"],
                "org_unit": "BJ-01",
            },
        )
        assert other.status_code == 201, other.text
        li = uuid.UUID(other.json()["id"])

        for term in (
            {"id_number": ZHANG_ID},
            {"mobile": SEEDED["mobile"]},
            {"email": SEEDED["email"]},
        ):
            found = adjuster.post("/v1/customers/search", json=term)
            assert [i["id"] for i in found.json()["items"]] == [str(zhang)]
        assert cs.post("/v1/customers/search", json={"id_number": LI_ID}).json()["items"] == []
        assert adjuster.post(
            "/v1/customers/search", json={"email": SEEDED["new_email"]}
        ).json() == {"items": []}
        patched = cs.patch(
            f"/v1/customers/{zhang}",
            json={"mobile": SEEDED["new_mobile"], "email": SEEDED["new_email"]},
        )
        assert patched.status_code == 200, patched.text
        assert adjuster.get(f"/v1/customers/{zhang}").status_code == 200
        assert cs.get(f"/v1/customers/{li}").status_code == 403  # out of its org unit

        note = {
            "occurred_at": "2025-01-01T08:00:00Z",
            "channel": "phone",
            "direction": "inbound",
            "topic": "address_change",
            "note": f"客户{SEEDED['name']}来电，手机{SEEDED['mobile_spelt']}，{SEEDED['note']}",
        }
        assert cs.post(f"/v1/customers/{zhang}/interactions", json=note).status_code == 201
        policy = {
            "policy_number": "POL202400000001",
            "product_line": "health",
            "status": "active",
            "start_date": "2024-01-01",
            "annual_premium": 100,
            "sum_insured": 1000,
            "sales_channel": "online",
        }
        assert crm.post(f"/v1/customers/{zhang}/policies", json=policy).status_code == 201
        assert crm.post(f"/v1/customers/{li}/policies", json=policy).status_code == 409
        claim = {
            "policy_number": "POL202400000001",
            "claim_number": "CLM202400000001",
            "incident_date": "2024-02-01",
            "reported_date": "2024-02-02",
            "claim_type": "medical",
            "claimed_amount": 50,
            "status": "reported",
            "description": f"{SEEDED['name']}住院，电话{SEEDED['mobile']}，邮箱{SEEDED['email']}",
        }
        assert crm_claims.post(f"/v1/customers/{zhang}/claims", json=claim).status_code == 201
        redacted = cs.post("/v1/redact", json={"text": note["note"], "known": {"name": "张伟"}})
        assert redacted.status_code == 200

        # Invalid input holding PII, everywhere a caller can put it.
        bad_bodies = [
            {"full_name": SEEDED["name"], "mobile": SEEDED["bad_mobile"]},
            {"full_name": SEEDED["name"], "id_type": "resident_id", "id_number": BAD_ID},
            {"full_name": SEEDED["name"], "email": SEEDED["bad_email"]},
            {"full_name": SEEDED["name"], SEEDED["mobile"]: SEEDED["email"]},
            {"full_name": SEEDED["name"] * 60, "mobile": SEEDED["mobile"]},
        ]
        for body in bad_bodies:
            assert crm.post("/v1/customers", json=body).status_code == 422
        malformed = crm.post(
            "/v1/customers",
            content=f'{{"full_name": "{SEEDED["name"]}", "mobile": {SEEDED["mobile"]}'.encode(),
            headers={"content-type": "application/json"},
        )
        assert malformed.status_code == 422
        oversize = crm.post(
            "/v1/customers",
            content=json.dumps({"full_name": SEEDED["email"] * 20000}).encode(),
            headers={"content-type": "application/json"},
        )
        assert oversize.status_code == 413
        assert adjuster.get(f"/v1/customers/{SEEDED['mobile']}").status_code == 422
        assert adjuster.get(f"/v1/customers/{SEEDED['email']}/access-report").status_code in (
            403,
            422,
        )
        assert adjuster.post(
            "/v1/customers/search", json={"mobile": SEEDED["bad_mobile"]}
        ).status_code in (
            200,
            422,
        )
        assert (
            adjuster.get("/v1/audit/events", params={"principal": SEEDED["mobile"]}).status_code
            == 403
        )
        with client(url, keys["claims_adjuster"], f"call {SEEDED['mobile']}") as odd_purpose:
            assert odd_purpose.get(f"/v1/customers/{zhang}").status_code == 403
        assert pii_as_key.get(f"/v1/customers/{zhang}").status_code == 401

        # A failure on the server side, while reading a customer full of PII.
        break_audit(True)
        try:
            failed = adjuster.get(f"/v1/customers/{zhang}")
        finally:
            break_audit(False)
        assert failed.status_code == 503
        assert adjuster.get(f"/v1/customers/{zhang}").status_code == 200  # recovered
        return failed.headers["x-request-id"]


def _audit_breaker(vault: Vault) -> Callable[[bool], None]:
    def toggle(broken: bool) -> None:
        old, new = ("audit_events", "audit_events_away")[:: 1 if broken else -1]
        with vault.engine.begin() as conn:
            conn.exec_driver_sql(f"ALTER TABLE {old} RENAME TO {new}")

    return toggle


def test_the_served_api_logs_no_seeded_pii_on_stdout_or_stderr(
    vault: Vault, cli_env: dict[str, str], tmp_path: Path
) -> None:
    keys = _keys(vault)
    with serving_subprocess(cli_env, tmp_path, workers=2) as served:
        failed_request = drive_pii_requests(served.url, keys, _audit_breaker(vault))
    logs = served.logs()  # after shutdown: every buffered line is flushed
    assert failed_request.encode() in logs  # positive control: the scan reads what is logged
    assert b"AuditUnavailable" in logs
    assert_no_seeded_value(logs)


def test_the_code_hands_no_pii_to_the_logger_even_before_the_scrubber(
    vault: Vault, settings: Settings
) -> None:
    keys = _keys(vault)
    # The lifespan configures logging as the server starts; capture_logs then replaces it.
    with running_api(settings) as url, structlog.testing.capture_logs() as captured:
        failed_request = drive_pii_requests(url, keys, _audit_breaker(vault))
    failures = [e for e in captured if e.get("request_id") == failed_request]
    assert failures, captured  # positive control: the failed request was logged, with its id
    assert failures[0]["error_type"] == "AuditUnavailable"
    assert_no_seeded_value(repr(captured).encode())
    assert_no_seeded_value(json.dumps(captured, default=str, ensure_ascii=False).encode())


@pytest.mark.parametrize(
    "blob",
    [b"call from 13812345678", json.dumps({"n": "张伟"}).encode(), b"+8613812345678"],
    ids=["raw", "json-escaped", "e164"],
)
def test_the_scan_finds_a_seeded_value_in_any_spelling(blob: bytes) -> None:
    """The scanner itself must be able to fail: raw, JSON-escaped and +86 forms are caught."""
    with pytest.raises(AssertionError, match="reached the logs"):
        assert_no_seeded_value(blob)


_TELEMETRY_PROBE = """
import asyncio, httpx
from opentelemetry import trace

started = []

class CountingTracer(trace.NoOpTracer):
    def start_span(self, name, *args, **kwargs):
        started.append(name)
        return super().start_span(name, *args, **kwargs)

    def start_as_current_span(self, name, *args, **kwargs):
        started.append(name)
        return super().start_as_current_span(name, *args, **kwargs)

class CountingProvider(trace.TracerProvider):
    def get_tracer(self, *args, **kwargs):
        return CountingTracer()

trace.set_tracer_provider(CountingProvider())
from api.app import create_app

async def main():
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://vault") as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/openapi.json")).status_code == 200

asyncio.run(main())
print(len(started))
"""


def test_fastapi_telemetry_stays_off_even_with_a_provider_and_auto_configure() -> None:
    # A process-wide tracer provider is global state: probe it in a child process.
    env = {**os.environ, "FASTAPI_OTEL_AUTO_CONFIGURE": "true"}
    probe = subprocess.run(
        [sys.executable, "-c", _TELEMETRY_PROBE],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.strip() == "0"  # without the app's telemetry setting: several spans
