"""Reading untrusted row-shaped input (CSV rows, form fields) into typed values.

A :class:`RowReader` collects every problem of a row instead of stopping at the
first, so a rejects file can say everything that is wrong with a row at once.
Problems are ``(field, reason)`` pairs whose reason describes the rule broken,
never the value: these messages end up in files and logs.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable, Collection, Mapping
from typing import TypeVar

from vault.errors import ValidationError

T = TypeVar("T")


def required(value: T | None) -> T:
    """Narrow a value that :meth:`RowReader.finish` has already proven present."""
    if value is None:  # pragma: no cover - finish() raises first
        raise RowRejected([("row", "internal: required value missing")])
    return value


class RowRejected(Exception):
    """A row broke one or more rules; ``problems`` lists ``(field, reason)``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {r}" for f, r in problems))
        self.problems = problems

    @property
    def fields(self) -> list[str]:
        return list(dict.fromkeys(f for f, _ in self.problems))


class RowReader:
    """Typed access to one input row, remembering every rule it breaks."""

    def __init__(self, row: Mapping[str, str | None]) -> None:
        self._row = row
        self.problems: list[tuple[str, str]] = []

    def _raw(self, name: str, required: bool) -> str | None:
        value = (self._row.get(name) or "").strip()
        if not value:
            if required:
                self.problems.append((name, "is required"))
            return None
        return value

    def fail(self, name: str, reason: str) -> None:
        self.problems.append((name, reason))

    def problems_for(self, name: str) -> bool:
        return any(f == name for f, _ in self.problems)

    def text(
        self,
        name: str,
        *,
        required: bool = False,
        max_length: int = 200,
        pattern: re.Pattern[str] | None = None,
        rule: str = "has characters that are not allowed",
    ) -> str | None:
        value = self._raw(name, required)
        if value is None:
            return None
        if len(value) > max_length:
            self.fail(name, f"longer than {max_length} characters")
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.fail(name, rule)
            return None
        return value

    def choice(
        self,
        name: str,
        options: Collection[str],
        *,
        required: bool = False,
        aliases: Mapping[str, str] | None = None,
    ) -> str | None:
        value = self._raw(name, required)
        if value is None:
            return None
        key = value.lower()
        if aliases and value in aliases:
            return aliases[value]
        if aliases and key in aliases:
            return aliases[key]
        if key in options:
            return key
        self.fail(name, "must be one of " + ", ".join(sorted(options)))
        return None

    def date(self, name: str, *, required: bool = False, past: bool = False) -> dt.date | None:
        value = self._raw(name, required)
        if value is None:
            return None
        try:
            parsed = dt.date.fromisoformat(value)
        except ValueError:
            self.fail(name, "not a real calendar date in YYYY-MM-DD form")
            return None
        if len(value) != 10:
            self.fail(name, "not a real calendar date in YYYY-MM-DD form")
            return None
        if past and parsed >= dt.datetime.now(dt.UTC).date():
            self.fail(name, "must be in the past")
            return None
        return parsed

    def timestamp(self, name: str, *, required: bool = False) -> dt.datetime | None:
        value = self._raw(name, required)
        if value is None:
            return None
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            self.fail(name, "not an ISO 8601 date-time")
            return None
        return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)

    def amount(self, name: str, *, required: bool = False) -> decimal.Decimal | None:
        value = self._raw(name, required)
        if value is None:
            return None
        try:
            parsed = decimal.Decimal(value.replace(",", ""))
        except decimal.InvalidOperation:
            self.fail(name, "not a number")
            return None
        if not parsed.is_finite() or parsed < 0 or parsed >= decimal.Decimal("1e12"):
            self.fail(name, "must be a finite amount between 0 and 10^12")
            return None
        return parsed.quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_HALF_EVEN)

    def integer(self, name: str, low: int, high: int, *, required: bool = False) -> int | None:
        value = self._raw(name, required)
        if value is None:
            return None
        if not re.fullmatch(r"-?\d{1,9}", value) or not low <= int(value) <= high:
            self.fail(name, f"must be a whole number from {low} to {high}")
            return None
        return int(value)

    def parsed(
        self, name: str, parse: Callable[[str, str], T], *, required: bool = False
    ) -> T | None:
        """Run a canonicalising parser (e.g. from :mod:`vault.identifiers`) on a column."""
        value = self._raw(name, required)
        if value is None:
            return None
        try:
            return parse(value, name)
        except ValidationError as exc:
            self.fail(exc.field, exc.reason)
            return None

    def finish(self) -> None:
        if self.problems:
            raise RowRejected(self.problems)
