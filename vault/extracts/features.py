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
from decimal import Decimal
from types import MappingProxyType
from typing import Any

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
"""The (non-personal) child-table columns :func:`derive` reads, in tuple order."""


def derive(
    policies: Iterable[tuple[Any, ...]],
    claims: Iterable[tuple[Any, ...]],
    interactions: Iterable[tuple[Any, ...]],
    as_of: dt.date,
) -> dict[str, Any]:
    """Every feature of one customer, from its child rows (columns as in the tuples above)."""
    active = 0
    lines: set[str] = set()
    started = 0
    lapsed = 0
    premium = 0.0
    first_start: dt.date | None = None
    last_start: dt.date | None = None
    pending = False
    for product_line, status, start, annual_premium in policies:
        if start > as_of:
            pending = True
            continue
        started += 1
        first_start = start if first_start is None or start < first_start else first_start
        last_start = start if last_start is None or start > last_start else last_start
        if status == "active":
            active += 1
            lines.add(product_line)
            premium += float(annual_premium or 0)
        elif status == "pending":
            pending = True
        elif status in ("lapsed", "cancelled"):
            lapsed += 1
    claim_count = 0
    claimed = paid = Decimal(0)
    for reported, claimed_amount, paid_amount in claims:
        if reported > as_of:
            continue
        claim_count += 1
        claimed += claimed_amount or 0
        paid += paid_amount or 0
    per_channel = dict.fromkeys(INTERACTION_CHANNELS, 0)
    contacts = recent = scored = 0
    score_sum = 0
    last_contact: dt.date | None = None
    for channel, occurred_at, satisfaction in interactions:
        day = occurred_at.date() if isinstance(occurred_at, dt.datetime) else occurred_at
        if day > as_of:
            continue
        contacts += 1
        if channel in per_channel:
            per_channel[channel] += 1
        if (as_of - day).days < 365:
            recent += 1
        if satisfaction is not None:
            scored += 1
            score_sum += satisfaction
        last_contact = day if last_contact is None or day > last_contact else last_contact
    tenure = (as_of - first_start).days if first_start is not None else None
    since_contact = (as_of - last_contact).days if last_contact is not None else None
    activity = max((d for d in (last_contact, last_start) if d is not None), default=None)
    recency = max(0.0, 1 - (as_of - activity).days / 730) if activity is not None else 0.0
    frequency = min(1.0, (started + recent) / 10)
    monetary = min(1.0, math.log1p(premium) / math.log1p(100_000))
    tenure_part = min(1.0, (tenure or 0) / 3650)
    cross = min(1.0, len(lines) / 4)
    loyalty = 100 * (
        0.25 * recency + 0.15 * frequency + 0.25 * monetary + 0.20 * tenure_part + 0.15 * cross
    )
    values: dict[str, Any] = {
        "tenure_days": tenure,
        "active_policies": active,
        "product_lines_held": len(lines),
        "policies_total": started,
        "lapsed_policies": lapsed,
        "total_premium": round(premium, 2),
        "claims_count": claim_count,
        "claims_claimed_amount": float(claimed),
        "claims_paid_amount": float(paid),
        "interactions_total": contacts,
        **{f"interactions_{c}": n for c, n in per_channel.items()},
        "days_since_last_contact": since_contact,
        "avg_satisfaction": round(score_sum / scored, 3) if scored else None,
        "loyalty_score": round(loyalty, 1),
        "churn_flag": active == 0 and not pending,
    }
    return values
