"""k-anonymity search: whatever the data, the generalised and suppressed rows it prescribes are
k-anonymous (and l-diverse) as checked independently by pycanon, within the suppression bound."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycanon import anonymity

from vault.errors import ValidationError
from vault.masking.hierarchies import (
    BirthDateHierarchy,
    CategoricalHierarchy,
    Hierarchy,
    IncomeHierarchy,
)
from vault.masking.kanonymity import (
    Counts,
    Ladder,
    Solution,
    class_keys,
    node_keys,
    search,
    suppressed_classes,
)

TODAY = dt.date(2026, 1, 1)


def _ladder(
    name: str, hierarchy: Hierarchy[Any], values: Sequence[Any]
) -> tuple[Ladder, list[list[str]]]:
    """Codes of ``values`` (level 0 = position) at every level, and the labels of those codes."""
    steps: list[np.ndarray[Any, Any]] = []
    labels: list[list[str]] = []
    for level in range(hierarchy.levels):
        seen: dict[str, int] = {}
        codes = [seen.setdefault(hierarchy.generalise(v, level), len(seen)) for v in values]
        steps.append(np.asarray(codes, dtype=np.int64))
        labels.append(list(seen))
    return Ladder(name, tuple(steps)), labels


def anonymise(
    frame: pd.DataFrame,
    hierarchies: dict[str, Hierarchy[Any]],
    *,
    k: int,
    max_suppression: float,
    sensitive: str | None = None,
    l: int | None = None,  # noqa: E741
) -> tuple[pd.DataFrame, Solution]:
    """Run the search on the frame's counts and apply its answer to the rows, as an export does."""
    ladders: list[Ladder] = []
    labels: list[list[list[str]]] = []
    row_codes: list[np.ndarray[Any, Any]] = []
    for name, hierarchy in hierarchies.items():
        values = list(dict.fromkeys(frame[name]))
        ladder, names = _ladder(name, hierarchy, values)
        ladders.append(ladder)
        labels.append(names)
        position = {v: i for i, v in enumerate(values)}
        row_codes.append(np.asarray([position[v] for v in frame[name]], dtype=np.int64))
    codes = np.stack(row_codes, axis=1)
    if sensitive is not None:
        s_values = {v: i for i, v in enumerate(dict.fromkeys(frame[sensitive]))}
        s_codes = np.asarray([s_values[v] for v in frame[sensitive]], dtype=np.int64)
        stacked = np.concatenate([codes, s_codes[:, None]], axis=1)
    else:
        stacked = codes
    unique, weights = np.unique(stacked, axis=0, return_counts=True)
    counts = Counts(
        codes=unique[:, : len(ladders)],
        weights=weights.astype(np.int64),
        sensitive=unique[:, len(ladders)] if sensitive is not None else None,
    )
    solution = search(ladders, counts, k=k, max_suppression=max_suppression, l_diversity=l)
    levels = solution.chosen.levels
    classes, bad = suppressed_classes(ladders, counts, levels, k=k, l_diversity=l)
    keep = ~bad[np.searchsorted(classes, node_keys(ladders, codes, levels))]
    out = frame.copy()
    for q, name in enumerate(hierarchies):
        at_level = ladders[q].steps[levels[q]][codes[:, q]]
        out[name] = [labels[q][levels[q]][c] for c in at_level]
    return out[keep].reset_index(drop=True), solution


def population(rng: np.random.Generator, n: int) -> pd.DataFrame:
    start = dt.date(1940, 1, 1).toordinal()
    births = [dt.date.fromordinal(start + int(d)) for d in rng.integers(0, 365 * 65, n)]
    return pd.DataFrame(
        {
            "birth_date": births,
            "gender": rng.choice(["F", "M"], n),
            "city": rng.choice([f"city{i}" for i in range(12)], n),
            "income": rng.integers(10_000, 900_000, n),
            "diagnosis": rng.choice(["a", "b", "c", "d"], n),
        }
    )


def hierarchies() -> dict[str, Hierarchy[Any]]:
    return {
        "birth_date": BirthDateHierarchy(TODAY),
        "gender": CategoricalHierarchy(),
        "city": CategoricalHierarchy(),
    }


QI = ["birth_date", "gender", "city"]


@pytest.mark.parametrize("k", [2, 5, 10, 50])
def test_the_result_is_k_anonymous_per_pycanon_and_within_the_suppression_bound(k: int) -> None:
    frame = population(np.random.default_rng(k), 3000)
    out, solution = anonymise(frame, hierarchies(), k=k, max_suppression=0.05)
    assert anonymity.k_anonymity(out, QI) >= k
    assert len(frame) - len(out) == solution.chosen.suppressed
    assert solution.chosen.suppressed <= math.floor(0.05 * len(frame))
    assert solution.chosen.k_achieved == anonymity.k_anonymity(out, QI)


def test_the_raw_population_is_not_k_anonymous_so_the_search_had_work_to_do() -> None:
    """Positive control: pycanon does see the raw data as unique per row."""
    frame = population(np.random.default_rng(1), 3000)
    assert anonymity.k_anonymity(frame, QI) == 1
    out, solution = anonymise(frame, hierarchies(), k=5, max_suppression=0.05)
    assert solution.chosen.levels != (0, 0, 0)
    assert anonymity.k_anonymity(out, QI) >= 5


def test_l_diversity_is_enforced_on_the_sensitive_attribute() -> None:
    frame = population(np.random.default_rng(7), 3000)
    out, solution = anonymise(
        frame, hierarchies(), k=5, max_suppression=0.05, sensitive="diagnosis", l=3
    )
    assert anonymity.k_anonymity(out, QI) >= 5
    assert anonymity.l_diversity(out, QI, ["diagnosis"]) >= 3
    assert solution.chosen.l_achieved == anonymity.l_diversity(out, QI, ["diagnosis"])


def test_data_that_is_already_k_anonymous_is_left_as_it_is() -> None:
    frame = pd.DataFrame({"gender": ["F", "M"] * 50, "city": ["a", "a", "b", "b"] * 25})
    out, solution = anonymise(
        frame,
        {"gender": CategoricalHierarchy(), "city": CategoricalHierarchy()},
        k=5,
        max_suppression=0.05,
    )
    assert solution.chosen.levels == (0, 0)
    assert solution.chosen.suppressed == 0
    assert solution.chosen.loss == 0
    assert not solution.limit_binding
    assert out.equals(frame)


def test_a_few_outliers_are_suppressed_rather_than_generalising_everyone() -> None:
    """98 rows in big classes, 2 unique: suppressing 2% loses less than generalising a column."""
    frame = pd.DataFrame(
        {
            "gender": ["F", "M"] * 49 + ["F", "M"],
            "city": ["a"] * 49 + ["b"] * 49 + ["c", "d"],
        }
    )
    out, solution = anonymise(
        frame,
        {"gender": CategoricalHierarchy(), "city": CategoricalHierarchy()},
        k=5,
        max_suppression=0.05,
    )
    assert solution.chosen.levels == (0, 0)
    assert solution.chosen.suppressed == 2
    assert len(out) == 98
    assert anonymity.k_anonymity(out, ["gender", "city"]) >= 5


def test_past_the_suppression_limit_the_search_generalises_further_and_says_so() -> None:
    """20% of rows are unique cities: suppressing them would be least loss, but over 5%."""
    frame = pd.DataFrame(
        {
            "gender": ["F", "M"] * 50,
            "city": ["a"] * 80 + [f"u{i}" for i in range(20)],
        }
    )
    out, solution = anonymise(
        frame,
        {"gender": CategoricalHierarchy(), "city": CategoricalHierarchy()},
        k=5,
        max_suppression=0.05,
    )
    assert solution.chosen.suppressed <= 5
    assert solution.chosen.levels[1] == 1  # city generalised to *
    assert solution.limit_binding
    assert solution.unconstrained.suppressed > 5
    assert anonymity.k_anonymity(out, ["gender", "city"]) >= 5


def test_fewer_rows_than_k_cannot_be_exported() -> None:
    frame = pd.DataFrame({"gender": ["F", "M", "F"]})
    with pytest.raises(ValidationError, match="only 3 rows"):
        anonymise(frame, {"gender": CategoricalHierarchy()}, k=5, max_suppression=0.05)


def test_l_diversity_that_no_generalisation_reaches_is_refused() -> None:
    frame = pd.DataFrame({"gender": ["F", "M"] * 10, "s": ["x"] * 20})
    with pytest.raises(ValidationError, match="cannot be reached"):
        anonymise(
            frame, {"gender": CategoricalHierarchy()}, k=2, max_suppression=0.05, sensitive="s", l=2
        )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(20, 400),
    k=st.integers(2, 12),
    max_suppression=st.sampled_from([0.0, 0.01, 0.05, 0.2]),
    cities=st.integers(1, 40),
)
def test_any_population_comes_out_k_anonymous_within_the_bound(
    seed: int, n: int, k: int, max_suppression: float, cities: int
) -> None:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "gender": rng.choice(["F", "M"], n),
            "city": rng.choice([f"c{i}" for i in range(cities)], n),
            "income": rng.integers(0, 1_000_000, n),
        }
    )
    h: dict[str, Hierarchy[Any]] = {
        "gender": CategoricalHierarchy(),
        "city": CategoricalHierarchy(),
        "income": IncomeHierarchy(),
    }
    if n < k:
        return
    out, solution = anonymise(frame, h, k=k, max_suppression=max_suppression)
    assert len(out) > 0
    assert anonymity.k_anonymity(out, list(h)) >= k
    assert n - len(out) == solution.chosen.suppressed <= math.floor(max_suppression * n)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 2**21), min_size=1, max_size=4).flatmap(
        lambda widths: st.tuples(
            st.just(widths),
            st.lists(st.tuples(*(st.integers(0, w - 1) for w in widths)), min_size=1, max_size=40),
        )
    )
)
def test_class_keys_are_equal_exactly_when_the_codes_are_even_past_62_bits(
    case: tuple[list[int], list[tuple[int, ...]]],
) -> None:
    """The search's class key is injective on label tuples, also where the widths' product
    (here up to 2**84) forces it to renumber instead of overflowing."""
    widths, rows = case
    codes = np.asarray(rows, dtype=np.int64).reshape(len(rows), len(widths))
    ladders = [
        Ladder(f"q{q}", (np.arange(w, dtype=np.int64), np.zeros(w, dtype=np.int64)))
        for q, w in enumerate(widths)
    ]
    keys = class_keys(ladders, codes, [0] * len(widths))
    assert keys.dtype == np.int64
    for i in range(len(rows)):
        for j in range(len(rows)):
            assert (keys[i] == keys[j]) == (rows[i] == rows[j])
    top = class_keys(ladders, codes, [1] * len(widths))
    assert len(set(top.tolist())) == 1
