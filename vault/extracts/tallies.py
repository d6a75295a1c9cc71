"""The feature tallies of a page of customers, computed by the database in one query per table.

An export needs a few counts, sums and extremes per customer from its policies,
claims and interactions (:mod:`vault.extracts.features`).  Fetching every child
row into Python and tallying it there costs more than decrypting the customer:
each row pays for the driver, SQLAlchemy's type processing and a tuple.  A
``GROUP BY customer_id`` over the page's id range gives one row per customer
per table instead, on SQLite and PostgreSQL alike, in the database's C loop.

The SQL here must mean exactly what the reference tallies in
:mod:`vault.extracts.features` mean (``tests/test_tallies.py`` holds them equal
on both back ends): the same as-of cut, statuses and channels, and money summed
exactly as whole cents, rounded half away from zero as both databases' ``ROUND``
does.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa

from vault.extracts.features import (
    LAPSED_STATUSES,
    RECENT_DAYS,
    ClaimTally,
    ContactTally,
    PolicyTally,
)
from vault.import_format import INTERACTION_CHANNELS
from vault.storage.tables import Claim, Interaction, Policy, UtcDateTime, columns


def _count(condition: sa.ColumnElement[bool]) -> Any:
    # FILTER (SQLite >= 3.30, PostgreSQL) costs SQLite less than SUM(CASE ...).
    return sa.func.count().filter(condition)


def _cents(amount: Any, condition: sa.ColumnElement[bool] | None = None) -> Any:
    whole = sa.func.sum(sa.cast(sa.func.round(amount * 100), sa.BigInteger))
    summed = sa.func.coalesce(whole if condition is None else whole.filter(condition), 0)
    return sa.cast(summed, sa.BigInteger)  # PostgreSQL's SUM(bigint) is numeric


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _in_range(column: Any, first: uuid.UUID, last: uuid.UUID) -> sa.ColumnElement[bool]:
    return sa.and_(column >= first, column <= last)


def policy_tallies(
    conn: sa.Connection, first: uuid.UUID, last: uuid.UUID, as_of: dt.date
) -> dict[uuid.UUID, PolicyTally]:
    """:class:`PolicyTally` of every customer with a policy whose id is in ``[first, last]``."""
    p = columns(Policy)
    started = p.start_date <= as_of
    active = sa.and_(started, p.status == "active")
    query = sa.select(
        p.customer_id,
        _count(started),
        _count(active),
        sa.func.count(sa.distinct(p.product_line)).filter(active),
        _count(sa.and_(started, p.status.in_(LAPSED_STATUSES))),
        _count(sa.or_(~started, p.status == "pending")),
        _cents(p.annual_premium, active),
        sa.type_coerce(sa.func.min(p.start_date).filter(started), sa.Date),
        sa.type_coerce(sa.func.max(p.start_date).filter(started), sa.Date),
    ).where(_in_range(p.customer_id, first, last))
    return {row[0]: PolicyTally(*row[1:]) for row in conn.execute(query.group_by(p.customer_id))}


def claim_tallies(
    conn: sa.Connection, first: uuid.UUID, last: uuid.UUID, as_of: dt.date
) -> dict[uuid.UUID, ClaimTally]:
    """:class:`ClaimTally` of every customer with a claim reported by ``as_of``."""
    c = columns(Claim)
    query = sa.select(
        c.customer_id, sa.func.count(), _cents(c.claimed_amount), _cents(c.paid_amount)
    ).where(_in_range(c.customer_id, first, last), c.reported_date <= as_of)
    return {row[0]: ClaimTally(*row[1:]) for row in conn.execute(query.group_by(c.customer_id))}


def contact_tallies(
    conn: sa.Connection, first: uuid.UUID, last: uuid.UUID, as_of: dt.date
) -> dict[uuid.UUID, ContactTally]:
    """:class:`ContactTally` of every customer with an interaction on or before ``as_of`` (UTC)."""
    i = columns(Interaction)
    recent_since = _midnight(as_of - dt.timedelta(days=RECENT_DAYS - 1))
    query = sa.select(
        i.customer_id,
        sa.func.count(),
        _count(i.occurred_at >= recent_since),
        sa.func.count(i.satisfaction),
        sa.cast(sa.func.coalesce(sa.func.sum(i.satisfaction), 0), sa.BigInteger),
        sa.type_coerce(sa.func.max(i.occurred_at), UtcDateTime()),
        *(_count(i.channel == channel) for channel in INTERACTION_CHANNELS),
    ).where(
        _in_range(i.customer_id, first, last),
        i.occurred_at < _midnight(as_of + dt.timedelta(days=1)),
    )
    return {
        row[0]: ContactTally(row[1], row[2], row[3], row[4], row[5].date(), tuple(row[6:]))
        for row in conn.execute(query.group_by(i.customer_id))
    }
