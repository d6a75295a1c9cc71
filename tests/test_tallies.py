"""The database's feature tallies (vault.extracts.tallies) equal the Python reference tallies
(vault.extracts.features) customer by customer, on SQLite and PostgreSQL, including every as-of
boundary: a policy starting on the day or the day after, a contact in the last microsecond of the
day or the first of the next, the 365-day recency edge, null amounts and scores, unknown channels'
absence, and a customer with no children at all."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from vault.extracts import features, tallies
from vault.import_format import INTERACTION_CHANNELS, POLICY_STATUSES
from vault.services.runtime import Vault
from vault.storage.tables import Claim, Customer, Interaction, Policy, columns

AS_OF = dt.date(2026, 6, 30)
MIDNIGHT_AFTER = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
RECENT_EDGE = dt.datetime.combine(AS_OF - dt.timedelta(days=364), dt.time(), tzinfo=dt.UTC)
SPECIAL_DAYS = [AS_OF, AS_OF + dt.timedelta(days=1), AS_OF - dt.timedelta(days=1)]
SPECIAL_TIMES = [
    MIDNIGHT_AFTER - dt.timedelta(microseconds=1),
    MIDNIGHT_AFTER,
    RECENT_EDGE,
    RECENT_EDGE - dt.timedelta(microseconds=1),
    # the same instant written with another offset: the as-of cut is in UTC
    (MIDNIGHT_AFTER - dt.timedelta(hours=1)).astimezone(dt.timezone(dt.timedelta(hours=8))),
]


def _day(rng: random.Random) -> dt.date:
    if rng.random() < 0.3:
        return rng.choice(SPECIAL_DAYS)
    return AS_OF - dt.timedelta(days=rng.randint(-60, 4000))


def _moment(rng: random.Random) -> dt.datetime:
    if rng.random() < 0.3:
        return rng.choice(SPECIAL_TIMES)
    day = AS_OF - dt.timedelta(days=rng.randint(-30, 900))
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) + dt.timedelta(
        seconds=rng.randint(0, 86399), microseconds=rng.randint(0, 999999)
    )


def _amount(rng: random.Random) -> Decimal | None:
    return None if rng.random() < 0.15 else Decimal(rng.randint(0, 9_999_999)) / 100


def _population(vault: Vault, rng: random.Random, customers: int) -> list[uuid.UUID]:
    """Customers with random children; every stored row is read back for the reference."""
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    ids = sorted(uuid.uuid4() for _ in range(customers))
    with Session(vault.engine) as session:
        for cid in ids:
            session.add(Customer(id=cid, created_at=now, updated_at=now))
        session.flush()
        for cid in ids:
            policy_ids = []
            for _ in range(rng.choice([0, 0, 1, 2, 3, 5])):
                policy = Policy(
                    id=uuid.uuid4(),
                    customer_id=cid,
                    product_line=rng.choice(["motor", "health", "life", "home"]),
                    status=rng.choice(POLICY_STATUSES),
                    start_date=_day(rng),
                    annual_premium=_amount(rng),
                    sales_channel="app",
                    source_system="test",
                    created_at=now,
                )
                policy_ids.append(policy.id)
                session.add(policy)
            session.flush()
            for _ in range(rng.choice([0, 0, 1, 2]) if policy_ids else 0):
                session.add(
                    Claim(
                        id=uuid.uuid4(),
                        customer_id=cid,
                        policy_id=rng.choice(policy_ids),
                        incident_date=AS_OF - dt.timedelta(days=400),
                        reported_date=_day(rng),
                        claimed_amount=_amount(rng),
                        paid_amount=_amount(rng),
                        status="reported",
                        source_system="test",
                        created_at=now,
                    )
                )
            for _ in range(rng.choice([0, 1, 2, 4, 7])):
                session.add(
                    Interaction(
                        id=uuid.uuid4(),
                        customer_id=cid,
                        channel=rng.choice(INTERACTION_CHANNELS),
                        direction="inbound",
                        occurred_at=_moment(rng),
                        topic="billing",
                        satisfaction=None if rng.random() < 0.3 else rng.randint(1, 5),
                        source_system="test",
                        created_at=now,
                    )
                )
        session.commit()
    return ids


def _rows(
    conn: sa.Connection, model: type, names: tuple[str, ...]
) -> dict[uuid.UUID, list[tuple[Any, ...]]]:
    c = columns(model)
    found: dict[uuid.UUID, list[tuple[Any, ...]]] = {}
    for row in conn.execute(sa.select(c.customer_id, *(c[n] for n in names))):
        found.setdefault(row[0], []).append(tuple(row[1:]))
    return found


def test_the_database_tallies_equal_the_reference_tallies_customer_by_customer(
    vault: Vault,
) -> None:
    ids = _population(vault, random.Random(20261206), 400)
    with vault.reader.connect() as conn:
        policies = _rows(conn, Policy, features.POLICY_COLUMNS)
        claims = _rows(conn, Claim, features.CLAIM_COLUMNS)
        contacts = _rows(conn, Interaction, features.INTERACTION_COLUMNS)
        got_policies: dict[uuid.UUID, features.PolicyTally] = {}
        got_claims: dict[uuid.UUID, features.ClaimTally] = {}
        got_contacts: dict[uuid.UUID, features.ContactTally] = {}
        for start in range(0, len(ids), 64):  # pages, as an export reads them
            first, last = ids[start], ids[min(start + 63, len(ids) - 1)]
            got_policies |= tallies.policy_tallies(conn, first, last, AS_OF)
            got_claims |= tallies.claim_tallies(conn, first, last, AS_OF)
            got_contacts |= tallies.contact_tallies(conn, first, last, AS_OF)
    assert len(got_policies) == len(policies)
    checked_edges = 0
    for cid in ids:
        want_p = features.tally_policies(policies.get(cid, ()), AS_OF)
        want_c = features.tally_claims(claims.get(cid, ()), AS_OF)
        want_i = features.tally_contacts(contacts.get(cid, ()), AS_OF)
        got_p = got_policies.get(cid, features.NO_POLICIES)
        got_c = got_claims.get(cid, features.NO_CLAIMS)
        got_i = got_contacts.get(cid, features.NO_CONTACTS)
        assert got_p == want_p, cid
        assert got_c == want_c, cid
        assert got_i == want_i, cid
        assert features.from_tallies(got_p, got_c, got_i, AS_OF) == features.derive(
            policies.get(cid, ()), claims.get(cid, ()), contacts.get(cid, ()), AS_OF
        )
        checked_edges += sum(
            1 for _, occurred, _ in contacts.get(cid, ()) if occurred in SPECIAL_TIMES
        )
    assert checked_edges > 20  # the boundaries were really exercised
    assert any(t.pending and not t.started for t in got_policies.values())
    assert any(t.total == 0 for t in got_contacts.values()) or len(got_contacts) < len(ids)


def test_the_reference_tallies_mean_what_the_features_say() -> None:
    """Hand-checked: the cut at as-of, pending, lapsed, exact cents, recency and the UTC day."""
    policies = [
        ("motor", "active", AS_OF, Decimal("100.10")),
        ("motor", "active", AS_OF - dt.timedelta(days=10), Decimal("0.20")),
        ("life", "lapsed", AS_OF - dt.timedelta(days=900), Decimal("5")),
        ("home", "active", AS_OF + dt.timedelta(days=1), Decimal("999")),  # starts later
    ]
    tally = features.tally_policies(policies, AS_OF)
    assert tally == features.PolicyTally(
        started=3,
        active=2,
        lines=1,
        lapsed=1,
        pending=1,
        premium_cents=10030,
        first_start=AS_OF - dt.timedelta(days=900),
        last_start=AS_OF,
    )
    shanghai = dt.timezone(dt.timedelta(hours=8))
    contacts = [
        ("phone", dt.datetime(2026, 7, 1, 7, 59, tzinfo=shanghai), 4),  # 23:59 UTC on as-of
        ("sms", dt.datetime(2026, 7, 1, 8, 0, tzinfo=shanghai), 5),  # the next UTC day
        ("email", RECENT_EDGE, None),
        ("app", RECENT_EDGE - dt.timedelta(microseconds=1), 2),
    ]
    seen = features.tally_contacts(contacts, AS_OF)
    assert (seen.total, seen.recent, seen.scored, seen.score_sum) == (3, 2, 2, 6)
    assert seen.last == AS_OF
    assert dict(zip(INTERACTION_CHANNELS, seen.per_channel, strict=True))["sms"] == 0
    derived = features.from_tallies(tally, features.NO_CLAIMS, seen, AS_OF)
    assert derived["total_premium"] == 100.3
    assert derived["churn_flag"] is False
    assert derived["avg_satisfaction"] == 3.0
