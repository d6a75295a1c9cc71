"""The rule that keeps custom attributes free of personal data.

Custom attributes (CRM columns the schema registry does not know, such as
``vip_tier``) are stored in clear so analysts can use them.  That is safe only
while they really are non-PII, and a CSV column is whatever the source system
put there: a ``wechat_id`` or a second phone number would otherwise land in the
database unencrypted.  So a custom attribute is refused when its *name* says it
holds personal data, or its *value* has the shape of an identifier (a run of
seven or more digits, the shortest landline or card fragment worth hiding; an
e-mail address).  Refused, not stored: the remedy is to map the column onto a
registry field, or to drop it from the extract.
"""

from __future__ import annotations

import re

_PERSONAL_NAME_PARTS = (
    "name", "phone", "mobile", "telephone", "fax", "mail", "wechat", "weixin", "qq", "whatsapp",
    "passport", "idcard", "id_card", "id_no", "id_number", "identity", "ssn", "birth", "dob",
    "address", "addr", "street", "card", "bank", "iban", "licen", "plate", "ip_address",
)  # fmt: skip
"""Substrings of a lower-cased attribute name that say it holds personal data."""

_DIGIT_RUN = re.compile(r"\d(?:[\s./()+-]*\d){6,}")
_EMAIL = re.compile(r"\S@\S+\.\S")


def attribute_problem(key: str, value: str) -> str | None:
    """Why ``key = value`` may not be stored as a clear custom attribute, or ``None``.

    The reason names the rule, never the value (it goes to rejects files and
    problem details).
    """
    lowered = key.lower()
    if any(part in lowered for part in _PERSONAL_NAME_PARTS):
        return "custom attribute name suggests personal data; map it to a profile field"
    if _DIGIT_RUN.search(value):
        return "custom attribute value looks like an identifier (7 or more digits)"
    if _EMAIL.search(value):
        return "custom attribute value looks like an e-mail address"
    return None
