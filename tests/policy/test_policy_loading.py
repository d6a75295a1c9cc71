"""Loading ``policies/roles.yaml``: the shipped file is valid, and every kind of mistake in a copy
stops start-up with an error naming the file, the line and the key path."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from vault.errors import ConfigurationError
from vault.policy import ACTIONS, PURPOSES, Scope, View, load_policies

ROLES_YAML = Path(__file__).resolve().parents[2] / "policies" / "roles.yaml"
Edit = Callable[[dict[str, Any]], None]


def real() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(ROLES_YAML.read_text(encoding="utf-8"))
    return copy.deepcopy(data)


def broken_copy(tmp_path: Path, edit: Edit) -> Path:
    data = real()
    edit(data)
    path = tmp_path / "roles.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(ConfigurationError) as raised:
        load_policies(path)
    return str(raised.value)


def line_of(message: str, path: Path) -> str:
    """The text of the line the message points at."""
    found = re.search(re.escape(str(path)) + r":(\d+):", message)
    assert found, message
    return path.read_text(encoding="utf-8").splitlines()[int(found.group(1)) - 1]


def cs(data: dict[str, Any]) -> dict[str, Any]:
    role: dict[str, Any] = data["roles"]["customer_service"]
    return role


def test_the_shipped_policy_file_loads() -> None:
    policies = load_policies(ROLES_YAML)
    assert policies.source == ROLES_YAML
    assert policies.role("customer_service").scope is Scope.ORG_UNIT
    assert policies.role("claims_adjuster").scope is Scope.ALL
    assert set(policies.actions) == set(ACTIONS)
    assert set(policies.purposes) == set(PURPOSES)


def test_every_role_in_the_shipped_file_has_a_description_and_a_comment() -> None:
    text = ROLES_YAML.read_text(encoding="utf-8")
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    for role in load_policies(ROLES_YAML).roles:
        assert load_policies(ROLES_YAML).role(role).description
        assert f"#   {role}" in header, role


def test_the_shipped_file_loads_into_the_same_views_as_its_plain_yaml() -> None:
    policies = load_policies(ROLES_YAML)
    for role, body in real()["roles"].items():
        for table, fields in (body.get("fields") or {}).items():
            for field, raw in fields.items():
                view = policies.view_for(role, f"{table}.{field}")
                if isinstance(raw, str):
                    assert view.view is View(raw)
                    assert view.consent_channels is None
                else:
                    assert view.view is View.CLEAR
                    assert view.consent_channels == frozenset(raw["clear_if_consent"]["channels"])


CASES: dict[str, tuple[Edit, str, str, str]] = {
    # name: (edit, key path in the message, problem in the message, text on the line named)
    "unknown field": (
        lambda d: cs(d)["fields"]["customers"].update(mobil="masked"),
        "roles.customer_service.fields.customers.mobil",
        "unknown field customers.mobil",
        "mobil:",
    ),
    "view of a stored redaction": (
        lambda d: cs(d)["fields"].setdefault("interactions", {}).update(note_redacted="clear"),
        "roles.customer_service.fields.interactions.note_redacted",
        "interactions.note_redacted is the stored redaction of interactions.note",
        "note_redacted:",
    ),
    "unknown view": (
        lambda d: cs(d)["fields"]["customers"].update(mobile="blurred"),
        "roles.customer_service.fields.customers.mobile",
        "unknown view 'blurred'",
        "mobile: blurred",
    ),
    "unknown action": (
        lambda d: cs(d)["actions"].append("customer.delete"),
        "roles.customer_service.actions.6",
        "unknown action 'customer.delete'",
        "customer.delete",
    ),
    "bad scope": (
        lambda d: cs(d).update(scope="region"),
        "roles.customer_service.scope",
        "'all' or 'org_unit'",
        "scope: region",
    ),
    "unknown purpose": (
        lambda d: cs(d)["purposes"].append("curiosity"),
        "roles.customer_service.purposes.1",
        "unknown purpose 'curiosity'",
        "curiosity",
    ),
    "unknown table": (
        lambda d: cs(d)["fields"].update(payments={"iban": "clear"}),
        "roles.customer_service.fields.payments",
        "table 'payments' is not in the schema registry",
        "payments:",
    ),
    "registry table without views": (
        lambda d: cs(d)["fields"].update(data_keys={"wrapped": "clear"}),
        "roles.customer_service.fields.data_keys",
        "has no views",
        "data_keys:",
    ),
    "unknown key in a role": (
        lambda d: cs(d).update(scopes="all"),
        "roles.customer_service.scopes",
        "Extra inputs are not permitted",
        "scopes:",
    ),
    "missing key in a role": (
        lambda d: cs(d).pop("purposes"),
        "roles.customer_service.purposes",
        "Field required",
        "customer_service:",
    ),
    "masked on a non-personal field": (
        lambda d: cs(d)["fields"]["customers"].update(org_unit_id="masked"),
        "roles.customer_service.fields.customers.org_unit_id",
        "masked applies only to personal fields",
        "org_unit_id: masked",
    ),
    "pseudonym on a date": (
        lambda d: cs(d)["fields"]["customers"].update(birth_date="pseudonym"),
        "roles.customer_service.fields.customers.birth_date",
        "pseudonym applies only to short text fields",
        "birth_date: pseudonym",
    ),
    "pseudonym on free text": (
        lambda d: cs(d)["fields"]["claims"].update(description="pseudonym"),
        "roles.customer_service.fields.claims.description",
        "pseudonym applies only to short text fields",
        "description: pseudonym",
    ),
    "consent condition on a non-contact field": (
        lambda d: cs(d)["fields"]["customers"].update(
            id_number={"clear_if_consent": {"channels": ["sms"]}}
        ),
        "roles.customer_service.fields.customers.id_number",
        "applies only to contact fields",
        "id_number:",
    ),
    "unknown consent channel": (
        lambda d: d["roles"]["notification_service"]["fields"]["customers"].update(
            mobile={"clear_if_consent": {"channels": ["sms", "pigeon"]}}
        ),
        "roles.notification_service.fields.customers.mobile.clear_if_consent.channels.1",
        "unknown consent channel 'pigeon'",
        "pigeon",
    ),
    "consent condition without channels": (
        lambda d: d["roles"]["notification_service"]["fields"]["customers"].update(
            mobile={"clear_if_consent": {"channel": "sms"}}
        ),
        "roles.notification_service.fields.customers.mobile.clear_if_consent",
        "expected {channels: [...]}",
        "clear_if_consent:",
    ),
    "narrowing an action the role lacks": (
        lambda d: cs(d).update(action_purposes={"customer.erase": ["customer_support"]}),
        "roles.customer_service.action_purposes.customer.erase",
        "not in the role's actions",
        "customer.erase:",
    ),
    "narrowing to a purpose the role lacks": (
        lambda d: cs(d).update(action_purposes={"customer.read": ["marketing"]}),
        "roles.customer_service.action_purposes.customer.read.0",
        "purpose 'marketing' is not in the role's purposes",
        "marketing",
    ),
    "an action listed twice": (
        lambda d: cs(d)["actions"].append("customer.read"),
        "roles.customer_service.actions.6",
        "action 'customer.read' is listed twice",
        "customer.read",
    ),
    "a role name that is not an identifier": (
        lambda d: d["roles"].update({"Customer Service": cs(d)}),
        "roles.Customer Service",
        "a role name is lower case",
        "Customer Service:",
    ),
    "a wrong version": (
        lambda d: d.update(version=2),
        "version",
        "Input should be 1",
        "version: 2",
    ),
    "a list where a mapping is due": (
        lambda d: cs(d).update(fields=["customers.mobile"]),
        "roles.customer_service.fields",
        "valid dictionary",
        "fields:",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_broken_copy_is_refused_naming_file_line_and_key(tmp_path: Path, case: str) -> None:
    edit, key_path, problem, on_line = CASES[case]
    path = broken_copy(tmp_path, edit)
    message = load_error(path)
    assert str(path) in message
    assert f": {key_path}: " in message
    assert problem in message
    assert on_line in line_of(message, path)


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    def edit(d: dict[str, Any]) -> None:
        cs(d)["fields"]["customers"].update(mobil="masked")
        cs(d)["actions"].append("customer.delete")
        d["roles"]["claims_adjuster"]["fields"]["customers"].update(mobile="blurred")

    message = load_error(broken_copy(tmp_path, edit))
    assert "3 problems" in message
    assert "customers.mobil" in message
    assert "customer.delete" in message
    assert "roles.claims_adjuster.fields.customers.mobile" in message


def test_a_duplicated_key_is_refused_rather_than_the_last_one_winning(tmp_path: Path) -> None:
    text = ROLES_YAML.read_text(encoding="utf-8")
    assert "        mobile: masked\n" in text
    path = tmp_path / "roles.yaml"
    path.write_text(
        text.replace(
            "        mobile: masked\n", "        mobile: masked\n        mobile: clear\n", 1
        ),
        encoding="utf-8",
    )
    message = load_error(path)
    assert str(path) in message
    assert "duplicate key 'mobile'" in message
    assert "mobile: clear" in line_of(message, path)


def test_invalid_yaml_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "roles.yaml"
    path.write_text("version: 1\nroles:\n  analyst: [unclosed\n", encoding="utf-8")
    message = load_error(path)
    assert re.search(re.escape(str(path)) + r":\d+: ", message)


@pytest.mark.parametrize("text", ["", "- a list\n", "just text\n"])
def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "roles.yaml"
    path.write_text(text, encoding="utf-8")
    assert str(path) in load_error(path)


def test_a_file_without_roles_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "roles.yaml"
    path.write_text("version: 1\nroles: {}\n", encoding="utf-8")
    assert "defines no role" in load_error(path)


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    message = load_error(path)
    assert "cannot read role policy" in message
    assert str(path) in message


def test_yaml_tags_that_build_python_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "roles.yaml"
    path.write_text("!!python/object/apply:os.system ['true']\n", encoding="utf-8")
    assert str(path) in load_error(path)
