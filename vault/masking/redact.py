"""Full redaction: the value is replaced by a fixed marker, nothing of it survives.

This is the deny-by-default answer: the format-aware masks fall back to it for
values they cannot parse, and the dispatcher uses it for every type without a
mask of its own.  The marker never depends on the value, not even on its length.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self

from vault.masking.base import REDACTED, Operator, Params, check_text
from vault.schema import PiiType


class Redact(Operator[str, str]):
    """Replace a value entirely by ``replacement`` (``<REDACTED>`` or a type tag)."""

    name = "redact"
    __slots__ = ("replacement",)

    def __init__(self, replacement: str = REDACTED) -> None:
        check_text(f"{self.name}.replacement", replacement, max_length=64)
        self.replacement = replacement

    @classmethod
    def tagged(cls, pii_type: PiiType) -> Self:
        """A redaction that says what was removed: ``<MOBILE>``, ``<PERSON_NAME>``..."""
        return cls(f"<{pii_type.name}>")

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> Self:
        p = Params(cls.name, params)
        replacement = p.take("replacement", str, REDACTED)
        p.finish()
        return cls(replacement)

    def apply(self, value: str) -> str:
        return self.replacement

    def __repr__(self) -> str:
        return f"Redact({self.replacement!r})"
