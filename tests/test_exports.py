"""Analytics exports end to end, on SQLite and PostgreSQL: the extract is k-anonymous (and
l-diverse) as pycanon sees it, within the suppression bound, holds no seeded direct identifier or
sensitive value anywhere in its bytes, uses pseudonyms that differ per recipient, never
overwrites, leaves nothing behind when it fails, and is audited."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from db_support import BACKENDS, fresh_database
from pycanon import anonymity

from vault.audit import Action, AuditLog, signer_from_keyring
from vault.audit.queries import EventQuery, list_events
from vault.demo_data import generate_demo_data
from vault.errors import ConflictError, ValidationError
from vault.extracts import features as feature_set
from vault.extracts.output import Format
from vault.keyring import create_keyring
from vault.masking import Pseudonymise
from vault.policy.export_profiles import ExportProfile, load_export_profiles
from vault.services.exports import ExportRequest, ExportResult, export_as_operator, run_export
from vault.services.importing import ImportSources, import_files
from vault.services.runtime import Vault, open_vault
from vault.settings import Settings
from vault.storage.tables import Claim, Customer, Interaction, Policy, columns

EXPORTS_YAML = Path(__file__).resolve().parents[1] / "policies" / "exports.yaml"
CLI = [sys.executable, "-m", "vault"]
CUSTOMERS = 500
AS_OF = dt.date(2026, 6, 30)
NULL = "<null>"
"""pycanon (pandas groupby) drops rows with a null quasi-identifier; the vault keeps them as a
class of their own, so the tests give nulls a visible label before checking."""


class Stocked:
    def __init__(self, vault: Vault, settings: Settings, sources: ImportSources) -> None:
        self.vault = vault
        self.settings = settings
        self.sources = sources


@pytest.fixture(scope="module", params=BACKENDS)
def stocked(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stocked]:
    """One vault per back end with the demo population imported (read-only for the tests)."""
    home = tmp_path_factory.mktemp(f"exports-{request.param}")
    with fresh_database(str(request.param), home) as url:
        keys = home / "keys" / "keys.toml"
        create_keyring(keys)
        settings = Settings.resolve(database_url=url, keys_path=keys, env={})
        vault = open_vault(settings)
        demo = generate_demo_data(home / "demo", CUSTOMERS, seed=5)
        sources = ImportSources(
            demo.customers, demo.policies, demo.claims, demo.interactions, demo.consents
        )
        import_files(vault, sources, workers=1)
        try:
            yield Stocked(vault, settings, sources)
        finally:
            vault.close()


def analytics() -> ExportProfile:
    return load_export_profiles(EXPORTS_YAML).get("analytics")


def profile_file(tmp_path: Path, extra: str) -> Path:
    """The shipped file with more profiles appended (indented under ``profiles:``)."""
    path = tmp_path / "exports.yaml"
    path.write_text(EXPORTS_YAML.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return path


def export(
    stocked: Stocked, out: Path, profile: ExportProfile | None = None, **kw: Any
) -> ExportResult:
    request = ExportRequest(profile=profile or analytics(), out=out, as_of=AS_OF, **kw)
    return run_export(stocked.vault, request)


def read_frame(result: ExportResult) -> pd.DataFrame:
    if result.data_file.suffix == ".csv":
        table = pacsv.read_csv(result.data_file)
    else:
        table = pq.read_table(result.data_file)
    return table.to_pandas()


def qi_frame(frame: pd.DataFrame, qi: list[str]) -> pd.DataFrame:
    shown = frame.copy()
    for column in qi:
        shown[column] = shown[column].astype(object).where(shown[column].notna(), NULL)
    return shown


def population(stocked: Stocked) -> int:
    with stocked.vault.reader.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(Customer)).scalar_one())


# --- k-anonymity, l-diversity, suppression ----------------------------------------------------


def test_the_default_extract_is_k_anonymous_per_pycanon_and_described_by_its_manifest(
    stocked: Stocked, tmp_path: Path
) -> None:
    result = export(stocked, tmp_path / "out")
    m = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert m == result.manifest
    frame = read_frame(result)
    qi = m["quasi_identifiers"]
    assert set(qi) <= set(frame.columns)
    assert anonymity.k_anonymity(qi_frame(frame, qi), qi) >= 5
    assert m["k"] == 5
    assert m["k_achieved"] == anonymity.k_anonymity(qi_frame(frame, qi), qi)
    total = population(stocked)
    assert m["population"] == total
    assert m["rows"] == len(frame) == total - m["suppressed_rows"]
    assert m["suppressed_rows"] <= 0.05 * total
    assert m["profile"] == "analytics"
    assert m["purpose"] == "analytics"
    assert m["created_by"] == "cli"
    assert set(m["generalisation"]) == set(qi)
    assert m["sha256"] == hashlib.sha256(result.data_file.read_bytes()).hexdigest()
    assert list(frame.columns) == m["columns"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["data.parquet", "manifest.json"]


def test_the_raw_quasi_identifiers_are_not_k_anonymous(stocked: Stocked) -> None:
    """Control: without the search, the same population has unique combinations."""
    rows = []
    with stocked.sources.customers.open(encoding="utf-8") as fh:  # type: ignore[union-attr]
        for row in csv.DictReader(fh):
            rows.append({q: row[q] for q in ("birth_date", "gender", "province", "city")})
    assert (
        anonymity.k_anonymity(pd.DataFrame(rows), ["birth_date", "gender", "province", "city"]) == 1
    )


def test_l_diversity_on_the_income_band_is_enforced(stocked: Stocked, tmp_path: Path) -> None:
    path = profile_file(
        tmp_path,
        """
  diverse:
    description: l-diverse on income
    purpose: analytics
    recipient: research
    k: 4
    l_diversity: {attribute: income_band, l: 3}
    columns:
      ref: {field: customers.id, operator: pseudonymise}
      birth_date: {field: customers.birth_date, quasi_identifier: true}
      gender: {field: customers.gender, quasi_identifier: true}
      province: {field: customers.province, quasi_identifier: true}
      income_band: {field: customers.annual_income, operator: generalise, level: 1}
""",
    )
    result = export(stocked, tmp_path / "out", load_export_profiles(path).get("diverse"))
    frame = qi_frame(read_frame(result), ["birth_date", "gender", "province", "income_band"])
    qi = ["birth_date", "gender", "province"]
    assert anonymity.k_anonymity(frame, qi) >= 4
    assert anonymity.l_diversity(frame, qi, ["income_band"]) >= 3
    assert result.manifest["l_diversity"]["l_achieved"] >= 3
    assert result.manifest["suppressed_rows"] <= 0.05 * population(stocked)


def test_a_stricter_k_generalises_more(stocked: Stocked, tmp_path: Path) -> None:
    path = profile_file(
        tmp_path,
        """
  strict:
    description: k 25
    purpose: analytics
    recipient: analytics
    k: 25
    max_suppression: 0.01
    columns:
      ref: {field: customers.id, operator: pseudonymise}
      birth_date: {field: customers.birth_date, quasi_identifier: true}
      gender: {field: customers.gender, quasi_identifier: true}
""",
    )
    result = export(stocked, tmp_path / "out", load_export_profiles(path).get("strict"))
    frame = qi_frame(read_frame(result), ["birth_date", "gender"])
    assert anonymity.k_anonymity(frame, ["birth_date", "gender"]) >= 25
    assert result.manifest["suppressed_rows"] <= 0.01 * population(stocked)
    assert result.manifest["generalisation"]["birth_date"]["level"] >= 2


def test_the_number_of_reader_workers_does_not_change_the_extract(
    stocked: Stocked, tmp_path: Path
) -> None:
    one = read_frame(export(stocked, tmp_path / "one", fmt=Format.CSV, workers=1))
    two = read_frame(export(stocked, tmp_path / "two", fmt=Format.CSV, workers=2))
    key = ["customer_ref"]
    pd.testing.assert_frame_equal(
        one.sort_values(key).reset_index(drop=True), two.sort_values(key).reset_index(drop=True)
    )


def test_every_row_carries_its_own_customers_features(stocked: Stocked, tmp_path: Path) -> None:
    """The features in the extract (tallied by the database) are the reference ``derive`` over
    that customer's stored rows: each row matched to its customer through the pseudonym."""
    frame = read_frame(export(stocked, tmp_path / "x", fmt=Format.CSV))
    pseudonym = Pseudonymise(
        stocked.vault.current_keyring().pseudonym_key.reveal(),
        scope=analytics().recipient,
        domain="customers.id",
    )
    children: dict[str, dict[Any, list[tuple[Any, ...]]]] = {}
    with stocked.vault.reader.connect() as conn:
        ids = list(conn.execute(sa.select(columns(Customer).id)).scalars())
        for name, model, names in (
            ("policies", Policy, feature_set.POLICY_COLUMNS),
            ("claims", Claim, feature_set.CLAIM_COLUMNS),
            ("contacts", Interaction, feature_set.INTERACTION_COLUMNS),
        ):
            c = columns(model)
            found = children.setdefault(name, {})
            for row in conn.execute(sa.select(c.customer_id, *(c[n] for n in names))):
                found.setdefault(row[0], []).append(tuple(row[1:]))
    by_ref = {pseudonym.apply(str(cid)): cid for cid in ids}
    feature_names = analytics().features
    compared = 0
    for record in frame.to_dict("records"):
        cid = by_ref[record["customer_ref"]]
        want = feature_set.derive(
            children["policies"].get(cid, ()),
            children["claims"].get(cid, ()),
            children["contacts"].get(cid, ()),
            AS_OF,
        )
        for name in feature_names:
            got, expected = record[name], want[name]
            if expected is None:
                assert pd.isna(got), (name, got)
            else:
                assert got == pytest.approx(expected, abs=1e-9), (name, got, expected)
        compared += 1
    assert compared == len(frame) > CUSTOMERS * 0.9
    assert frame["claims_count"].sum() > 0
    assert frame["interactions_total"].sum() > 0


# --- no plaintext -------------------------------------------------------------------------


def seeded_secrets(stocked: Stocked) -> set[str]:
    """Every direct identifier and sensitive value seeded, in the spellings the vault may hold."""
    values: set[str] = set()
    sources = stocked.sources
    with sources.customers.open(encoding="utf-8") as fh:  # type: ignore[union-attr]
        for row in csv.DictReader(fh):
            for column in ("full_name", "id_number", "mobile", "email", "address", "source_id"):
                value = (row[column] or "").strip()
                if len(value) >= 2:
                    values.add(value)
            digits = "".join(ch for ch in row["mobile"] if ch.isdigit())
            if len(digits) >= 8:
                values.add(digits)
            if row["email"]:
                values.add(row["email"].lower())
            if row["annual_income"]:
                values.add(row["annual_income"])  # sensitive: only bands may leave
    for path, cols in (
        (sources.interactions, ("note",)),
        (sources.claims, ("description",)),
    ):
        with path.open(encoding="utf-8") as fh:  # type: ignore[union-attr]
            for row in csv.DictReader(fh):
                for column in cols:
                    if row[column]:
                        values.add(row[column])
    with stocked.vault.reader.connect() as conn:
        for cid in conn.execute(sa.select(columns(Customer).id)).scalars():
            values.update({str(cid), cid.hex})
    return values


def leaks(blob: bytes, secrets_: set[str]) -> list[str]:
    return sorted(s for s in secrets_ if s.encode() in blob)


@pytest.mark.parametrize("fmt", [Format.CSV, Format.PARQUET])
def test_no_seeded_direct_identifier_or_sensitive_value_is_in_the_extract_bytes(
    stocked: Stocked, tmp_path: Path, fmt: Format
) -> None:
    result = export(stocked, tmp_path / "out", fmt=fmt)
    secrets_ = seeded_secrets(stocked)
    assert len(secrets_) > CUSTOMERS * 4
    blobs = [result.data_file.read_bytes(), (tmp_path / "out" / "manifest.json").read_bytes()]
    if fmt is Format.PARQUET:  # the compressed pages hide nothing from a decoded scan
        buffer = io.BytesIO()
        pacsv.write_csv(pq.read_table(result.data_file), buffer)
        blobs.append(buffer.getvalue())
    for blob in blobs:
        assert leaks(blob, secrets_) == []
    # positive control: the scan finds a seeded value once one is there
    planted = next(iter(sorted(secrets_)))
    assert planted in leaks(blobs[0] + planted.encode(), secrets_)
    assert leaks(stocked.sources.customers.read_bytes(), secrets_)  # type: ignore[union-attr]


# --- pseudonyms -----------------------------------------------------------------------------


def test_pseudonyms_are_stable_per_recipient_and_differ_across_recipients(
    stocked: Stocked, tmp_path: Path
) -> None:
    path = profile_file(
        tmp_path,
        """
  partner:
    description: same columns, another recipient
    purpose: analytics
    recipient: partner-b
    columns:
      customer_ref: {field: customers.id, operator: pseudonymise}
      gender: {field: customers.gender, quasi_identifier: true}
""",
    )
    ours = read_frame(export(stocked, tmp_path / "a", fmt=Format.CSV))
    again = read_frame(export(stocked, tmp_path / "b", fmt=Format.CSV))
    theirs = read_frame(
        export(stocked, tmp_path / "c", load_export_profiles(path).get("partner"), fmt=Format.CSV)
    )
    assert set(ours["customer_ref"]) == set(again["customer_ref"])
    assert ours["customer_ref"].is_unique
    assert not set(ours["customer_ref"]) & set(theirs["customer_ref"])


# --- never overwrite, nothing half-written -----------------------------------------------


def test_an_export_never_overwrites(stocked: Stocked, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ConflictError, match="never overwrite"):
        export(stocked, out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    afile = tmp_path / "file"
    afile.write_text("x", encoding="utf-8")
    with pytest.raises(ConflictError):
        export(stocked, afile)
    assert afile.read_text(encoding="utf-8") == "x"


def test_a_failed_export_leaves_nothing_behind(stocked: Stocked, tmp_path: Path) -> None:
    path = profile_file(
        tmp_path,
        """
  impossible:
    description: more rows per class than there are customers
    purpose: analytics
    recipient: analytics
    k: 10000
    columns:
      gender: {field: customers.gender, quasi_identifier: true}
""",
    )
    parent = tmp_path / "exports"
    parent.mkdir()
    with pytest.raises(ValidationError, match="cannot be reached"):
        export(stocked, parent / "out", load_export_profiles(path).get("impossible"))
    assert list(parent.iterdir()) == []


def test_a_missing_parent_directory_is_a_clear_error(stocked: Stocked, tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        export(stocked, tmp_path / "missing-parent" / "out")
    assert not (tmp_path / "missing-parent").exists()


# --- operator export: audited ---------------------------------------------------------------


def export_events(stocked: Stocked) -> list[Any]:
    page = list_events(stocked.vault.engine, EventQuery(action=Action.EXPORT, limit=500))
    return list(page.events)


def test_an_operator_export_is_audited_with_profile_and_row_count(
    stocked: Stocked, tmp_path: Path
) -> None:
    before = len(export_events(stocked))
    vault = stocked.vault
    audit = AuditLog(vault.engine, signer_from_keyring(vault.keyring), clock=vault.clock)
    result = export_as_operator(
        vault, audit, ExportRequest(profile=analytics(), out=tmp_path / "out", as_of=AS_OF)
    )
    events = export_events(stocked)[before:]
    assert [e.detail["stage"] for e in events] == ["intent", "result"]
    assert events[1].detail["rows"] == result.manifest["rows"]
    assert events[1].detail["profile"] == "analytics"
    assert events[1].detail["suppressed_rows"] == result.manifest["suppressed_rows"]
    assert events[1].purpose == "analytics"
    assert result.manifest["created_by"] == events[1].principal


# --- the command line ---------------------------------------------------------------------


def run_cli(stocked: Stocked, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "VAULT_DATABASE_URL": stocked.settings.database_url,
        "VAULT_KEYS": str(stocked.settings.keys_path),
        "VAULT_HOME": str(tmp_path / "home"),
    }
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.run(
        [*CLI, "export", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_cli_writes_a_csv_extract_and_refuses_to_overwrite_it(
    stocked: Stocked, tmp_path: Path
) -> None:
    out = tmp_path / "extract"
    before = len(export_events(stocked))
    done = run_cli(stocked, tmp_path, "--out", str(out), "--format", "csv", "--as-of", "2026-06-30")
    assert done.returncode == 0, done.stderr
    assert "exported" in done.stdout
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["data_file"] == "data.csv"
    assert manifest["rows"] == len(read_frame_csv(out / "data.csv"))
    assert [e.detail["stage"] for e in export_events(stocked)[before:]] == ["intent", "result"]
    digest = hashlib.sha256((out / "data.csv").read_bytes()).hexdigest()
    again = run_cli(stocked, tmp_path, "--out", str(out))
    assert again.returncode == 2
    assert "never overwrite" in again.stderr
    assert "Traceback" not in again.stderr
    assert hashlib.sha256((out / "data.csv").read_bytes()).hexdigest() == digest


def read_frame_csv(path: Path) -> pd.DataFrame:
    return pacsv.read_csv(path).to_pandas()


def test_the_cli_names_the_file_and_line_of_a_bad_profile(stocked: Stocked, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        EXPORTS_YAML.read_text(encoding="utf-8").replace(
            "customer_ref: {field: customers.id, operator: pseudonymise}",
            "customer_ref: {field: customers.mobile, operator: clear}",
        ),
        encoding="utf-8",
    )
    done = run_cli(stocked, tmp_path, "--profiles", str(bad), "--out", str(tmp_path / "o"))
    assert done.returncode == 2
    assert f"invalid export profile {bad}:" in done.stderr
    assert "customers.mobile identifies a customer: only pseudonymise" in done.stderr
    assert not (tmp_path / "o").exists()
    unknown = run_cli(stocked, tmp_path, "--profile", "nope", "--out", str(tmp_path / "o"))
    assert unknown.returncode == 3
    assert "no export profile named that" in unknown.stderr
    bad_day = run_cli(stocked, tmp_path, "--as-of", "yesterday", "--out", str(tmp_path / "o"))
    assert bad_day.returncode == 2
    assert "--as-of" in bad_day.stderr
    assert not (tmp_path / "o").exists()
