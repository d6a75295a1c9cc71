"""Retention: the policy file is validated, a dry run lists exactly the inactive customers
(ids and dates, no PII) and erases nothing, a real run erases them through the erasure service.

The seed (tests/lifecycle_support.py) has C1 with an active policy and an open claim, C2 whose
policy ended in 2012, C3 with nothing but a profile dated 2011, C4 with a pending policy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from lifecycle_support import PEOPLE, rows_of, seed

from vault.errors import ConfigurationError
from vault.policy.retention import load_retention
from vault.services.retention import due_for_erasure, run_retention
from vault.services.runtime import Vault
from vault.settings import PACKAGED_POLICIES

CLI = [sys.executable, "-m", "vault"]


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_shipped_retention_policy_loads() -> None:
    policy = load_retention(PACKAGED_POLICIES / "retention.yaml")
    assert policy.inactive_after_days == 1825


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("version: 1\ninactive_after_days: 3\n", "inactive_after_days"),
        ("version: 1\ninactive_after_days: '1825'\n", "inactive_after_days"),
        ("version: 2\ninactive_after_days: 1825\n", "version"),
        ("version: 1\ninactive_after_days: 1825\nkeep_forever: true\n", "keep_forever"),
        ("version: 1\ninactive_after_days: 1825\ninactive_after_days: 400\n", "duplicate key"),
        ("version: [1\n", "retention.yaml"),
    ],
)
def test_a_bad_retention_policy_is_refused_naming_the_key(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "retention.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=problem) as caught:
        load_retention(path)
    assert str(path) in str(caught.value)


def test_due_are_exactly_the_customers_without_business_for_the_period(
    vault: Vault, tmp_path: Path
) -> None:
    ids = seed(vault, tmp_path)
    policy = load_retention(PACKAGED_POLICIES / "retention.yaml")
    due = due_for_erasure(vault, policy, vault.clock())
    assert {d.customer_id for d in due} == {ids["C2"], ids["C3"]}
    by_id = {d.customer_id: d.last_activity.isoformat() for d in due}
    assert by_id[ids["C2"]] == "2012-01-01"  # the lapsed policy's end date
    assert by_id[ids["C3"]] == "2011-06-01"  # the profile's last change


def test_cli_dry_run_lists_ids_and_dates_only_and_erases_nothing(
    vault: Vault, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    ids = seed(vault, tmp_path)
    result = _run(["retention", "run", "--dry-run", "--json"], cli_env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dry_run"] is True
    assert report["erased"] == 0
    assert {d["customer_id"] for d in report["due"]} == {str(ids["C2"]), str(ids["C3"])}
    assert set(report["due"][0]) == {"customer_id", "last_activity"}
    for source in ("C1", "C2", "C3", "C4"):
        assert rows_of(vault, ids[source])["customers"] == 1
    table = _run(["retention", "run", "--dry-run"], cli_env)
    for value in (v for p in PEOPLE.values() for v in p):
        assert value not in result.stdout + result.stderr + table.stdout + table.stderr
    assert "2 customers would be erased" in table.stdout


def test_cli_real_run_erases_them_audited_with_purpose_retention(
    vault: Vault, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    ids = seed(vault, tmp_path)
    refused = _run(["retention", "run"], cli_env)  # no terminal, no --yes
    assert refused.returncode == 2
    assert rows_of(vault, ids["C3"])["customers"] == 1

    result = _run(["retention", "run", "--yes", "--json"], cli_env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["erased"] == 2
    for gone in ("C2", "C3"):
        assert set(rows_of(vault, ids[gone]).values()) == {0}
    for kept in ("C1", "C4"):
        assert rows_of(vault, ids[kept])["customers"] == 1
    with vault.engine.connect() as conn:
        purposes = set(
            conn.execute(
                sa.text("SELECT DISTINCT purpose FROM audit_events WHERE action = 'erase'")
            ).scalars()
        )
    assert purposes == {"retention"}
    verify = _run(["audit", "verify", "--json"], cli_env)
    assert json.loads(verify.stdout)["ok"] is True
    again = run_retention(vault, load_retention(PACKAGED_POLICIES / "retention.yaml"), dry_run=True)
    assert again["due"] == []


def test_the_retention_purpose_is_in_the_closed_vocabulary() -> None:
    from vault.policy import PURPOSES

    assert "retention" in PURPOSES
