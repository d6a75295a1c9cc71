"""Suppression: a value, or a whole record, withheld from an extract.

k-anonymous exports suppress the few records that no acceptable generalisation
can hide in a crowd; doing that by replacing the values (rather than dropping
the row) keeps row counts and non-identifying columns for the analyst.  The
marker is ``None`` (an SQL/Arrow null) or ``"*"`` (the top of every
generalisation hierarchy, so a suppressed value reads like a fully generalised one).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Self

from vault.errors import ValidationError
from vault.masking.base import MASK_CHAR, Operator, Params

MARKERS: tuple[str | None, ...] = (None, MASK_CHAR)


class Suppress(Operator[object, str | None]):
    """Replace a value by ``marker``; :meth:`apply_record` does it for a whole record."""

    name = "suppress"
    __slots__ = ("marker",)

    def __init__(self, marker: str | None = None) -> None:
        if marker not in MARKERS:
            raise ValidationError(f"{self.name}.marker", "must be null or '*'")
        self.marker = marker

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> Self:
        p = Params(cls.name, params)
        marker = p.take("marker", str, None)
        p.finish()
        return cls(marker)

    def apply(self, value: object) -> str | None:
        return self.marker

    def apply_record(
        self, record: Mapping[str, object], fields: Collection[str] | None = None
    ) -> dict[str, object]:
        """The record with ``fields`` (default: every field) replaced by the marker."""
        return {k: self.marker if fields is None or k in fields else v for k, v in record.items()}

    def __repr__(self) -> str:
        return f"Suppress(marker={self.marker!r})"
