"""Per-customer date shifting: every date of one customer moves by the same secret offset.

Analysts of an extract need intervals (policy start to claim, claim to
payment) more than calendar dates, and calendar dates are quasi-identifiers.
Shifting all of a customer's dates by one offset keeps every interval within
that customer exact while hiding the real dates; a different offset per
customer stops an analyst from undoing the shift with one known date.

The offset is drawn from HMAC-SHA256(date-shift key of the scope, customer
id): stable for one recipient (a second extract lines up with the first),
different for another recipient, and not guessable without the key.  It is
uniform over ``-max_days .. -1`` and ``1 .. max_days``, never 0, so no date is
ever published unshifted.  Reducing 64 bits modulo ``2 * max_days`` leaves a
bias below 2**-50, far under anything an analyst could measure.
"""

from __future__ import annotations

import datetime as dt
import hmac
import uuid
from collections.abc import Mapping
from typing import NamedTuple, Self, TypeVar

from vault.errors import ValidationError
from vault.masking.base import Operator, Params, check_text
from vault.masking.keys import MaskingKey, frame

DEFAULT_MAX_DAYS = 30
MAX_DAYS_LIMIT = 3650
PURPOSE = "date_shift"

D = TypeVar("D", bound=dt.date)


class CustomerDate(NamedTuple):
    """A date and the customer it belongs to: what :meth:`DateShift.apply` needs."""

    customer_id: uuid.UUID | str
    value: dt.date


class DateShift(Operator[CustomerDate, dt.date]):
    """Shift dates by a keyed per-customer offset within ``±max_days`` (never 0)."""

    name = "shift_dates"
    __slots__ = ("_scope_key", "max_days", "scope")

    def __init__(
        self, key: bytes | MaskingKey, scope: str, max_days: int = DEFAULT_MAX_DAYS
    ) -> None:
        check_text(f"{self.name}.scope", scope)
        if isinstance(max_days, bool) or not 1 <= max_days <= MAX_DAYS_LIMIT:
            raise ValidationError(
                f"{self.name}.max_days", f"must be a whole number of days in 1-{MAX_DAYS_LIMIT}"
            )
        self.scope = scope
        self.max_days = max_days
        self._scope_key = MaskingKey.of(key).derive(PURPOSE, scope)

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> Self:
        p = Params(cls.name, params)
        key = p.take_raw("key")
        scope = p.take("scope", str)
        max_days = p.take("max_days", int, DEFAULT_MAX_DAYS)
        p.finish()
        if not isinstance(key, bytes | MaskingKey):
            raise ValidationError(p.field("key"), "must be bytes")
        return cls(key, scope, max_days)

    def offset(self, customer_id: uuid.UUID | str) -> dt.timedelta:
        """The customer's offset: the same for every date of theirs, never zero."""
        digest = hmac.digest(self._scope_key, frame(_subject(customer_id).encode()), "sha256")
        draw = int.from_bytes(digest[:8], "big") % (2 * self.max_days)
        days = draw - self.max_days if draw < self.max_days else draw - self.max_days + 1
        return dt.timedelta(days=days)

    def shift(self, value: D, customer_id: uuid.UUID | str) -> D:
        """``value`` moved by the customer's offset; a datetime keeps its time of day."""
        try:
            return value + self.offset(customer_id)
        except OverflowError:
            raise ValidationError("date", "cannot be shifted within the calendar") from None

    def apply(self, value: CustomerDate) -> dt.date:
        return self.shift(value.value, value.customer_id)

    def __repr__(self) -> str:
        return f"DateShift(scope={self.scope!r}, max_days={self.max_days}, key=***)"


def _subject(customer_id: uuid.UUID | str) -> str:
    """One spelling per customer: a UUID in any case or layout is its canonical string.

    Otherwise ``UUID`` objects from one table and upper-case hex from another
    would shift one customer's dates by two offsets and break their intervals.
    """
    if isinstance(customer_id, uuid.UUID):
        return str(customer_id)
    try:
        return str(uuid.UUID(customer_id))
    except ValueError:
        return customer_id
