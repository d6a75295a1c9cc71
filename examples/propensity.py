"""Purchase propensity on a k-anonymous extract vs on the raw data: is the extract still useful?

Builds a synthetic population (``vault.demo_data``), plants a purchase signal
in it, imports it into a throw-away vault, exports it with the default
``analytics`` profile (plus the label), and trains the same scikit-learn
random forest twice on the same train/test split:

* **raw**: every customer's exact age, exact income, gender, province, city,
  marital status and the derived features, computed from the generated files;
* **extract**: the extract's columns as they left the vault (age band or
  ``*``, income band, generalised locations, the same features), minus the
  suppressed rows.

It prints both test AUCs and their gap (target: at most 0.03).

The planted signal (a logistic model, then a Bernoulli draw) is what a
propensity model in insurance typically finds: customers who already hold
more product lines, pay more premium, are in touch and satisfied, are of
working age and have a higher income buy more.  Two custom (non-PII)
attributes travel with each customer so both models see the same split and
label: ``purchased`` (the label) and ``holdout`` (the test set flag); they are
passed through by the profile like any custom attribute.

Run: ``python examples/propensity.py [--customers N] [--seed S] [--json]``
(needs the ``examples`` extra: scikit-learn and pandas).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import random
import sys
import tempfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score

from vault.demo_data import REFERENCE_DATE, generate_demo_data
from vault.extracts import features as feature_set
from vault.keyring import create_keyring
from vault.logs import configure_logging
from vault.policy.export_profiles import load_export_profiles
from vault.services.exports import ExportRequest, run_export
from vault.services.importing import ImportSources, import_files
from vault.services.runtime import open_vault
from vault.settings import PACKAGED_POLICIES, Settings
from vault.storage import migrate
from vault.storage.engine import create_vault_engine

AS_OF = REFERENCE_DATE
LABEL, HOLDOUT = "purchased", "holdout"
CATEGORICAL = ("gender", "province", "city", "marital_status")
NUMERIC_FEATURES = tuple(
    name for name, f in feature_set.FEATURES.items() if f.kind in ("int", "float", "bool")
)


# --- the synthetic population and its planted signal -----------------------------------------


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _children(files: Any) -> tuple[dict[str, list[tuple[Any, ...]]], ...]:
    """The CRM child rows per customer source id, typed as the vault stores them."""
    policies: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    claims: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    contacts: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in _read(files.policies):
        policies[row["customer_source_id"]].append(
            (
                row["product_line"],
                row["status"],
                dt.date.fromisoformat(row["start_date"]),
                Decimal(row["annual_premium"] or 0),
            )
        )
    for row in _read(files.claims):
        claims[row["customer_source_id"]].append(
            (
                dt.date.fromisoformat(row["reported_date"]),
                Decimal(row["claimed_amount"] or 0),
                Decimal(row["paid_amount"] or 0),
            )
        )
    for row in _read(files.interactions):
        moment = dt.datetime.fromisoformat(row["occurred_at"]).astimezone(dt.UTC)
        score = int(row["satisfaction"]) if row["satisfaction"] else None
        contacts[row["customer_source_id"]].append((row["channel"], moment, score))
    return policies, claims, contacts


def _age(birth: str) -> float:
    return float(AS_OF.year - dt.date.fromisoformat(birth).year) if birth else math.nan


def _income(value: str) -> float:
    return float(value) if value else math.nan


def planted_probability(row: dict[str, Any]) -> float:
    """The purchase propensity the population is drawn from (documented in the module)."""
    age, income = row["age"], row["income"]
    z = -2.2
    z += 0.9 * min(row["product_lines_held"], 3)
    z += 0.35 * math.log1p(row["total_premium"]) / math.log1p(20_000)
    z += 0.08 * min(row["interactions_total"], 10)
    z += 0.6 * (row["avg_satisfaction"] or 3) / 5
    z -= 1.0 * row["churn_flag"]
    z += 0.5 * (not math.isnan(age) and 30 <= age < 50)
    z += 0.6 * (not math.isnan(income) and income >= 200_000)
    return 1 / (1 + math.exp(-z))


def build_population(directory: Path, customers: int, seed: int) -> tuple[Path, pd.DataFrame]:
    """Demo files (CRM rows only) with the label and holdout flag, and the raw frame."""
    files = generate_demo_data(directory / "demo", customers, seed=seed)
    rng = random.Random(seed)
    policies, claims, contacts = _children(files)
    rows = [r for r in _read(files.customers) if r["source_system"] == "crm"]
    raw: list[dict[str, Any]] = []
    for row in rows:
        sid = row["source_id"]
        derived = feature_set.derive(policies[sid], claims[sid], contacts[sid], AS_OF)
        record: dict[str, Any] = {
            "age": _age(row["birth_date"]),
            "income": _income(row["annual_income"]),
            **{c: row[c] or None for c in CATEGORICAL},
            **derived,
        }
        record[LABEL] = int(rng.random() < planted_probability(record))
        record[HOLDOUT] = int(rng.random() < 0.3)
        row[LABEL], row[HOLDOUT] = str(record[LABEL]), str(record[HOLDOUT])
        raw.append(record)
    labelled = directory / "customers.csv"
    with labelled.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[*rows[0].keys()])
        writer.writeheader()
        writer.writerows(rows)
    return labelled, pd.DataFrame(raw)


# --- the export --------------------------------------------------------------------------------


def export_extract(directory: Path, customers_csv: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Import into a new vault and export with the analytics profile plus label and holdout."""
    url = f"sqlite:///{directory / 'vault.db'}"
    engine = create_vault_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    create_keyring(directory / "keys.toml")
    vault = open_vault(
        Settings.resolve(database_url=url, keys_path=directory / "keys.toml", env={})
    )
    demo = directory / "demo"
    try:
        import_files(
            vault,
            ImportSources(
                customers_csv,
                demo / "policies.csv",
                demo / "claims.csv",
                demo / "interactions.csv",
            ),
        )
        text = (PACKAGED_POLICIES / "exports.yaml").read_text(encoding="utf-8")
        text = text.replace(
            "custom_attributes: [vip_tier, preferred_language]",
            f"custom_attributes: [vip_tier, preferred_language, {LABEL}, {HOLDOUT}]",
        )
        profiles = directory / "exports.yaml"
        profiles.write_text(text, encoding="utf-8")
        profile = load_export_profiles(profiles).get("analytics")
        result = run_export(
            vault, ExportRequest(profile=profile, out=directory / "extract", as_of=AS_OF)
        )
    finally:
        vault.close()
    return pq.read_table(result.data_file).to_pandas(), result.manifest


# --- modelling ---------------------------------------------------------------------------------


def _band_value(label: Any) -> float:
    """An ordinal for a generalised label: ``30-39`` → 34.5, ``90+`` → 90, ``1983`` → its age,
    ``100k-200k`` → 150000, ``≥500k`` → 500000; ``*`` or null → NaN."""
    if label is None or (isinstance(label, float) and math.isnan(label)) or label == "*":
        return math.nan
    text = str(label)
    if len(text) == 10 and text[4] == "-" and text[:4].isdigit():
        return float(AS_OF.year - int(text[:4]))  # a full birth date (level 0)
    if len(text) == 4 and text.isdigit():
        return float(AS_OF.year - int(text))  # a birth year
    parts = text.replace("≥", "").replace("<", "").replace("+", "").split("-")
    try:
        values = [_amount(p) for p in parts]
    except ValueError:
        return math.nan
    return sum(values) / len(values)


def _amount(text: str) -> float:
    if text.endswith("k"):
        return float(text[:-1]) * 1_000
    if text.endswith("m"):
        return float(text[:-1]) * 1_000_000
    return float(text)


def design(frame: pd.DataFrame, numeric: list[str]) -> np.ndarray[Any, Any]:
    """Numbers for the forest: numeric columns as they are (NaN → -1), categories as codes."""
    columns: list[np.ndarray[Any, Any]] = []
    for name in numeric:
        columns.append(pd.to_numeric(frame[name], errors="coerce").astype(float).to_numpy())
    for name in CATEGORICAL:
        codes, _ = pd.factorize(frame[name].astype(object).fillna("<null>"), sort=True)
        columns.append(codes.astype(float))
    matrix = np.column_stack(columns)
    return np.where(np.isnan(matrix), -1.0, matrix)


def auc(frame: pd.DataFrame, numeric: list[str], seed: int) -> float:
    x = design(frame, numeric)
    y = frame[LABEL].astype(int).to_numpy()
    test = frame[HOLDOUT].astype(int).to_numpy() == 1
    model = RandomForestClassifier(
        n_estimators=300, min_samples_leaf=10, max_features="sqrt", random_state=seed, n_jobs=1
    )
    model.fit(x[~test], y[~test])
    return float(roc_auc_score(y[test], model.predict_proba(x[test])[:, 1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    configure_logging("WARNING")  # the vault's log lines go to stderr, scrubbed
    with tempfile.TemporaryDirectory(prefix="propensity-") as tmp:
        directory = Path(tmp)
        customers_csv, raw = build_population(directory, args.customers, args.seed)
        extract, manifest = export_extract(directory, customers_csv)
    extract = extract.copy()
    extract["age"] = extract["birth_date"].map(_band_value)
    extract["income"] = extract["income_band"].map(_band_value)
    extract[LABEL] = extract[LABEL].astype(int)
    extract[HOLDOUT] = extract[HOLDOUT].astype(int)
    numeric = ["age", "income", *NUMERIC_FEATURES]
    raw_auc = auc(raw, numeric, args.seed)
    extract_auc = auc(extract, numeric, args.seed)
    report = {
        "customers": len(raw),
        "extract_rows": int(manifest["rows"]),
        "suppressed_rows": int(manifest["suppressed_rows"]),
        "levels": {c: v["level_name"] for c, v in manifest["generalisation"].items()},
        "positive_rate": round(float(raw[LABEL].mean()), 3),
        "auc_raw": round(raw_auc, 4),
        "auc_extract": round(extract_auc, 4),
        "gap": round(raw_auc - extract_auc, 4),
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"customers {report['customers']}, extract rows {report['extract_rows']} "
            f"({report['suppressed_rows']} suppressed), levels {report['levels']}"
        )
        print(f"AUC raw data  {raw_auc:.4f}")
        print(f"AUC extract   {extract_auc:.4f}")
        print(f"gap           {raw_auc - extract_auc:+.4f} (target <= 0.03)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
