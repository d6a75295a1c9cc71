"""``POST /v1/exports`` over real HTTP, on SQLite and PostgreSQL: analysts (purpose analytics)
get a k-anonymous extract and its manifest, audited with profile and row count; every other
role, purpose or profile is refused and audited; bad requests are clear 4xx."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from api_support import client, running_api
from db_support import BACKENDS, fresh_database
from pycanon import anonymity

from vault.audit.records import events_table
from vault.demo_data import generate_demo_data
from vault.keyring import create_keyring
from vault.policy import load_policies
from vault.services.importing import ImportSources, import_files
from vault.services.principals import add_principal
from vault.services.runtime import Vault, open_vault
from vault.settings import PACKAGED_POLICIES, Settings

POLICIES = load_policies(PACKAGED_POLICIES / "roles.yaml")
OTHER_PURPOSE_PROFILE = """
  marketing_list:
    description: a profile for another purpose than analytics
    purpose: marketing
    recipient: marketing
    columns:
      ref: {field: customers.id, operator: pseudonymise}
      gender: {field: customers.gender, quasi_identifier: true}
"""


@dataclass
class Served:
    url: str
    vault: Vault
    settings: Settings
    keys: dict[str, str]

    def events(self, request_id: str) -> list[dict[str, Any]]:
        events = events_table()
        with self.vault.engine.connect() as conn:
            rows = conn.execute(
                sa.select(events).where(events.c.request_id == request_id).order_by(events.c.seq)
            ).mappings()
            return [dict(r) for r in rows]


@pytest.fixture(scope="module", params=BACKENDS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    home = tmp_path_factory.mktemp(f"api-exports-{request.param}")
    policies = home / "policies"
    shutil.copytree(PACKAGED_POLICIES, policies)
    with (policies / "exports.yaml").open("a", encoding="utf-8") as fh:
        fh.write(OTHER_PURPOSE_PROFILE)
    with fresh_database(str(request.param), home) as url:
        keys_path = home / "keys" / "keys.toml"
        create_keyring(keys_path)
        settings = Settings.resolve(
            database_url=url,
            keys_path=keys_path,
            policies_dir=policies,
            exports_dir=home / "exports",
            env={},
        )
        vault = open_vault(settings)
        try:
            demo = generate_demo_data(home / "demo", 200, seed=9)
            import_files(
                vault,
                ImportSources(
                    demo.customers, demo.policies, demo.claims, demo.interactions, demo.consents
                ),
                workers=1,
            )
            keys = {
                role: add_principal(
                    vault, f"p-{role.replace('_', '-')}", role, known_roles=POLICIES.roles
                )[1]
                for role in POLICIES.roles
                if POLICIES.role(role).scope.value == "all"
            }
            with running_api(settings) as base:
                yield Served(base, vault, settings, keys)
        finally:
            vault.close()


def test_an_analyst_gets_a_k_anonymous_extract_and_the_export_is_audited(served: Served) -> None:
    with client(served.url, served.keys["analyst"], "analytics") as http:
        response = http.post("/v1/exports", json={"profile": "analytics", "format": "parquet"})
    assert response.status_code == 201, response.text
    body = response.json()
    manifest = body["manifest"]
    out = served.settings.exports_dir / body["id"]
    assert sorted(p.name for p in out.iterdir()) == ["data.parquet", "manifest.json"]
    frame = pq.read_table(out / "data.parquet").to_pandas()
    qi = manifest["quasi_identifiers"]
    shown = frame[qi].astype(object).where(frame[qi].notna(), "<null>")
    assert anonymity.k_anonymity(pd.DataFrame(shown), qi) >= 5
    assert manifest["rows"] == len(frame)
    assert manifest["created_by"] == "p-analyst"
    assert manifest["purpose"] == "analytics"
    events = served.events(response.headers["x-request-id"])
    assert [(e["action"], e["outcome"], e["detail"]["stage"]) for e in events] == [
        ("export", "allowed", "intent"),
        ("export", "allowed", "result"),
    ]
    assert events[1]["detail"]["rows"] == manifest["rows"]
    assert events[1]["detail"]["profile"] == "analytics"
    assert events[1]["principal"] == "p-analyst"


def test_a_csv_extract_can_be_asked_for(served: Served) -> None:
    with client(served.url, served.keys["analyst"], "analytics") as http:
        response = http.post("/v1/exports", json={"format": "csv", "as_of": "2026-01-31"})
    assert response.status_code == 201, response.text
    manifest = response.json()["manifest"]
    assert manifest["data_file"] == "data.csv"
    assert manifest["as_of"] == "2026-01-31"


@pytest.mark.parametrize("role", sorted(r for r in POLICIES.roles if r != "analyst"))
def test_every_other_role_is_refused_and_the_refusal_audited(served: Served, role: str) -> None:
    if role not in served.keys:
        pytest.skip(f"{role} is org-unit scoped; the authorization matrix covers it")
    purpose = sorted(POLICIES.role(role).purposes)[0]
    before = (
        set(served.settings.exports_dir.glob("*"))
        if served.settings.exports_dir.exists()
        else set()
    )
    with client(served.url, served.keys[role], purpose) as http:
        response = http.post("/v1/exports", json={})
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    events = served.events(response.headers["x-request-id"])
    assert [(e["outcome"], e["principal"]) for e in events] == [
        ("denied", f"p-{role.replace('_', '-')}")
    ]
    after = (
        set(served.settings.exports_dir.glob("*"))
        if served.settings.exports_dir.exists()
        else set()
    )
    assert after == before


def test_an_analyst_with_another_purpose_or_a_profile_for_another_purpose_is_refused(
    served: Served,
) -> None:
    with client(served.url, served.keys["analyst"], "marketing") as http:
        assert http.post("/v1/exports", json={}).status_code == 403
    with client(served.url, served.keys["analyst"], "analytics") as http:
        response = http.post("/v1/exports", json={"profile": "marketing_list"})
    assert response.status_code == 403
    events = served.events(response.headers["x-request-id"])
    assert [e["outcome"] for e in events] == ["denied"]
    assert "purpose marketing" in (events[0]["reason"] or "")


def test_bad_requests_are_clear_4xx_and_write_nothing(served: Served) -> None:
    with client(served.url, served.keys["analyst"]) as http:
        missing = http.post("/v1/exports", json={})
    assert missing.status_code == 400
    with client(served.url, served.keys["analyst"], "analytics") as http:
        unknown = http.post("/v1/exports", json={"profile": "nope"})
        bad_format = http.post("/v1/exports", json={"format": "xlsx"})
        extra = http.post("/v1/exports", json={"out": "/etc"})
        bad_name = http.post("/v1/exports", json={"profile": "../../etc"})
    assert unknown.status_code == 404
    assert "nope" not in unknown.text or "no export profile" in unknown.text
    for response in (bad_format, extra, bad_name):
        assert response.status_code == 422, response.text
    with client(served.url) as anonymous:
        assert anonymous.post("/v1/exports", json={}).status_code == 401
