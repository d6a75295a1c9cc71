"""An ``Allowed`` decision is made only by the policy, cannot be forged or altered, and shaping
refuses anything else; the policy package stays a building block."""

from __future__ import annotations

import ast
import copy
import pickle
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from vault.errors import AccessDenied
from vault.policy import (
    Allowed,
    DenialCode,
    Denied,
    FieldView,
    Policies,
    Scope,
    View,
    load_policies,
    shape,
    shape_360,
)
from vault.policy import decision as decision_module

REPO = Path(__file__).resolve().parents[2]
ROLES_YAML = REPO / "policies" / "roles.yaml"
KEY = bytes(range(32))
ROW = {"id": "c-1", "full_name": "张伟", "id_number": "11010519491231002X", "org_unit_id": 7}
VIEWS = {"customers.id_number": FieldView(View.CLEAR), "customers.full_name": FieldView(View.CLEAR)}


@cache
def policies() -> Policies:
    return load_policies(ROLES_YAML)


def genuine() -> Allowed:
    decision = policies().decide("claims_adjuster", "customer.read", "claims_processing")
    assert isinstance(decision, Allowed)
    return decision


def _fields(**overrides: Any) -> dict[str, Any]:
    return {
        "role": "claims_adjuster",
        "action": "customer.read",
        "purpose": "claims_processing",
        "scope": Scope.ALL,
        "views": VIEWS,
    } | overrides


@pytest.mark.parametrize("token", [None, object(), "issuer", Allowed])
def test_an_allowed_decision_cannot_be_constructed_outside_the_policy(token: object) -> None:
    with pytest.raises(TypeError, match=r"only by Policies\.decide"):
        Allowed(token, **_fields())


def test_an_allowed_decision_cannot_be_constructed_without_arguments() -> None:
    with pytest.raises(TypeError):
        Allowed()  # type: ignore[call-arg]


def test_an_allowed_decision_made_around_the_constructor_is_refused_by_shaping() -> None:
    forged = object.__new__(Allowed)
    assert not forged.genuine
    with pytest.raises(TypeError, match=r"Policies\.decide"):
        shape(forged, "customers", ROW, pseudonym_key=KEY)


def test_a_subclass_that_skips_the_constructor_is_refused_by_shaping() -> None:
    class Sneaky(Allowed):
        __slots__ = ()

        def __init__(self) -> None:
            pass

    with pytest.raises(TypeError, match=r"Policies\.decide"):
        shape(Sneaky(), "customers", ROW, pseudonym_key=KEY)


def test_a_look_alike_object_is_refused_by_shaping() -> None:
    fake = SimpleNamespace(**_fields(), genuine=True, view_for=lambda f: FieldView(View.CLEAR))
    with pytest.raises(TypeError, match=r"Policies\.decide"):
        shape(cast(Allowed, fake), "customers", ROW, pseudonym_key=KEY)
    with pytest.raises(TypeError, match=r"Policies\.decide"):
        shape_360(cast(Allowed, fake), ROW, pseudonym_key=KEY)


def test_a_denied_decision_given_to_shaping_raises_access_denied_with_its_reason() -> None:
    denied = policies().decide("analyst", "customer.read", "analytics")
    assert isinstance(denied, Denied)
    with pytest.raises(AccessDenied) as raised:
        shape(cast(Allowed, denied), "customers", ROW, pseudonym_key=KEY)
    assert raised.value.reason == denied.reason


def test_a_denial_can_be_raised_as_access_denied() -> None:
    denied = Denied(DenialCode.OUT_OF_SCOPE, "customer has no org unit")
    with pytest.raises(AccessDenied, match="customer has no org unit"):
        denied.raise_()


def test_an_allowed_decision_cannot_be_changed() -> None:
    decision = genuine()
    with pytest.raises(AttributeError):
        decision.role = "admin"
    with pytest.raises(AttributeError):
        del decision.purpose
    with pytest.raises(TypeError):
        decision.views["customers.annual_income"] = FieldView(View.CLEAR)  # type: ignore[index]


def test_an_allowed_decision_cannot_be_pickled_and_copies_are_itself() -> None:
    decision = genuine()
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(decision)
    assert copy.copy(decision) is decision
    assert copy.deepcopy(decision) is decision


def test_the_views_of_a_decision_do_not_follow_later_changes_to_the_input() -> None:
    views = dict(VIEWS)
    decision = decision_module._issue(
        **_fields(views=views), principal_org_unit=None, customer_org_unit=None
    )
    views["customers.annual_income"] = FieldView(View.CLEAR)
    assert decision.view_for("customers.annual_income").view is View.HIDDEN


def test_a_genuine_decision_shapes() -> None:
    shaped = shape(genuine(), "customers", ROW, pseudonym_key=KEY)
    assert shaped.values["id_number"] == ROW["id_number"]


# -- a building block ---------------------------------------------------------------------


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_policy_package_imports_no_api_services_cli_or_database_code() -> None:
    forbidden = ("api.", "vault.services", "vault.cli", "vault.storage", "sqlalchemy", "sqlmodel")
    for path in (REPO / "vault" / "policy").rglob("*.py"):
        bad = sorted(i for i in _imports(path) if i == "api" or i.startswith(forbidden))
        assert bad == [], path


def test_the_policy_package_does_not_import_the_redaction_engine() -> None:
    for path in (REPO / "vault" / "policy").rglob("*.py"):
        assert not any(i.startswith("vault.redaction") for i in _imports(path)), path


def test_importing_the_policy_package_builds_nothing() -> None:
    code = (
        "import vault.policy, vault.schema, vault.masking.dispatch as d\n"
        "assert vault.schema.registry.cache_info().currsize == 0\n"
        "assert d.masks_by_type.cache_info().currsize == 0\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_a_loaded_role_policy_cannot_be_changed_at_run_time() -> None:
    role = policies().role("analyst")
    with pytest.raises(TypeError):
        role.views["customers.full_name"] = FieldView(View.CLEAR)  # type: ignore[index]
    with pytest.raises(AttributeError):
        role.actions = frozenset({"customer.read"})  # type: ignore[misc]
    assert isinstance(policies().decide("analyst", "customer.read", "analytics"), Denied)
