"""Every masking operator by name, so policies and export requests can ask for one.

The table is built on first use, not at import; a duplicate name is a
programming error and fails the first lookup rather than shadowing an operator.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from types import MappingProxyType
from typing import Any

from vault.errors import ValidationError
from vault.masking.base import Operator
from vault.masking.dateshift import DateShift
from vault.masking.dispatch import Mask
from vault.masking.formats import (
    AddressMask,
    BankCardMask,
    BirthDateMask,
    EmailMask,
    PassportMask,
    PersonNameMask,
    PhoneMask,
    PostcodeMask,
    ResidentIdMask,
)
from vault.masking.generalise import Generalise
from vault.masking.pseudonyms import Pseudonymise
from vault.masking.redact import Redact
from vault.masking.suppress import Suppress

OperatorClass = type[Operator[Any, Any]]


@cache
def operator_classes() -> Mapping[str, OperatorClass]:
    """Every operator class, by :attr:`~vault.masking.base.Operator.name`."""
    classes: tuple[OperatorClass, ...] = (
        Redact,
        Suppress,
        Mask,
        ResidentIdMask,
        PassportMask,
        PhoneMask,
        EmailMask,
        BankCardMask,
        PersonNameMask,
        AddressMask,
        PostcodeMask,
        BirthDateMask,
        Generalise,
        Pseudonymise,
        DateShift,
    )
    table: dict[str, OperatorClass] = {}
    for cls in classes:
        if cls.name in table:
            raise RuntimeError(f"two masking operators are named {cls.name!r}")
        table[cls.name] = cls
    return MappingProxyType(table)


def build_operator(name: str, params: Mapping[str, object] | None = None) -> Operator[Any, Any]:
    """The operator called ``name``, its parameters checked (``ValidationError`` otherwise)."""
    try:
        cls = operator_classes()[name]
    except KeyError:
        raise ValidationError("operator", "is not a known masking operator") from None
    return cls.from_params(params or {})
