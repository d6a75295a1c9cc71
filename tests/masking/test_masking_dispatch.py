"""The dispatcher: the mask for a value follows its PII type, and unknown types are denied."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.errors import ValidationError
from vault.masking import REDACTED, Mask, mask, mask_id_number
from vault.masking.dispatch import masks_by_type
from vault.schema import PiiType, pii_fields

EXAMPLES = {
    PiiType.PERSON_NAME: ("欧阳娜娜", "欧阳**"),
    PiiType.PRC_ID: ("11010519491231002X", "1****************X"),
    PiiType.PASSPORT: ("E12345678", "E******78"),
    PiiType.MOBILE: ("+86 138 1234 5678", "138****5678"),
    PiiType.EMAIL: ("zhangwei@163.com", "z***@163.com"),
    PiiType.ADDRESS: ("广东省深圳市南山区科技园路1号", "广东省深圳市****"),
    PiiType.POSTCODE: ("518057", "51****"),
    PiiType.DATE_OF_BIRTH: ("1990-05-17", "1990-**-**"),
}


@pytest.mark.parametrize(("pii_type", "example"), EXAMPLES.items(), ids=str)
def test_dispatcher_uses_the_format_mask_of_the_type(
    pii_type: PiiType, example: tuple[str, str]
) -> None:
    value, masked = example
    assert mask(value, pii_type) == masked


@pytest.mark.parametrize("pii_type", [t for t in PiiType if t not in EXAMPLES], ids=str)
def test_dispatcher_redacts_every_type_without_a_mask_of_its_own(pii_type: PiiType) -> None:
    assert mask("13812345678 zhangwei@163.com 张伟", pii_type) == REDACTED


def test_every_type_with_a_mask_has_an_example_here() -> None:
    assert set(masks_by_type()) == set(EXAMPLES)


def test_a_field_without_a_pii_type_is_redacted() -> None:
    assert mask("anything", None) == REDACTED


def test_every_registry_field_masks_to_something_other_than_a_real_value() -> None:
    for field in pii_fields():
        assert mask("13812345678", field.pii_type) != "13812345678", field.qualified_name


def test_id_number_without_document_type_is_redacted() -> None:
    assert mask("11010519491231002X", PiiType.ID_NUMBER) == REDACTED
    assert mask_id_number("11010519491231002X", None) == REDACTED
    assert mask_id_number("11010519491231002X", "driving_licence") == REDACTED


def test_id_number_is_masked_as_its_document_type() -> None:
    assert mask_id_number("11010519491231002X", "resident_id") == "1****************X"
    assert mask_id_number("E12345678", "passport") == "E******78"


@given(st.text(max_size=40), st.sampled_from(list(PiiType)))
def test_dispatcher_is_deterministic(value: str, pii_type: PiiType) -> None:
    assert mask(value, pii_type) == mask(value, pii_type)


def test_mask_operator_applies_the_dispatcher_with_its_type_fixed() -> None:
    assert Mask(PiiType.MOBILE).apply("13812345678") == "138****5678"
    assert Mask(PiiType.ID_NUMBER, "passport").apply("E12345678") == "E******78"
    assert Mask.from_params({"pii_type": "email"}).apply("zhangwei@163.com") == "z***@163.com"


def test_mask_operator_refuses_a_document_type_for_other_pii_types() -> None:
    with pytest.raises(ValidationError, match=r"mask\.id_type"):
        Mask(PiiType.MOBILE, "passport")
    with pytest.raises(ValidationError, match=r"mask\.id_type"):
        Mask(PiiType.ID_NUMBER, "driving_licence")


def test_mask_operator_refuses_an_unknown_pii_type() -> None:
    with pytest.raises(ValidationError, match=r"mask\.pii_type"):
        Mask.from_params({"pii_type": "shoe_size"})
