"""The schema registry: the one place that says what every stored field is.

Every column of every table that holds customer or employee data is listed
here with its privacy classification.  Encryption at rest, blind indexing,
masking, redaction of known values and analytics exports all read this
registry instead of keeping their own lists, so a new field is classified
once and every consumer follows.  A test checks that the SQL tables and this
registry agree column for column.

Rule of the house: every field whose classification is not ``NON_PII`` is
stored only as AES-256-GCM ciphertext.  That is stricter than encrypting the
direct identifiers and sensitive fields alone: quasi-identifiers (birth date,
postcode, ...) are personal information too, and keeping them sealed costs a
few microseconds per value.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from functools import cache


class Classification(enum.StrEnum):
    """How identifying a field is, from most to least."""

    DIRECT_IDENTIFIER = "direct_identifier"
    """Identifies a person on its own: name, ID number, mobile, email, street address."""
    SENSITIVE = "sensitive"
    """Harmful if disclosed (income, health-related claim facts, free text)."""
    QUASI_IDENTIFIER = "quasi_identifier"
    """Identifies a person in combination with others: birth date, gender, postcode..."""
    NON_PII = "non_pii"
    """Business data and internal references that carry no personal meaning alone."""


class Kind(enum.StrEnum):
    """The Python type a field's plaintext has, which fixes how it is serialised."""

    TEXT = "text"
    DATE = "date"
    DATETIME = "datetime"
    DECIMAL = "decimal"
    INTEGER = "integer"
    JSON = "json"


class PiiType(enum.StrEnum):
    """What a value *is*, for format-aware masking and known-value redaction."""

    PERSON_NAME = "person_name"
    PRC_ID = "prc_id"
    PASSPORT = "passport"
    ID_NUMBER = "id_number"
    """An identity document number whose document type is given by a sibling field."""
    MOBILE = "mobile"
    EMAIL = "email"
    ADDRESS = "address"
    POSTCODE = "postcode"
    DATE_OF_BIRTH = "date_of_birth"
    GENDER = "gender"
    PROVINCE = "province"
    CITY = "city"
    INCOME = "income"
    POLICY_NUMBER = "policy_number"
    CLAIM_NUMBER = "claim_number"
    FREE_TEXT = "free_text"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Field:
    """One column of one table, as the privacy machinery sees it."""

    table: str
    name: str
    classification: Classification
    kind: Kind = Kind.TEXT
    pii_type: PiiType | None = None
    blind_index: str | None = None
    """Name of the blind-index column kept beside this field, if any."""
    free_text: bool = False
    redaction_of: str | None = None
    """For a stored redaction: the free-text field of the same row it redacts.

    Redacting free text is the costliest part of a read, and the same note is
    redacted the same way on every read until the note, the customer's known
    values or the redaction engine change; so the answer is worked out when the
    text is written and kept sealed beside it (:mod:`vault.redaction.stored`).
    Such a field is never shown: policies give views to the text it redacts."""

    @property
    def encrypted(self) -> bool:
        """Whether the field is stored only as ciphertext (the house rule above)."""
        return self.classification is not Classification.NON_PII

    @property
    def qualified_name(self) -> str:
        return f"{self.table}.{self.name}"


@dataclass(frozen=True)
class Table:
    """A table of the store and the fields it carries, in column order."""

    name: str
    fields: tuple[Field, ...]
    subject: str | None
    """How a row finds the data key it is sealed with: the column holding the
    subject id (customer or employee), ``"id"`` for the subject table itself,
    or ``None`` for tables without encrypted fields."""
    derived_indexes: tuple[str, ...] = ()
    """Blind-index columns over several fields (e.g. name + mobile for identity resolution)."""
    erased_with: str | None = None
    """The column naming the customer whose data a row is, for tables whose rows go when
    that customer is erased (:mod:`vault.services.erasure` deletes by it, children first).
    ``None`` for tables that hold no customer's data, and for the audit log, which keeps
    the customer id (a random UUID, a pseudonymous reference) as the record of access and
    of the erasure itself."""

    def field(self, name: str) -> Field:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"{self.name}.{name} is not in the schema registry") from None

    @functools.cached_property
    def _by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    @functools.cached_property
    def encrypted_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.encrypted)

    @functools.cached_property
    def stored_redactions(self) -> tuple[Field, ...]:
        """The fields holding stored redactions of this table's free text."""
        return tuple(f for f in self.fields if f.redaction_of is not None)

    @property
    def blind_index_columns(self) -> tuple[str, ...]:
        own = tuple(f.blind_index for f in self.fields if f.blind_index)
        return own + self.derived_indexes


C = Classification
D, S, Q, N = C.DIRECT_IDENTIFIER, C.SENSITIVE, C.QUASI_IDENTIFIER, C.NON_PII


def _t(
    name: str,
    subject: str | None,
    *fields: tuple[object, ...],
    derived: tuple[str, ...] = (),
    erased_with: str | None = None,
) -> Table:
    built = tuple(Field(name, *f) for f in fields)  # type: ignore[arg-type]
    return Table(
        name=name, fields=built, subject=subject, derived_indexes=derived, erased_with=erased_with
    )


@cache
def registry() -> dict[str, Table]:
    """All tables of the store, by name.  Built on first use, never at import."""
    tables = [
        _t(
            "org_units",
            None,
            ("id", N),
            ("code", N),
            ("name", N),
            ("parent_id", N),
        ),
        _t(
            "employees",
            "id",
            ("id", N),
            ("employee_no", N),
            ("org_unit_id", N),
            ("full_name", D, Kind.TEXT, PiiType.PERSON_NAME),
            ("email", D, Kind.TEXT, PiiType.EMAIL),
            ("active", N, Kind.INTEGER),
            ("created_at", N, Kind.DATETIME),
        ),
        _t(
            "customers",
            "id",
            ("id", N),
            ("full_name", D, Kind.TEXT, PiiType.PERSON_NAME),
            ("gender", Q, Kind.TEXT, PiiType.GENDER),
            ("birth_date", Q, Kind.DATE, PiiType.DATE_OF_BIRTH),
            ("id_type", N),
            ("id_number", D, Kind.TEXT, PiiType.ID_NUMBER, "id_number_bidx"),
            ("mobile", D, Kind.TEXT, PiiType.MOBILE, "mobile_bidx"),
            ("email", D, Kind.TEXT, PiiType.EMAIL, "email_bidx"),
            ("address", D, Kind.TEXT, PiiType.ADDRESS),
            ("province", Q, Kind.TEXT, PiiType.PROVINCE),
            ("city", Q, Kind.TEXT, PiiType.CITY),
            ("postcode", Q, Kind.TEXT, PiiType.POSTCODE),
            ("occupation", Q, Kind.TEXT, PiiType.OTHER),
            ("annual_income", S, Kind.DECIMAL, PiiType.INCOME),
            ("marital_status", Q, Kind.TEXT, PiiType.OTHER),
            ("education", Q, Kind.TEXT, PiiType.OTHER),
            ("org_unit_id", N),
            ("custom_attributes", N, Kind.JSON),
            ("created_at", N, Kind.DATETIME),
            ("updated_at", N, Kind.DATETIME),
            derived=("name_mobile_bidx",),
            erased_with="id",
        ),
        _t(
            "data_keys",
            None,
            ("subject_id", N),
            ("version", N, Kind.INTEGER),
            ("kek_version", N, Kind.INTEGER),
            ("wrapped", N),
            ("created_at", N, Kind.DATETIME),
            erased_with="subject_id",
        ),
        _t(
            "source_links",
            None,
            ("source_system", N),
            ("source_id", N),
            ("customer_id", N),
            ("content_digest", N),
            ("linked_at", N, Kind.DATETIME),
            erased_with="customer_id",
        ),
        _t(
            "policies",
            "customer_id",
            ("id", N),
            ("customer_id", N),
            ("policy_number", D, Kind.TEXT, PiiType.POLICY_NUMBER, "policy_number_bidx"),
            ("product_line", N),
            ("status", N),
            ("start_date", N, Kind.DATE),
            ("end_date", N, Kind.DATE),
            ("annual_premium", N, Kind.DECIMAL),
            ("sum_insured", N, Kind.DECIMAL),
            ("sales_channel", N),
            ("source_system", N),
            ("content_digest", N),
            ("created_at", N, Kind.DATETIME),
            erased_with="customer_id",
        ),
        _t(
            "claims",
            "customer_id",
            ("id", N),
            ("customer_id", N),
            ("policy_id", N),
            ("claim_number", D, Kind.TEXT, PiiType.CLAIM_NUMBER, "claim_number_bidx"),
            ("incident_date", N, Kind.DATE),
            ("reported_date", N, Kind.DATE),
            ("closed_date", N, Kind.DATE),
            ("claim_type", S, Kind.TEXT, PiiType.OTHER),
            ("claimed_amount", N, Kind.DECIMAL),
            ("paid_amount", N, Kind.DECIMAL),
            ("status", N),
            ("description", S, Kind.TEXT, PiiType.FREE_TEXT, None, True),
            ("description_redacted", S, Kind.JSON, PiiType.FREE_TEXT, None, False, "description"),
            ("source_system", N),
            ("content_digest", N),
            ("created_at", N, Kind.DATETIME),
            erased_with="customer_id",
        ),
        _t(
            "interactions",
            "customer_id",
            ("id", N),
            ("customer_id", N),
            ("channel", N),
            ("direction", N),
            ("occurred_at", N, Kind.DATETIME),
            ("topic", N),
            ("note", S, Kind.TEXT, PiiType.FREE_TEXT, None, True),
            ("note_redacted", S, Kind.JSON, PiiType.FREE_TEXT, None, False, "note"),
            ("satisfaction", N, Kind.INTEGER),
            ("source_system", N),
            ("fingerprint", N),
            ("created_at", N, Kind.DATETIME),
            erased_with="customer_id",
        ),
        _t(
            "principals",
            None,
            ("id", N),
            ("name", N),
            ("kind", N),
            ("role", N),
            ("org_unit_id", N),
            ("key_id", N),
            ("key_hash", N),
            ("created_at", N, Kind.DATETIME),
            ("revoked_at", N, Kind.DATETIME),
        ),
        _t(
            "audit_events",
            None,
            *[
                (name, N)
                for name in (
                    "seq",
                    "occurred_at",
                    "principal",
                    "role",
                    "org_unit",
                    "purpose",
                    "action",
                    "outcome",
                    "request_id",
                    "customer_ids",
                    "fields_in_clear",
                    "reason",
                    "detail",
                    "previous_hash",
                    "event_hash",
                )
            ],
        ),
        _t("audit_event_customers", None, ("customer_id", N), ("seq", N)),
        _t(
            "audit_checkpoints",
            None,
            *[
                (name, N)
                for name in (
                    "id",
                    "seq",
                    "chain_hash",
                    "signed_at",
                    "key_id",
                    "public_key",
                    "signature",
                )
            ],
        ),
        _t(
            "consents",
            None,
            ("id", N),
            ("customer_id", N),
            ("purpose", N),
            ("channel", N),
            ("status", N),
            ("recorded_at", N, Kind.DATETIME),
            ("source", N),
            ("source_system", N),
            ("fingerprint", N),
            erased_with="customer_id",
        ),
    ]
    return {t.name: t for t in tables}


def table(name: str) -> Table:
    """The registry entry for one table; ``KeyError`` names an unknown table."""
    try:
        return registry()[name]
    except KeyError:
        raise KeyError(f"table {name!r} is not in the schema registry") from None


def erased_with_customer() -> list[Table]:
    """The tables holding a customer's data, children before parents (the order to delete)."""
    return [t for t in reversed(registry().values()) if t.erased_with is not None]


def all_fields() -> list[Field]:
    return [f for t in registry().values() for f in t.fields]


def pii_fields() -> list[Field]:
    """Every field that is stored encrypted, in every table."""
    return [f for f in all_fields() if f.encrypted]
