"""What the redactor reports: entity types, found entities, and a redacted text.

The types are the tags written into redacted text (``<MOBILE>``), so they are
short, upper-case and stable: downstream jobs grep for them.  Offsets always
refer to the text the caller passed in, never to the redacted text, so a
caller can re-apply or audit a redaction against the original.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class EntityType(enum.StrEnum):
    """Kinds of personal data the redactor finds; the value is the tag in redacted text."""

    PERSON = "PERSON"
    PRC_ID = "PRC_ID"
    ID_NUMBER = "ID_NUMBER"
    """An identity document number of a type other than a PRC resident ID or passport."""
    PASSPORT = "PASSPORT"
    MOBILE = "MOBILE"
    LANDLINE = "LANDLINE"
    BANK_CARD = "BANK_CARD"
    EMAIL = "EMAIL"
    LICENSE_PLATE = "LICENSE_PLATE"
    DATE_OF_BIRTH = "DATE_OF_BIRTH"
    ADDRESS = "ADDRESS"
    LOCATION = "LOCATION"
    """A province or city the vault holds for the customer (found only as a known value)."""
    POSTCODE = "POSTCODE"
    POLICY_NUMBER = "POLICY_NUMBER"
    CLAIM_NUMBER = "CLAIM_NUMBER"
    OTHER = "PII"
    """A known value whose key names no more specific type."""


@dataclass(frozen=True, slots=True)
class Entity:
    """One redacted span: ``text[start:end]`` of the original text is personal data."""

    type: EntityType
    start: int
    end: int
    score: float

    def to_dict(self) -> dict[str, object]:
        return {
            "type": self.type.value,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 3),
        }


@dataclass(frozen=True, slots=True)
class Redaction:
    """A redacted text and what was taken out of it."""

    text: str
    """The input with every entity replaced by ``<TYPE>``."""
    entities: list[Entity]
    """Non-overlapping, sorted by ``start``; offsets are in the original text (code points)."""
    language: str
    """The language the text was analysed as (given, or detected)."""
