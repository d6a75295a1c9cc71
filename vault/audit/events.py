"""What an audit event may say, checked before it is written: ids and field names, never values.

An audit log that stores the mobile number it was asked about is a second copy
of the customer data, unencrypted and kept forever.  So an :class:`AuditEvent`
carries only

* opaque identifiers (principal, role, org unit, purpose, request id) that must be
  short tokens of ``[A-Za-z0-9._:-]``: no ``@``, no spaces or CJK, and no free-standing
  run of eleven or more digits (the shape of a mobile, a PRC ID or a card number;
  digits inside a UUID, a ULID or ``E1234567`` are fine);
* customer ids as :class:`uuid.UUID`, never a natural key;
* the fields returned in clear as ``table.field`` names that the schema registry
  knows, so a *value* cannot be passed where a name is expected;
* a ``reason`` and ``detail`` map for free text, held to printable ASCII (no CJK
  names or addresses), no e-mail address and no run of seven or more digits once
  UUIDs are set aside.

The free-text checks are a net, not a guarantee (a pinyin name passes): callers
put machine-made reasons there, not user input.  A refused event raises
:class:`~vault.errors.ValidationError` naming the field, never echoing the value.
"""

from __future__ import annotations

import enum
import functools
import re
import types
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from vault import schema
from vault.audit.chain import DetailValue
from vault.errors import ValidationError


class Action(enum.StrEnum):
    """What was done (or attempted) to customer data."""

    READ = "read"
    SEARCH = "search"
    CREATE = "create"
    UPDATE = "update"
    ERASE = "erase"
    EXPORT = "export"
    IMPORT = "import"
    ROTATE_KEYS = "rotate_keys"
    """A key rotation: it re-wraps every customer's data key, so it is recorded like an access."""


class Outcome(enum.StrEnum):
    """The policy's answer, recorded before any data leaves."""

    ALLOWED = "allowed"
    DENIED = "denied"
    FAILED = "failed"


MAX_TOKEN = {"principal": 128, "role": 64, "org_unit": 64, "purpose": 64, "request_id": 128}
"""Column widths of the identifier fields (``vault.storage.audit_tables``)."""
MAX_REASON = 500
MAX_DETAIL_ENTRIES = 32
MAX_DETAIL_TEXT = 200

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
_DETAIL_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Eleven or more digits standing alone (separators allowed): mobiles, landlines with
# area code, PRC IDs (with an X check character), bank cards.  Digits inside an
# alphanumeric token (a ULID, an employee number "E1234567") do not count.
_LONG_NUMBER = re.compile(r"(?<![0-9A-Za-z])\+?\d(?:[ -]?\d){10,}[Xx]?(?![0-9A-Za-z])")
# In free text, any seven digits in a row (separators allowed) are refused outright.
_DIGIT_RUN = re.compile(r"\d(?:[ ./-]?\d){6,}")
_EMAIL = re.compile(r"\S@\S")
_PRINTABLE_ASCII = re.compile(r"[ -~]*")


def _token(name: str, value: object, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ValidationError(name, "is required and must be text")
    if len(value) > MAX_TOKEN[name]:
        raise ValidationError(name, f"is longer than {MAX_TOKEN[name]} characters")
    if not _TOKEN.fullmatch(value):
        raise ValidationError(name, "must be an identifier of letters, digits and . _ : -")
    if _LONG_NUMBER.search(_UUID.sub("-", value)):
        raise ValidationError(name, "looks like a phone or ID number, not an identifier")
    return value


def _free_text(name: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise ValidationError(name, f"is longer than {limit} characters")
    if not _PRINTABLE_ASCII.fullmatch(value):
        raise ValidationError(name, "must be printable ASCII (no names or addresses)")
    without_ids = _UUID.sub(" ", value)
    if _EMAIL.search(without_ids):
        raise ValidationError(name, "looks like it holds an e-mail address")
    if _DIGIT_RUN.search(without_ids):
        raise ValidationError(name, "holds a long digit run (a phone, ID or account number?)")
    return value


def _field_names(values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        raise ValidationError("fields_in_clear", "is a list of field names, not one string")
    registry = schema.registry()
    names: set[str] = set()
    for value in values:
        if not isinstance(value, str):
            raise ValidationError("fields_in_clear", "holds something that is not a field name")
        table_name, dot, field_name = value.partition(".")
        entry = registry.get(table_name)
        if not dot or entry is None or field_name not in {f.name for f in entry.fields}:
            raise ValidationError(
                "fields_in_clear", "names a field that is not table.field in the schema registry"
            )
        names.add(value)
    return tuple(sorted(names))


def _customer_ids(values: Iterable[uuid.UUID]) -> tuple[uuid.UUID, ...]:
    if isinstance(values, str | bytes):
        raise ValidationError("customer_ids", "is a list of customer UUIDs")
    ids: set[uuid.UUID] = set()
    for value in values:
        if not isinstance(value, uuid.UUID):
            raise ValidationError("customer_ids", "holds something that is not a customer UUID")
        ids.add(value)
    return tuple(sorted(ids))


def _detail(values: Mapping[str, DetailValue]) -> Mapping[str, DetailValue]:
    if not isinstance(values, Mapping):
        raise ValidationError("detail", "is a map of names to values")
    if len(values) > MAX_DETAIL_ENTRIES:
        raise ValidationError("detail", f"has more than {MAX_DETAIL_ENTRIES} entries")
    clean: dict[str, DetailValue] = {}
    for key in sorted(values):
        value = values[key]
        if not isinstance(key, str) or not _DETAIL_KEY.fullmatch(key):
            raise ValidationError("detail", "keys are lower_snake_case names")
        if key in _pii_field_names():
            raise ValidationError(f"detail.{key}", "is the name of a personal-data field")
        if isinstance(value, str):
            clean[key] = _free_text(f"detail.{key}", value, MAX_DETAIL_TEXT)
        elif isinstance(value, int):  # bool included
            clean[key] = value
        else:
            raise ValidationError(f"detail.{key}", "must be text, an integer or a boolean")
    return types.MappingProxyType(clean)


@functools.cache
def _pii_field_names() -> frozenset[str]:
    return frozenset(f.name for f in schema.pii_fields())


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEvent:
    """One access to customer data, as the caller reports it (the log adds time, seq, hashes).

    Construction validates and normalises: customer ids and field names are
    de-duplicated and sorted (their order carries no meaning, and a canonical
    order keeps the hash independent of how the caller listed them).
    """

    principal: str
    """Who: an employee or service-account id, never a name or e-mail."""
    role: str
    purpose: str
    action: Action
    outcome: Outcome
    request_id: str
    org_unit: str | None = None
    customer_ids: tuple[uuid.UUID, ...] = ()
    fields_in_clear: tuple[str, ...] = ()
    """``table.field`` names returned unmasked; empty when none were (denials, id-only hits)."""
    reason: str | None = None
    """Why it was denied or failed (the policy's reason), machine-made text."""
    detail: Mapping[str, DetailValue] = field(default_factory=dict)
    """Small extra facts without PII: ``{"search_field": "mobile", "result_count": 3}``."""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("principal", "role", "purpose", "request_id"):
            _token(name, getattr(self, name))
        _token("org_unit", self.org_unit, optional=True)
        try:
            set_(self, "action", Action(self.action))
        except ValueError:
            raise ValidationError("action", "is not a known audit action") from None
        try:
            set_(self, "outcome", Outcome(self.outcome))
        except ValueError:
            raise ValidationError("outcome", "is not a known audit outcome") from None
        set_(self, "customer_ids", _customer_ids(self.customer_ids))
        set_(self, "fields_in_clear", _field_names(self.fields_in_clear))
        if self.reason is not None:
            if not isinstance(self.reason, str):
                raise ValidationError("reason", "must be text")
            _free_text("reason", self.reason, MAX_REASON)
        set_(self, "detail", _detail(self.detail))
