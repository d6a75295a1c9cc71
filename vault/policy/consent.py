"""Which channels a customer has consented to for a purpose, as the latest record says.

Consents are recorded, never updated: a withdrawal is a new record.  The one in
force for a purpose and channel is the latest by ``recorded_at``; of two
recorded at the same instant, a withdrawal wins (when in doubt, do not contact).
A naive time is read as UTC, so mixed inputs still compare.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GRANTED = "granted"
WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class ConsentState:
    """One consent record: a grant or withdrawal for a purpose and a channel."""

    purpose: str
    channel: str
    status: str
    """``granted`` or ``withdrawn``; anything else counts as not granted."""
    recorded_at: dt.datetime

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ConsentState:
        """From a ``consents`` row as the 360 view returns it (``recorded_at`` may be ISO text)."""
        recorded = record["recorded_at"]
        if isinstance(recorded, str):
            recorded = dt.datetime.fromisoformat(recorded)
        if not isinstance(recorded, dt.datetime):
            raise TypeError("consents.recorded_at must be a datetime")
        return cls(
            purpose=str(record["purpose"]),
            channel=str(record["channel"]),
            status=str(record["status"]),
            recorded_at=recorded,
        )


def consent_states(records: Iterable[Mapping[str, Any]]) -> list[ConsentState]:
    """Every ``consents`` row of a 360 view as a :class:`ConsentState`."""
    return [ConsentState.from_record(r) for r in records]


def _instant(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _rank(consent: ConsentState) -> tuple[dt.datetime, bool]:
    # At equal times the withdrawal sorts last, so it is the one in force.
    return (_instant(consent.recorded_at), consent.status != GRANTED)


def granted_channels(consents: Iterable[ConsentState], purpose: str) -> frozenset[str]:
    """The channels whose consent in force for ``purpose`` is a grant."""
    latest: dict[str, ConsentState] = {}
    for consent in consents:
        if consent.purpose != purpose:
            continue
        current = latest.get(consent.channel)
        if current is None or _rank(consent) >= _rank(current):
            latest[consent.channel] = consent
    return frozenset(ch for ch, c in latest.items() if c.status == GRANTED)
