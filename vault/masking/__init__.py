"""Masking: the building blocks that hide personal data in views and extracts.

Used by the API's field-level views (``masked``, ``pseudonym``) and by
k-anonymous analytics exports.  Like every building block it knows nothing of
the API, the services or the database; keys arrive as bytes from the keyring.

* :func:`mask` / :func:`mask_id_number`: the format-aware partial mask for a
  value of a given :class:`~vault.schema.PiiType`, full redaction otherwise;
* :class:`Redact`, :class:`Suppress`: nothing of the value survives;
* :class:`Hierarchy` and :class:`Generalise`: ever coarser labels for k-anonymity;
* :class:`Pseudonymise`: keyed, per-recipient tokens;
* :class:`DateShift`: per-customer keyed date offsets that keep intervals;
* :func:`build_operator`: any of these by name, from a policy's parameters.

Every operator validates its parameters when built and only transforms when applied.
"""

from vault.masking.base import REDACTED, Operator
from vault.masking.dateshift import CustomerDate, DateShift
from vault.masking.dispatch import Mask, mask, mask_id_number
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
from vault.masking.hierarchies import (
    AddressHierarchy,
    BirthDateHierarchy,
    CategoricalHierarchy,
    GenderHierarchy,
    Hierarchy,
    IncomeHierarchy,
    PostcodeHierarchy,
    build_hierarchy,
    hierarchy_name,
)
from vault.masking.keys import MaskingKey
from vault.masking.pseudonyms import Pseudonymise
from vault.masking.redact import Redact
from vault.masking.registry import build_operator, operator_classes
from vault.masking.suppress import Suppress

__all__ = [
    "REDACTED",
    "AddressHierarchy",
    "AddressMask",
    "BankCardMask",
    "BirthDateHierarchy",
    "BirthDateMask",
    "CategoricalHierarchy",
    "CustomerDate",
    "DateShift",
    "EmailMask",
    "GenderHierarchy",
    "Generalise",
    "Hierarchy",
    "IncomeHierarchy",
    "Mask",
    "MaskingKey",
    "Operator",
    "PassportMask",
    "PersonNameMask",
    "PhoneMask",
    "PostcodeHierarchy",
    "PostcodeMask",
    "Pseudonymise",
    "Redact",
    "ResidentIdMask",
    "Suppress",
    "build_hierarchy",
    "build_operator",
    "hierarchy_name",
    "mask",
    "mask_id_number",
    "operator_classes",
]
