"""The key behind pseudonyms and date shifts, and the per-purpose, per-scope keys drawn from it.

The root key comes from the keyring's ``pseudonym`` family, as bytes; this
module never stores or loads keys.  Every use derives its own key as
HMAC-SHA256(root, label ‖ purpose ‖ scope), length-framed: a single-block PRF
derivation in the manner of NIST SP 800-108.  A pseudonym key for one
recipient therefore says nothing about the key for another, nor about the
date-shift key of the same recipient, and extracts made for two recipients
cannot be joined on their pseudonyms.

:class:`MaskingKey` keeps the bytes out of ``repr``, logs and pickles, and
compares in constant time.
"""

from __future__ import annotations

import hmac

from vault.errors import ValidationError

MIN_KEY_BYTES = 32
"""HMAC-SHA256 keys shorter than the hash add nothing but risk."""
_LABEL = b"cdv:masking:v1"


def frame(*parts: bytes) -> bytes:
    """Length-prefixed concatenation: ``("ab", "c")`` and ``("a", "bc")`` never collide."""
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


class MaskingKey:
    """Root key bytes for pseudonyms and date shifts, never shown."""

    __slots__ = ("_material",)

    def __init__(self, material: bytes) -> None:
        if not isinstance(material, bytes | bytearray):
            raise ValidationError("key", "must be bytes")
        if len(material) < MIN_KEY_BYTES:
            raise ValidationError("key", f"must be at least {MIN_KEY_BYTES} bytes")
        self._material = bytes(material)

    @classmethod
    def of(cls, key: bytes | MaskingKey) -> MaskingKey:
        """Accept either raw bytes (from the keyring) or an already wrapped key."""
        return key if isinstance(key, MaskingKey) else cls(key)

    def derive(self, purpose: str, scope: str) -> bytes:
        """The 32-byte key for one purpose (``pseudonym``, ``date_shift``) and one recipient."""
        return hmac.digest(
            self._material, frame(_LABEL, purpose.encode(), scope.encode()), "sha256"
        )

    def __repr__(self) -> str:
        return "MaskingKey(***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MaskingKey):
            return NotImplemented
        return hmac.compare_digest(self._material, other._material)

    __hash__ = None  # type: ignore[assignment]  # a hash of the bytes would be one more leak

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("MaskingKey cannot be pickled")
