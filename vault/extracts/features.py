"""Features derived from a customer's decrypted data, computed inside the vault before it leaves.

An analyst needs "how many active policies, how much premium, how often in
touch" far more than the rows behind them, and the rows carry policy numbers,
claim types and free text that must not leave.  So an export profile names
features from the closed set :data:`FEATURES`, and :func:`derive` computes them
per customer from the non-personal columns of policies, claims and
interactions (status, product line, dates, amounts, channel, satisfaction).
Nothing sealed is needed, so nothing sealed is opened for them.

Everything is relative to ``as_of`` (a date passed in, never the clock): events
after it are ignored and a policy starting after it counts as pending, so an
export of the same data as of the same day is reproducible.

Loyalty score (0-100, one decimal)::

    100 * (0.25 R + 0.15 F + 0.25 M + 0.20 T + 0.15 X)

* R, recency: ``max(0, 1 - d / 730)``, ``d`` the days since the last activity
  (latest contact or policy start), 0 without any;
* F, frequency: ``min(1, (policies ever held + contacts in the last 365 days) / 10)``;
* M, monetary value: ``min(1, ln(1 + total active premium) / ln(1 + 100000))``;
* T, tenure: ``min(1, tenure_days / 3650)``;
* X, cross-holding: ``min(1, product lines held / 4)``.

Churn flag: the customer holds no active or pending policy any more (every
policy expired, lapsed or was cancelled).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Any, NamedTuple

from vault.import_format import INTERACTION_CHANNELS


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    kind: str
    """``int``, ``float`` or ``bool``: the column type in the extract."""
    description: str


def _features() -> Mapping[str, Feature]:
    entries = [
        Feature("tenure_days", "int", "days since the customer's first policy started"),
        Feature("active_policies", "int", "policies in force (status active)"),
        Feature("product_lines_held", "int", "distinct product lines among active policies"),
        Feature("policies_total", "int", "policies ever held (started by as-of)"),
        Feature("lapsed_policies", "int", "policies lapsed or cancelled"),
        Feature("total_premium", "float", "annual premium of active policies, CNY"),
        Feature("claims_count", "int", "claims reported"),
        Feature("claims_claimed_amount", "float", "total claimed, CNY"),
        Feature("claims_paid_amount", "float", "total paid, CNY"),
        Feature("interactions_total", "int", "contacts, every channel"),
        *(
            Feature(f"interactions_{channel}", "int", f"contacts through {channel}")
            for channel in INTERACTION_CHANNELS
        ),
        Feature("days_since_last_contact", "int", "days since the latest contact (null: none)"),
        Feature("avg_satisfaction", "float", "mean satisfaction score 1-5 (null: none given)"),
        Feature("loyalty_score", "float", "0-100 from recency, frequency, monetary, tenure, X"),
        Feature("churn_flag", "bool", "no active or pending policy left"),
    ]
    return MappingProxyType({f.name: f for f in entries})


FEATURES: Mapping[str, Feature] = _features()
"""Every feature a profile may ask for, in the order extracts list them."""

POLICY_COLUMNS = ("product_line", "status", "start_date", "annual_premium")
CLAIM_COLUMNS = ("reported_date", "claimed_amount", "paid_amount")
INTERACTION_COLUMNS = ("channel", "occurred_at", "satisfaction")
"""The (non-personal) child-table columns the tallies read, in tuple order."""

LAPSED_STATUSES = ("lapsed", "cancelled")
RECENT_DAYS = 365
"""A contact counts towards frequency when it is fewer than this many days before as-of."""


# --------------------------------------------------------------------------- tallies
#
# What the features need from a customer's child rows is a handful of counts, sums
# and extremes per table.  They are defined here twice on purpose: once in Python
# (the reference, over rows) and once in SQL (vault.extracts.tallies, computed by the
# database for a whole page of customers); tests hold the two equal on both back ends.
# Money is summed exactly, in cents, so both give the same total to the last digit.


class PolicyTally(NamedTuple):
    """A customer's policies as of a day (a policy starting later only makes it pending)."""

    started: int = 0
    active: int = 0
    lines: int = 0
    """Distinct product lines among active policies."""
    lapsed: int = 0
    pending: int = 0
    """Policies pending, or starting after the day: any keeps the customer from churning."""
    premium_cents: int = 0
    """Annual premium of active policies."""
    first_start: dt.date | None = None
    last_start: dt.date | None = None


class ClaimTally(NamedTuple):
    """A customer's claims reported by a day."""

    reported: int = 0
    claimed_cents: int = 0
    paid_cents: int = 0


class ContactTally(NamedTuple):
    """A customer's interactions up to a day (UTC)."""

    total: int = 0
    recent: int = 0
    scored: int = 0
    score_sum: int = 0
    last: dt.date | None = None
    per_channel: tuple[int, ...] = (0,) * len(INTERACTION_CHANNELS)
    """Counts in :data:`INTERACTION_CHANNELS` order."""


NO_POLICIES = PolicyTally()
NO_CLAIMS = ClaimTally()
NO_CONTACTS = ContactTally()


def cents(amount: Decimal | float | None) -> int:
    """An amount in whole cents, half away from zero (as SQL's ROUND does); ``None`` is 0."""
    if amount is None:
        return 0
    return int(Decimal(amount).scaleb(2).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def tally_policies(rows: Iterable[tuple[Any, ...]], as_of: dt.date) -> PolicyTally:
    """The reference :class:`PolicyTally` over rows of :data:`POLICY_COLUMNS`."""
    started = active = lapsed = premium = pending = 0
    lines: set[str] = set()
    starts: list[dt.date] = []
    for product_line, status, start, annual_premium in rows:
        if start > as_of or status == "pending":
            pending += 1
        if start > as_of:
            continue
        started += 1
        starts.append(start)
        if status == "active":
            active += 1
            lines.add(product_line)
            premium += cents(annual_premium)
        elif status in LAPSED_STATUSES:
            lapsed += 1
    return PolicyTally(
        started=started,
        active=active,
        lines=len(lines),
        lapsed=lapsed,
        pending=pending,
        premium_cents=premium,
        first_start=min(starts, default=None),
        last_start=max(starts, default=None),
    )


def tally_claims(rows: Iterable[tuple[Any, ...]], as_of: dt.date) -> ClaimTally:
    """The reference :class:`ClaimTally` over rows of :data:`CLAIM_COLUMNS`."""
    count = claimed = paid = 0
    for reported, claimed_amount, paid_amount in rows:
        if reported > as_of:
            continue
        count += 1
        claimed += cents(claimed_amount)
        paid += cents(paid_amount)
    return ClaimTally(reported=count, claimed_cents=claimed, paid_cents=paid)


def tally_contacts(rows: Iterable[tuple[Any, ...]], as_of: dt.date) -> ContactTally:
    """The reference :class:`ContactTally` over rows of :data:`INTERACTION_COLUMNS`."""
    per_channel = dict.fromkeys(INTERACTION_CHANNELS, 0)
    total = recent = scored = score_sum = 0
    last: dt.date | None = None
    for channel, occurred_at, satisfaction in rows:
        day = occurred_at.astimezone(dt.UTC).date()
        if day > as_of:
            continue
        total += 1
        if channel in per_channel:
            per_channel[channel] += 1
        if (as_of - day).days < RECENT_DAYS:
            recent += 1
        if satisfaction is not None:
            scored += 1
            score_sum += satisfaction
        last = day if last is None or day > last else last
    return ContactTally(
        total=total,
        per_channel=tuple(per_channel.values()),
        recent=recent,
        scored=scored,
        score_sum=score_sum,
        last=last,
    )


# --------------------------------------------------------------------------- features


def derive(
    policies: Iterable[tuple[Any, ...]],
    claims: Iterable[tuple[Any, ...]],
    interactions: Iterable[tuple[Any, ...]],
    as_of: dt.date,
) -> dict[str, Any]:
    """Every feature of one customer, from its child rows (columns as in the tuples above)."""
    return from_tallies(
        tally_policies(policies, as_of),
        tally_claims(claims, as_of),
        tally_contacts(interactions, as_of),
        as_of,
    )


_CHANNEL_FEATURES = tuple(f"interactions_{channel}" for channel in INTERACTION_CHANNELS)
_LOG_MONETARY_CAP = math.log1p(100_000)


def from_tallies(
    policies: PolicyTally, claims: ClaimTally, contacts: ContactTally, as_of: dt.date
) -> dict[str, Any]:
    """Every feature of one customer, from its tallies (the formulas in the module docstring)."""
    premium = policies.premium_cents / 100
    tenure = (as_of - policies.first_start).days if policies.first_start is not None else None
    since_contact = (as_of - contacts.last).days if contacts.last is not None else None
    activity = max((d for d in (contacts.last, policies.last_start) if d is not None), default=None)
    recency = max(0.0, 1 - (as_of - activity).days / 730) if activity is not None else 0.0
    frequency = min(1.0, (policies.started + contacts.recent) / 10)
    monetary = min(1.0, math.log1p(premium) / _LOG_MONETARY_CAP)
    tenure_part = min(1.0, (tenure or 0) / 3650)
    cross = min(1.0, policies.lines / 4)
    loyalty = 100 * (
        0.25 * recency + 0.15 * frequency + 0.25 * monetary + 0.20 * tenure_part + 0.15 * cross
    )
    values: dict[str, Any] = {
        "tenure_days": tenure,
        "active_policies": policies.active,
        "product_lines_held": policies.lines,
        "policies_total": policies.started,
        "lapsed_policies": policies.lapsed,
        "total_premium": premium,
        "claims_count": claims.reported,
        "claims_claimed_amount": claims.claimed_cents / 100,
        "claims_paid_amount": claims.paid_cents / 100,
        "interactions_total": contacts.total,
        **dict(zip(_CHANNEL_FEATURES, contacts.per_channel, strict=True)),
        "days_since_last_contact": since_contact,
        "avg_satisfaction": (
            round(contacts.score_sum / contacts.scored, 3) if contacts.scored else None
        ),
        "loyalty_score": round(loyalty, 1),
        "churn_flag": policies.active == 0 and policies.pending == 0,
    }
    return values
