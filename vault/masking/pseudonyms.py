"""Keyed pseudonyms: a stable token per value and recipient that only the key holder can compute.

``token = "p1_" + base32(HMAC-SHA256(scope key, domain ‖ value))[:24]``, lower
case: 27 URL-safe characters, 120 bits, so collisions are not a concern below
billions of values.  The scope key is derived per recipient
(:meth:`~vault.masking.keys.MaskingKey.derive`), so the same customer gets
unrelated tokens in two recipients' extracts and the extracts cannot be
joined; the ``domain`` (the field) keeps equal strings in different fields
apart.  Without the key a token cannot be recomputed from a guess, which is
what an unkeyed hash of a mobile number would allow in seconds.

Pseudonyms are computed over the value as given: canonicalise first
(:mod:`vault.identifiers`) if different spellings must get one token.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from typing import Self

from vault.errors import ValidationError
from vault.masking.base import Operator, Params, check_text
from vault.masking.keys import MaskingKey, frame

PSEUDONYM_PREFIX = "p1_"
"""``p`` for pseudonym, ``1`` for this construction: a new scheme gets a new prefix."""
_DIGEST_BYTES = 15
"""120 bits: exactly 24 base32 characters, no padding."""
PSEUDONYM_LENGTH = len(PSEUDONYM_PREFIX) + _DIGEST_BYTES * 8 // 5
PURPOSE = "pseudonym"


class Pseudonymise(Operator[str, str]):
    """Replace a value by its pseudonym for one recipient (``scope``) and field (``domain``)."""

    name = "pseudonymise"
    __slots__ = ("_scope_key", "domain", "scope")

    def __init__(self, key: bytes | MaskingKey, scope: str, domain: str = "value") -> None:
        check_text(f"{self.name}.scope", scope)
        check_text(f"{self.name}.domain", domain, max_length=64)
        self.scope = scope
        self.domain = domain
        self._scope_key = MaskingKey.of(key).derive(PURPOSE, scope)

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> Self:
        p = Params(cls.name, params)
        key = p.take_raw("key")
        scope = p.take("scope", str)
        domain = p.take("domain", str, "value")
        p.finish()
        if not isinstance(key, bytes | MaskingKey):
            raise ValidationError(p.field("key"), "must be bytes")
        return cls(key, scope, domain)

    def apply(self, value: str) -> str:
        digest = hmac.digest(self._scope_key, frame(self.domain.encode(), value.encode()), "sha256")
        token = base64.b32encode(digest[:_DIGEST_BYTES]).decode("ascii").lower()
        return PSEUDONYM_PREFIX + token

    def matches(self, value: str, token: str) -> bool:
        """Whether ``token`` is this value's pseudonym, compared in constant time."""
        return hmac.compare_digest(self.apply(value).encode(), token.encode())

    def __repr__(self) -> str:
        return f"Pseudonymise(scope={self.scope!r}, domain={self.domain!r}, key=***)"
