"""Loading ``policies/exports.yaml``: the shipped file is valid, and every mistake in a copy stops
the export with an error naming the file, the line and the key path; nothing personal leaves in
the clear whatever the file says."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from vault.errors import ConfigurationError, NotFoundError
from vault.extracts.features import FEATURES
from vault.policy.export_profiles import (
    DEFAULT_PROFILE,
    Operator,
    load_export_profiles,
    parse_export_profiles,
)
from vault.schema import Classification, registry

EXPORTS_YAML = Path(__file__).resolve().parents[2] / "policies" / "exports.yaml"
Edit = Callable[[dict[str, Any]], None]


def real() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXPORTS_YAML.read_text(encoding="utf-8"))
    return copy.deepcopy(data)


def analytics(data: dict[str, Any]) -> dict[str, Any]:
    profile: dict[str, Any] = data["profiles"]["analytics"]
    return profile


def broken_copy(tmp_path: Path, edit: Edit) -> Path:
    data = real()
    edit(data)
    path = tmp_path / "exports.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(ConfigurationError) as raised:
        load_export_profiles(path)
    return str(raised.value)


def line_of(message: str, path: Path) -> str:
    found = re.search(re.escape(str(path)) + r":(\d+):", message)
    assert found, message
    return path.read_text(encoding="utf-8").splitlines()[int(found.group(1)) - 1]


def test_the_shipped_profile_file_loads_with_the_default_analytics_profile() -> None:
    profiles = load_export_profiles(EXPORTS_YAML)
    profile = profiles.get(DEFAULT_PROFILE)
    assert profile.k == 5
    assert profile.max_suppression == 0.05
    assert profile.purpose == "analytics"
    assert profile.recipient
    assert {c.name for c in profile.quasi_identifiers} >= {"birth_date", "gender", "city"}
    assert set(profile.features) == set(FEATURES)
    assert "vip_tier" in profile.custom_attributes


def test_the_default_profile_exports_direct_identifiers_only_as_pseudonyms() -> None:
    profile = load_export_profiles(EXPORTS_YAML).get(DEFAULT_PROFILE)
    for column in profile.columns:
        if column.field.classification is Classification.DIRECT_IDENTIFIER:
            assert column.operator is Operator.PSEUDONYMISE
        if column.field.classification is Classification.SENSITIVE:
            assert column.operator is Operator.GENERALISE
            assert column.level is not None
            assert column.level >= 1
        if column.field.classification is Classification.QUASI_IDENTIFIER:
            assert column.quasi_identifier


def test_an_unknown_profile_name_is_not_found_and_the_known_ones_are_listed() -> None:
    with pytest.raises(NotFoundError, match="analytics"):
        load_export_profiles(EXPORTS_YAML).get("nope")


@pytest.mark.parametrize(
    "field",
    [
        f.qualified_name
        for f in registry()["customers"].fields
        if f.classification is Classification.DIRECT_IDENTIFIER
    ],
)
def test_a_direct_identifier_in_the_clear_is_refused(tmp_path: Path, field: str) -> None:
    path = broken_copy(
        tmp_path,
        lambda d: analytics(d)["columns"].update(leak={"field": field, "operator": "clear"}),
    )
    message = load_error(path)
    assert "only pseudonymise" in message
    assert "profiles.analytics.columns.leak.operator" in message
    assert "operator: clear" in line_of(message, path)


def test_a_direct_identifier_generalised_is_refused(tmp_path: Path) -> None:
    path = broken_copy(
        tmp_path,
        lambda d: analytics(d)["columns"].update(
            leak={"field": "customers.address", "operator": "generalise", "level": 1}
        ),
    )
    assert "customers.address identifies a customer: only pseudonymise" in load_error(path)


def test_a_sensitive_field_at_level_zero_or_in_the_clear_is_refused(tmp_path: Path) -> None:
    def edit(d: dict[str, Any]) -> None:
        analytics(d)["columns"]["income_band"]["level"] = 0
        analytics(d)["columns"]["income"] = {
            "field": "customers.annual_income",
            "operator": "clear",
        }

    message = load_error(broken_copy(tmp_path, edit))
    assert "2 problems" in message
    assert "income_band.level: customers.annual_income is sensitive: level 1 or more" in message
    assert "income.operator: customers.annual_income is sensitive: only generalise" in message


def test_a_quasi_identifier_must_be_declared_as_one(tmp_path: Path) -> None:
    path = broken_copy(
        tmp_path,
        lambda d: analytics(d)["columns"].update(
            job={"field": "customers.occupation", "operator": "clear"}
        ),
    )
    assert "customers.occupation is a quasi-identifier: declare quasi_identifier" in load_error(
        path
    )


def test_the_vault_id_leaves_only_as_a_pseudonym(tmp_path: Path) -> None:
    path = broken_copy(
        tmp_path, lambda d: analytics(d)["columns"]["customer_ref"].update(operator="clear")
    )
    assert "customers.id identifies a customer: only pseudonymise" in load_error(path)


def test_child_tables_and_free_text_are_not_columns(tmp_path: Path) -> None:
    def edit(d: dict[str, Any]) -> None:
        analytics(d)["columns"]["note"] = {"field": "interactions.notes", "operator": "clear"}
        analytics(d)["columns"]["attrs"] = {
            "field": "customers.custom_attributes",
            "operator": "clear",
        }

    message = load_error(broken_copy(tmp_path, edit))
    assert "only customers fields are columns" in message
    assert "customers.custom_attributes cannot be exported" in message


def test_unknown_fields_features_purposes_and_keys_are_all_reported(tmp_path: Path) -> None:
    def edit(d: dict[str, Any]) -> None:
        profile = analytics(d)
        profile["columns"]["x"] = {"field": "customers.shoe_size", "operator": "clear"}
        profile["features"].append("net_worth")
        profile["purpose"] = "marketing_fun"
        profile["colour"] = "blue"

    message = load_error(broken_copy(tmp_path, edit))
    assert "profiles.analytics.colour: Extra inputs are not permitted" in message

    # pydantic stops at the unknown key; once it is gone the semantic checks report together
    def edit2(d: dict[str, Any]) -> None:
        edit(d)
        del analytics(d)["colour"]

    message = load_error(broken_copy(tmp_path, edit2))
    assert "3 problems" in message
    assert "unknown field customers.shoe_size" in message
    assert "unknown feature 'net_worth'" in message
    assert "unknown purpose 'marketing_fun'" in message


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: analytics(d).update(k=1), "k: Input should be greater than or equal to 2"),
        (lambda d: analytics(d).update(k="five"), "k: Input should be a valid integer"),
        (
            lambda d: analytics(d).update(max_suppression=0.9),
            "max_suppression: Input should be less than or equal to 0.5",
        ),
        (
            lambda d: analytics(d).update(l_diversity={"attribute": "gender", "l": 2}),
            "the sensitive attribute cannot be a quasi-identifier",
        ),
        (
            lambda d: analytics(d).update(l_diversity={"attribute": "tenure_days", "l": 2}),
            "must be a generalised column or a custom attribute",
        ),
        (
            lambda d: analytics(d)["columns"]["birth_date"].update(level=2),
            "the search picks a quasi-identifier's level",
        ),
        (
            lambda d: analytics(d)["columns"]["birth_date"].update(min_level=9),
            "birth_date.min_level: must be in 0-4",
        ),
        (
            lambda d: analytics(d)["columns"]["income_band"].update(params={"bands": [5, 1]}),
            "must be positive and strictly increasing",
        ),
        (
            lambda d: analytics(d).update(custom_attributes=["mobile"]),
            "'mobile' is a registry field, not a custom attribute",
        ),
        (
            lambda d: analytics(d).update(features=["tenure_days", "tenure_days"]),
            "column 'tenure_days' is named twice",
        ),
        (lambda d: analytics(d).update(recipient="Big Corp!"), "recipient"),
        (lambda d: d.update(version=2), "version: Input should be 1"),
        (lambda d: d.update(profiles={}), "profiles: defines no profile"),
    ],
)
def test_bad_values_are_refused_with_the_key_path(
    tmp_path: Path, edit: Edit, expected: str
) -> None:
    message = load_error(broken_copy(tmp_path, edit))
    assert message.startswith("invalid export profile ")
    assert str(tmp_path / "exports.yaml") in message
    assert expected in message


def test_a_profile_without_quasi_identifiers_is_refused(tmp_path: Path) -> None:
    def edit(d: dict[str, Any]) -> None:
        columns = analytics(d)["columns"]
        for name in [n for n, c in columns.items() if c.get("quasi_identifier")]:
            del columns[name]

    assert "declares no quasi-identifier" in load_error(broken_copy(tmp_path, edit))


def test_duplicate_keys_and_broken_yaml_name_the_line(tmp_path: Path) -> None:
    text = EXPORTS_YAML.read_text(encoding="utf-8")
    dup = tmp_path / "dup.yaml"
    dup.write_text(text.replace("    k: 5\n", "    k: 5\n    k: 7\n"), encoding="utf-8")
    message = load_error(dup)
    assert re.search(re.escape(str(dup)) + r":\d+:", message), message
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nprofiles: [\n", encoding="utf-8")
    assert f"invalid export profile {broken}" in load_error(broken)


def test_a_missing_or_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    assert "cannot read export profile file" in load_error(tmp_path / "missing.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    assert "cannot read export profile file" in load_error(binary)


def test_a_top_level_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n", encoding="utf-8")
    assert "must be a mapping with 'version' and 'profiles'" in load_error(path)


def test_parse_accepts_a_minimal_profile() -> None:
    text = """
version: 1
profiles:
  tiny:
    description: minimal
    purpose: analytics
    recipient: partner-a
    columns:
      ref: {field: customers.id, operator: pseudonymise}
      gender: {field: customers.gender, quasi_identifier: true}
"""
    profile = parse_export_profiles(text, Path("tiny.yaml")).get("tiny")
    assert profile.k == 5
    assert profile.column_names == ("ref", "gender")
    assert profile.sealed_fields == (registry()["customers"].field("gender"),)
