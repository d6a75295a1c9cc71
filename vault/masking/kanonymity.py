"""k-anonymity (and l-diversity) enforced by search over generalisation levels, on counts only.

An extract is k-anonymous when every combination of its quasi-identifier
labels (an *equivalence class*) is shared by at least ``k`` rows.  This module
finds, for given counts, the generalisation levels (one per quasi-identifier,
a node of the lattice of their hierarchies) and the rows to suppress that
make it so with the least information loss.  It never sees a row: the caller
counts how many rows have each combination of level-0 codes (and, for
l-diversity, of a sensitive value), which is what makes a two-pass export
possible in bounded memory.

Search.  Every node of the lattice is evaluated (the lattices of an export
profile are small: a few hundred nodes at most, checked when the profile is
loaded).  At a node, classes smaller than ``k`` (or with fewer than ``l``
distinct sensitive values) would have to be suppressed; a node is *feasible*
when that costs at most ``max_suppression`` of the rows.  The top node (every
label ``*``) is one class of all rows, so some node is feasible whenever there
are at least ``k`` rows (and ``l`` distinct sensitive values).

Information loss (lower is better), in ``[0, 1]``::

    loss(node) = (1 - s) * mean_q (H_q,0 - H_q,level) / H_q,0  +  s

where ``H_q,level`` is the entropy of quasi-identifier ``q``'s labels at that
level over all rows (the information about ``q`` that the labels still carry),
and ``s`` the fraction of rows suppressed, which lose everything.  This is the
non-uniform entropy measure of Gionis and Tassa, normalised per attribute so
that a 25,000-value birth date and a two-value gender weigh the same.  Ties go
to the node that suppresses fewer rows, then to the lower levels.

Besides the chosen node, the result says which node would have been chosen
with no suppression limit: when the two differ, the limit made the search
generalise further instead of suppressing more, and exports say so.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from vault.errors import ValidationError

IntArray = npt.NDArray[np.int64]

MAX_NODES = 5000
"""More lattice nodes than this is a profile with too many quasi-identifiers to search."""


@dataclass(frozen=True)
class Ladder:
    """One quasi-identifier's hierarchy, as codes: ``steps[level][code0]`` is the code at ``level``.

    ``steps[0]`` is the identity; the last level maps every code to one code
    (``*``).  ``min_level`` is the lowest level the profile allows.
    """

    column: str
    steps: tuple[IntArray, ...]
    min_level: int = 0

    @property
    def levels(self) -> int:
        return len(self.steps)


@dataclass(frozen=True)
class Counts:
    """How many rows have each combination of level-0 codes (one row of ``codes`` each).

    ``codes`` has one column per quasi-identifier, in ladder order; ``sensitive``
    (optional) gives the sensitive value's code of each combination, so the same
    quasi-identifier combination may appear once per sensitive value.
    """

    codes: IntArray
    weights: IntArray
    sensitive: IntArray | None = None

    @property
    def total(self) -> int:
        return int(self.weights.sum())


@dataclass(frozen=True)
class Evaluation:
    """What one lattice node costs."""

    levels: tuple[int, ...]
    suppressed: int
    loss: float
    k_achieved: int
    """The smallest equivalence class that is kept (0 if every row is suppressed)."""
    l_achieved: int | None
    feasible: bool


@dataclass(frozen=True)
class Solution:
    """The chosen node, and whether the suppression limit pushed it up the lattice."""

    chosen: Evaluation
    unconstrained: Evaluation
    """The least-loss node had suppression been unlimited."""
    nodes_evaluated: int

    @property
    def limit_binding(self) -> bool:
        """Whether the suppression limit forced more generalisation than least loss wanted."""
        return self.chosen.levels != self.unconstrained.levels


_KEY_LIMIT = 2**62
"""Keys stay below this, far from int64 overflow."""


def class_keys(ladders: Sequence[Ladder], codes: IntArray, levels: Sequence[int]) -> IntArray:
    """One integer per row of ``codes``: equal exactly when the labels at ``levels`` are equal.

    Codes are combined column by column in mixed radix; only when the next
    column would overflow 62 bits is the key renumbered densely first (a sort:
    the search evaluates every lattice node, so it is skipped whenever the
    product of the widths fits, which it does for any ordinary profile).
    """
    key = np.zeros(len(codes), dtype=np.int64)
    bound = 1
    for q, (ladder, level) in enumerate(zip(ladders, levels, strict=True)):
        column = ladder.steps[level][codes[:, q]]
        width = int(ladder.steps[level].max(initial=0)) + 1
        if bound * width >= _KEY_LIMIT:
            key = np.unique(key, return_inverse=True)[1].astype(np.int64).ravel()
            bound = int(key.max(initial=0)) + 1
        key = key * width + column
        bound *= width
    return key


def evaluate(
    ladders: Sequence[Ladder],
    counts: Counts,
    levels: Sequence[int],
    *,
    k: int,
    l_diversity: int | None,
    max_suppressed: int,
    entropy_loss: Sequence[Sequence[float]],
) -> Evaluation:
    """The suppression, loss and achieved k (and l) of one node."""
    key = class_keys(ladders, counts.codes, levels)
    classes, inverse = np.unique(key, return_inverse=True)
    sizes = np.bincount(inverse, weights=counts.weights, minlength=len(classes))
    bad = sizes < k
    distinct: IntArray | None = None
    if l_diversity is not None and counts.sensitive is not None:
        pairs = np.unique(np.stack((inverse, counts.sensitive), axis=1), axis=0)
        distinct = np.bincount(pairs[:, 0], minlength=len(classes)).astype(np.int64)
        bad |= distinct < l_diversity
    suppressed = int(sizes[bad].sum())
    kept = sizes[~bad]
    total = counts.total
    share = suppressed / total if total else 1.0
    attribute_loss = [entropy_loss[q][level] for q, level in enumerate(levels)]
    loss = (1 - share) * (sum(attribute_loss) / len(levels) if levels else 0.0) + share
    l_achieved = None
    if distinct is not None:
        kept_distinct = distinct[~bad]
        l_achieved = int(kept_distinct.min()) if len(kept_distinct) else 0
    return Evaluation(
        levels=tuple(levels),
        suppressed=suppressed,
        loss=loss,
        k_achieved=int(kept.min()) if len(kept) else 0,
        l_achieved=l_achieved,
        feasible=suppressed <= max_suppressed and len(kept) > 0,
    )


def entropy_losses(ladders: Sequence[Ladder], counts: Counts) -> list[list[float]]:
    """``[q][level]``: the share of quasi-identifier ``q``'s entropy lost at ``level``."""
    losses: list[list[float]] = []
    for q, ladder in enumerate(ladders):
        marginal = np.bincount(
            counts.codes[:, q], weights=counts.weights, minlength=len(ladder.steps[0])
        )
        h0 = _entropy(marginal)
        row: list[float] = []
        for step in ladder.steps:
            at_level = np.bincount(step, weights=marginal, minlength=int(step.max(initial=0)) + 1)
            row.append(0.0 if h0 == 0 else max(0.0, (h0 - _entropy(at_level)) / h0))
        losses.append(row)
    return losses


def _entropy(weights: npt.NDArray[Any]) -> float:
    total = float(weights.sum())
    if total <= 0:
        return 0.0
    p = weights[weights > 0] / total
    return float(-(p * np.log2(p)).sum())


def lattice_size(levels: Sequence[int], min_levels: Sequence[int]) -> int:
    return math.prod(n - m for n, m in zip(levels, min_levels, strict=True))


def search(
    ladders: Sequence[Ladder],
    counts: Counts,
    *,
    k: int,
    max_suppression: float,
    l_diversity: int | None = None,
) -> Solution:
    """The least-loss feasible node; ``ValidationError`` if no node can reach k (and l)."""
    if k < 1:
        raise ValidationError("k", "must be at least 1")
    if not 0 <= max_suppression < 1:
        raise ValidationError("max_suppression", "must be a fraction in [0, 1)")
    nodes = lattice_size([x.levels for x in ladders], [x.min_level for x in ladders])
    if nodes > MAX_NODES:
        raise ValidationError("quasi_identifiers", f"span {nodes} lattice nodes (max {MAX_NODES})")
    total = counts.total
    if total < k:
        raise ValidationError("k", f"cannot be reached: only {total} rows to export")
    max_suppressed = math.floor(max_suppression * total)
    losses = entropy_losses(ladders, counts)
    best: Evaluation | None = None
    unconstrained: Evaluation | None = None
    evaluated = 0
    ranges = [range(x.min_level, x.levels) for x in ladders]
    for levels in itertools.product(*ranges):
        node = evaluate(
            ladders,
            counts,
            levels,
            k=k,
            l_diversity=l_diversity,
            max_suppressed=max_suppressed,
            entropy_loss=losses,
        )
        evaluated += 1
        if node.k_achieved and (unconstrained is None or _better(node, unconstrained)):
            unconstrained = node
        if node.feasible and (best is None or _better(node, best)):
            best = node
    if best is None or unconstrained is None:
        what = f"k={k}" + (f" with l={l_diversity}" if l_diversity else "")
        raise ValidationError("k", f"{what} cannot be reached even with every label generalised")
    return Solution(chosen=best, unconstrained=unconstrained, nodes_evaluated=evaluated)


def _better(a: Evaluation, b: Evaluation) -> bool:
    return (round(a.loss, 12), a.suppressed, sum(a.levels)) < (
        round(b.loss, 12),
        b.suppressed,
        sum(b.levels),
    )


def node_keys(ladders: Sequence[Ladder], codes: IntArray, levels: Sequence[int]) -> IntArray:
    """Class keys at one node that do not depend on which rows are present (mixed radix).

    Unlike :func:`class_keys` these can be computed chunk by chunk in a second
    pass and still match; ``ValidationError`` if the node has too many classes
    to number in 62 bits (a profile with absurdly fine quasi-identifiers).
    """
    widths = [
        int(x.steps[level].max(initial=0)) + 1 for x, level in zip(ladders, levels, strict=True)
    ]
    if math.prod(widths) >= _KEY_LIMIT:
        raise ValidationError("quasi_identifiers", "have too many distinct labels to number")
    key = np.zeros(len(codes), dtype=np.int64)
    for q, (ladder, level) in enumerate(zip(ladders, levels, strict=True)):
        key = key * widths[q] + ladder.steps[level][codes[:, q]]
    return key


def suppressed_classes(
    ladders: Sequence[Ladder],
    counts: Counts,
    levels: Sequence[int],
    *,
    k: int,
    l_diversity: int | None,
) -> tuple[IntArray, npt.NDArray[np.bool_]]:
    """For the chosen node: the sorted :func:`node_keys` of its classes, and which are suppressed.

    A second pass finds each row's class with ``np.searchsorted`` on the keys.
    """
    key = node_keys(ladders, counts.codes, levels)
    classes, inverse = np.unique(key, return_inverse=True)
    sizes = np.bincount(inverse, weights=counts.weights, minlength=len(classes))
    bad = sizes < k
    if l_diversity is not None and counts.sensitive is not None:
        pairs = np.unique(np.stack((inverse, counts.sensitive), axis=1), axis=0)
        bad |= np.bincount(pairs[:, 0], minlength=len(classes)) < l_diversity
    return classes.astype(np.int64), bad
