"""Blind indexes: keyed HMAC-SHA256 over canonical identifiers, so lookups never decrypt.

A blind index lets ``WHERE mobile_bidx = ?`` find a customer whose mobile is
stored only as ciphertext.  The digest is keyed (the ``index`` key family, kept
apart from the KEKs) so that someone holding the database alone cannot test
guesses; it is domain-separated per field so equal strings in different fields
do not collide; and it is computed over the canonical form from
:mod:`vault.identifiers`, so every spelling of one mobile finds the same row.

Lookups compute the digest under every index-key version the keyring holds
(:meth:`BlindIndexer.candidates`), which is what lets the index key be rotated
by re-indexing rows in the background while searches keep working.
"""

from __future__ import annotations

from vault import identifiers
from vault.crypto import SecretKey, keyed_hash
from vault.errors import ValidationError
from vault.keyring import KeyFamily

ID_NUMBER = "id_number"
MOBILE = "mobile"
EMAIL = "email"
NAME_MOBILE = "name_mobile"
POLICY_NUMBER = "policy_number"
CLAIM_NUMBER = "claim_number"
FINGERPRINT = "fingerprint"


class BlindIndexer:
    """Computes blind-index digests under the primary index key (and all others for lookups)."""

    def __init__(self, index_keys: KeyFamily) -> None:
        self._primary: SecretKey = index_keys.primary_key
        others = [
            kv.key for v, kv in sorted(index_keys.versions.items()) if v != index_keys.primary
        ]
        self._all: tuple[SecretKey, ...] = (self._primary, *others)

    def digest(self, field: str, canonical: str) -> bytes:
        """The digest stored beside a value; ``canonical`` is already normalised."""
        return keyed_hash(self._primary, _message(field, canonical))

    def candidates(self, field: str, canonical: str) -> list[bytes]:
        """Every digest a stored row may carry for this value, one per index-key version."""
        message = _message(field, canonical)
        return [keyed_hash(key, message) for key in self._all]

    def others(self, field: str, canonical: str) -> tuple[bytes, ...]:
        """Digests under the non-primary versions: empty unless a re-index is under way.

        Writers that match stored rows (the importer's identity resolution) look
        these up too, so a row not yet re-indexed is still recognised.
        """
        message = _message(field, canonical)
        return tuple(keyed_hash(key, message) for key in self._all[1:])

    def name_mobile(self, name: str, e164: str) -> bytes:
        """The composite index used to match rows that carry no ID number."""
        return self.digest(NAME_MOBILE, name_mobile_form(name, e164))

    def name_mobile_others(self, name: str, e164: str) -> tuple[bytes, ...]:
        return self.others(NAME_MOBILE, name_mobile_form(name, e164))

    def __repr__(self) -> str:
        return f"BlindIndexer(versions={len(self._all)})"


def search_form(field: str, value: str) -> str:
    """Canonical form of a search term for ``field``; raises ValidationError on nonsense."""
    if field == ID_NUMBER:
        cleaned = value.replace(" ", "").replace("-", "").upper()
        if not cleaned:
            raise ValidationError(field, "is required")
        return cleaned
    if field == MOBILE:
        return identifiers.canonical_mobile(value, field)
    if field == EMAIL:
        return identifiers.email_index_form(identifiers.canonical_email(value, field))
    raise ValidationError(field, "is not a searchable field")


def name_mobile_form(name: str, e164: str) -> str:
    return identifiers.name_index_form(name) + "\x00" + e164


def _message(field: str, canonical: str) -> bytes:
    return b"cdv:bidx:v1\x00" + field.encode() + b"\x00" + canonical.encode()
