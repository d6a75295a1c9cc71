"""Generalisation as an operator: one hierarchy at one level, checked once, applied per row.

k-anonymous exports pick a level per quasi-identifier (by search over the
hierarchies' levels) and then generalise every row at those levels; building
a :class:`Generalise` per column is where the level and the hierarchy's
parameters (``today``, income bands) are checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, Self, TypeVar

from vault.masking.base import Operator, Params
from vault.masking.hierarchies import Hierarchy, build_hierarchy

T = TypeVar("T")


class Generalise(Operator[T, str], Generic[T]):
    """The label of a value at ``level`` of ``hierarchy``."""

    name = "generalise"
    __slots__ = ("hierarchy", "level")

    def __init__(self, hierarchy: Hierarchy[T], level: int) -> None:
        hierarchy.check_level(level)
        self.hierarchy = hierarchy
        self.level = level

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> Self:
        """``hierarchy`` and ``level``; every other parameter goes to the hierarchy."""
        p = Params(cls.name, params)
        name = p.take("hierarchy", str)
        level = p.take("level", int)
        hierarchy: Hierarchy[Any] = build_hierarchy(name, p.rest())
        return cls(hierarchy, level)

    def apply(self, value: T) -> str:
        return self.hierarchy.generalise(value, self.level)

    def __repr__(self) -> str:
        return f"Generalise({self.hierarchy!r}, level={self.level})"
