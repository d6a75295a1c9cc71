"""Fuzzing the API from its own OpenAPI schema (schemathesis): no 5xx, no schema violations.

Runs against a real server (uvicorn on loopback) over a real SQLite vault with
seeded customers, once with a writing principal and once with a reading one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from api_support import running_api
from helpers import customer, resident_id, write_csv
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from api.app import create_app
from vault.import_format import CUSTOMER_COLUMNS
from vault.keyring import create_keyring
from vault.policy import load_policies
from vault.services.importing import ImportSources, import_files
from vault.services.principals import add_principal
from vault.services.runtime import open_vault
from vault.settings import PACKAGED_POLICIES, Settings
from vault.storage import migrate
from vault.storage.engine import create_vault_engine

ROLES = {"crm_integration": "customer_support", "claims_adjuster": "claims_processing"}


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    home = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{home / 'vault.db'}"
    engine = create_vault_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    create_keyring(home / "keys.toml")
    vault_settings = Settings.resolve(database_url=url, keys_path=home / "keys.toml", env={})
    vault = open_vault(vault_settings)
    rows = [
        customer(
            source_system="crm",
            source_id="C1",
            full_name="张伟",
            id_type="resident_id",
            id_number=resident_id("11010519900307001"),
            mobile="13812345678",
        )
    ]
    import_files(vault, ImportSources(customers=write_csv(home / "c.csv", rows, CUSTOMER_COLUMNS)))
    roles = load_policies(PACKAGED_POLICIES / "roles.yaml").roles
    keys = {
        r: add_principal(vault, f"fuzz-{r.replace('_', '-')}", r, known_roles=roles)[1]
        for r in ROLES
    }
    vault.close()
    with running_api(vault_settings) as base:
        yield base, keys


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> schemathesis.BaseSchema:
    home = tmp_path_factory.mktemp("schema")
    return schemathesis.openapi.from_dict(
        create_app(Settings.resolve(keys_path=home / "k.toml", env={})).openapi()
    )


def _fuzz(schema: schemathesis.BaseSchema, role: str, server: tuple[str, dict[str, str]]) -> int:
    """Every operation of the schema, fuzzed; returns how many operations ran.

    (schemathesis' pytest plugin does not work with pytest 9, so its Python API
    drives hypothesis directly.)
    """
    base, keys = server
    headers = {"Authorization": f"Bearer {keys[role]}", "X-Purpose": ROLES[role]}
    ran = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(
                base_url=base,
                headers=headers,
                checks=[not_a_server_error, response_schema_conformance],
            )

        run()
        ran += 1
    return ran


@pytest.mark.parametrize("role", sorted(ROLES))
def test_fuzzed_requests_never_get_a_server_error_or_break_the_schema(
    api_schema: schemathesis.BaseSchema, fuzz_server: tuple[str, dict[str, str]], role: str
) -> None:
    assert _fuzz(api_schema, role, fuzz_server) >= 10
