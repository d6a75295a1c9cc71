"""Choosing the mask for a value by what it is (:class:`vault.schema.PiiType`).

Views ask for "the masked form of this field" and read the field's type from
the schema registry; this module is the one table from type to mask.  It
denies by default: a type without a mask of its own (free text, income,
policy numbers, a type added to the schema tomorrow) is fully redacted, and
an ID number is redacted unless the caller says which document it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from types import MappingProxyType
from typing import Self

from vault.errors import ValidationError
from vault.identifiers import ID_TYPES, PASSPORT, RESIDENT_ID
from vault.masking.base import REDACTED, Operator, Params
from vault.masking.formats import (
    AddressMask,
    BirthDateMask,
    EmailMask,
    PassportMask,
    PersonNameMask,
    PhoneMask,
    PostcodeMask,
    ResidentIdMask,
)
from vault.schema import PiiType


@cache
def masks_by_type() -> Mapping[PiiType, Operator[str, str]]:
    """The partial mask of every type that has one.  Built on first use."""
    return MappingProxyType(
        {
            PiiType.PERSON_NAME: PersonNameMask(),
            PiiType.PRC_ID: ResidentIdMask(),
            PiiType.PASSPORT: PassportMask(),
            PiiType.MOBILE: PhoneMask(),
            PiiType.EMAIL: EmailMask(),
            PiiType.ADDRESS: AddressMask(),
            PiiType.POSTCODE: PostcodeMask(),
            PiiType.DATE_OF_BIRTH: BirthDateMask(),
        }
    )


@cache
def _masks_by_id_type() -> Mapping[str, Operator[str, str]]:
    return MappingProxyType({RESIDENT_ID: ResidentIdMask(), PASSPORT: PassportMask()})


def mask(value: str, pii_type: PiiType | None) -> str:
    """The masked form of ``value``; types without a mask (and ``None``) are redacted."""
    operator = masks_by_type().get(pii_type) if pii_type is not None else None
    return REDACTED if operator is None else operator.apply(value)


def mask_id_number(value: str, id_type: str | None) -> str:
    """Mask an ID number as the document ``id_type`` says (``resident_id``, ``passport``).

    Any other document type is redacted: its layout is unknown, so nothing in
    it is known to be safe to show.
    """
    operator = _masks_by_id_type().get(id_type) if id_type is not None else None
    return REDACTED if operator is None else operator.apply(value)


class Mask(Operator[str, str]):
    """The dispatcher as an operator: ``mask`` with ``pii_type`` (and ``id_type``) fixed."""

    name = "mask"
    __slots__ = ("id_type", "pii_type")

    def __init__(self, pii_type: PiiType, id_type: str | None = None) -> None:
        if id_type is not None:
            if pii_type is not PiiType.ID_NUMBER:
                raise ValidationError(f"{self.name}.id_type", "applies only to id_number")
            if id_type not in ID_TYPES:
                raise ValidationError(
                    f"{self.name}.id_type", f"must be one of {', '.join(ID_TYPES)}"
                )
        self.pii_type = pii_type
        self.id_type = id_type

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> Self:
        p = Params(cls.name, params)
        raw_type = p.take("pii_type", str)
        id_type = p.take("id_type", str, None)
        p.finish()
        try:
            pii_type = PiiType(raw_type)
        except ValueError:
            raise ValidationError(p.field("pii_type"), "is not a known PII type") from None
        return cls(pii_type, id_type)

    def apply(self, value: str) -> str:
        if self.pii_type is PiiType.ID_NUMBER:
            return mask_id_number(value, self.id_type)
        return mask(value, self.pii_type)

    def __repr__(self) -> str:
        return f"Mask(pii_type={self.pii_type.value!r}, id_type={self.id_type!r})"
