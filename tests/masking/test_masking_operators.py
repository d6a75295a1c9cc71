"""The operator registry, parameter checking, redaction, suppression, and import hygiene."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from vault.errors import ValidationError
from vault.masking import (
    REDACTED,
    Operator,
    Redact,
    Suppress,
    build_operator,
    operator_classes,
)
from vault.schema import PiiType


def test_every_operator_is_registered_under_its_own_name() -> None:
    for name, cls in operator_classes().items():
        assert cls.name == name
        assert issubclass(cls, Operator)


def test_registry_holds_every_kind_of_operator() -> None:
    assert {
        "redact",
        "suppress",
        "mask",
        "generalise",
        "pseudonymise",
        "shift_dates",
    } <= set(operator_classes())


def test_build_operator_refuses_an_unknown_name() -> None:
    with pytest.raises(ValidationError, match="operator"):
        build_operator("scramble")


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("redact", {"replacment": "x"}, "redact.replacment"),
        ("mask_phone", {"keep": 4}, "mask_phone.keep"),
        ("mask_address", {"keep": "street"}, "mask_address.keep"),
        ("generalise", {"hierarchy": "postcode"}, "generalise.level"),
        ("generalise", {"hierarchy": "postcode", "level": True}, "generalise.level"),
        ("generalise", {"hierarchy": "postcode", "level": "2"}, "generalise.level"),
        ("generalise", {"hierarchy": "postcode", "level": 1, "today": 1}, "postcode.today"),
        ("shift_dates", {"key": bytes(32), "scope": "a", "max_days": 0}, "shift_dates.max_days"),
        ("pseudonymise", {"key": bytes(32)}, "pseudonymise.scope"),
        ("suppress", {"marker": "-"}, "suppress.marker"),
    ],
)
def test_bad_parameters_are_refused_when_the_operator_is_built(
    name: str, params: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        build_operator(name, params)
    assert raised.value.field == field


def test_built_operators_apply_without_further_checks() -> None:
    generalise = build_operator(
        "generalise", {"hierarchy": "birth_date", "level": 1, "today": dt.date(2024, 1, 1)}
    )
    assert generalise.apply(dt.date(1990, 5, 17)) == "1990"
    assert (
        build_operator("mask_address", {"keep": "province"}).apply("广东省深圳市") == "广东省****"
    )


def test_redaction_replaces_the_whole_value_whatever_it_is() -> None:
    assert Redact().apply("13812345678") == REDACTED
    assert Redact().apply("") == REDACTED
    assert Redact.tagged(PiiType.MOBILE).apply("13812345678") == "<MOBILE>"
    assert build_operator("redact", {"replacement": "[removed]"}).apply("x") == "[removed]"


def test_an_empty_replacement_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"redact\.replacement"):
        Redact("")


def test_suppression_replaces_a_value_by_null_or_star() -> None:
    assert Suppress().apply("518057") is None
    assert Suppress("*").apply("518057") == "*"


def test_suppressing_a_record_replaces_every_field_or_the_named_ones() -> None:
    record = {"postcode": "518057", "gender": "F", "claims": 3}
    assert Suppress().apply_record(record) == {"postcode": None, "gender": None, "claims": None}
    assert Suppress("*").apply_record(record, {"postcode", "gender"}) == {
        "postcode": "*",
        "gender": "*",
        "claims": 3,
    }


def test_masking_imports_no_api_services_storage_or_database_code() -> None:
    """A building block: importing it must not pull in the layers above or the database."""
    code = (
        "import sys, vault.masking, vault.masking.registry\nprint('\\n'.join(sorted(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    forbidden = ("api", "vault.services", "vault.storage", "sqlalchemy", "sqlmodel", "psycopg")
    assert [m for m in loaded if m.split(".")[0] in forbidden or m.startswith(forbidden)] == []
