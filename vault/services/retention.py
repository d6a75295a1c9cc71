"""Retention: find the customers the retention policy says to let go, and erase them.

A customer is *due* when the vault has no reason left to keep them:

* no policy ``active`` or ``pending`` (a contract in force needs its holder);
* no claim still open (``reported``, ``assessing``, ``approved``): it must be settled first;
* and their last activity, the latest of policy start and end dates, claim incident,
  report and closing dates, interactions, consent records and the profile's last
  change, is older than ``inactive_after_days`` (``policies/retention.yaml``).

The profile's ``updated_at`` counts as activity on purpose: it errs on the side of
keeping (an imported customer is kept at least the retention period after import),
never of erasing too early.  Everything compared is stored in clear (dates, statuses:
non-PII in the schema registry), so finding candidates decrypts nothing.  Erasing
goes through :func:`vault.services.erasure.erase_as_operator`, audited with purpose
``retention``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from vault.audit import AuditLog, signer_from_keyring
from vault.policy.retention import RetentionPolicy
from vault.progress import NullProgress, Progress
from vault.services.erasure import RETENTION, Operator, erase_as_operator, tombstones_of
from vault.services.runtime import Vault
from vault.storage.tables import Claim, Consent, Customer, Interaction, Policy, columns

IN_FORCE = ("active", "pending")
OPEN_CLAIMS = ("reported", "assessing", "approved")


@dataclass(frozen=True, slots=True)
class Due:
    """A customer the policy says to erase: the id and the date of the last activity only."""

    customer_id: uuid.UUID
    last_activity: dt.date

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer_id": str(self.customer_id),
            "last_activity": self.last_activity.isoformat(),
        }


def _day(value: dt.date | dt.datetime | None) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).date()
    return value


def due_for_erasure(vault: Vault, policy: RetentionPolicy, now: dt.datetime) -> list[Due]:
    """Every customer past the retention period, oldest activity first (no PII involved)."""
    cutoff = policy.cutoff(now).astimezone(dt.UTC).date()
    c, p, k = columns(Customer), columns(Policy), columns(Claim)
    i, n = columns(Interaction), columns(Consent)
    last: dict[uuid.UUID, dt.date] = {}
    keep: set[uuid.UUID] = set()

    def seen(rows: Iterable[Any]) -> None:
        for customer_id, *dates in rows:
            days = [d for d in (_day(v) for v in dates) if d is not None]
            if days:
                latest = max(days)
                if customer_id not in last or latest > last[customer_id]:
                    last[customer_id] = latest

    with vault.reader.connect() as conn:
        seen(conn.execute(sa.select(c.id, c.created_at, c.updated_at)))
        seen(
            conn.execute(
                sa.select(
                    p.customer_id, sa.func.max(p.start_date), sa.func.max(p.end_date)
                ).group_by(p.customer_id)
            )
        )
        seen(
            conn.execute(
                sa.select(
                    k.customer_id,
                    sa.func.max(k.incident_date),
                    sa.func.max(k.reported_date),
                    sa.func.max(k.closed_date),
                ).group_by(k.customer_id)
            )
        )
        seen(
            conn.execute(
                sa.select(i.customer_id, sa.func.max(i.occurred_at)).group_by(i.customer_id)
            )
        )
        seen(
            conn.execute(
                sa.select(n.customer_id, sa.func.max(n.recorded_at)).group_by(n.customer_id)
            )
        )
        keep.update(
            conn.execute(
                sa.select(p.customer_id).where(p.status.in_(IN_FORCE)).distinct()
            ).scalars()
        )
        keep.update(
            conn.execute(
                sa.select(k.customer_id).where(k.status.in_(OPEN_CLAIMS)).distinct()
            ).scalars()
        )
    due = [
        Due(customer_id, day)
        for customer_id, day in last.items()
        if customer_id not in keep and day < cutoff
    ]
    return sorted(due, key=lambda d: (d.last_activity, str(d.customer_id)))


def run_retention(
    vault: Vault,
    policy: RetentionPolicy,
    *,
    dry_run: bool,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """List (``dry_run``) or erase every customer due; the report names ids and dates only."""
    progress = progress or NullProgress()
    now = vault.clock()
    due = due_for_erasure(vault, policy, now)
    erased = 0
    if not dry_run and due:
        tombstones = tombstones_of(vault)
        audit = AuditLog(vault.engine, signer_from_keyring(vault.keyring), clock=vault.clock)
        operator = Operator(purpose=RETENTION)
        progress.start("erasing customers past retention", len(due))
        try:
            for entry in due:
                result = erase_as_operator(
                    vault, audit, operator, entry.customer_id, tombstones=tombstones
                )
                erased += result.outcome == "erased"
                progress.advance()
        finally:
            progress.finish()
    return {
        "dry_run": dry_run,
        "as_of": now.astimezone(dt.UTC).isoformat(),
        "inactive_after_days": policy.inactive_after_days,
        "cutoff": policy.cutoff(now).astimezone(dt.UTC).date().isoformat(),
        "due": [d.as_dict() for d in due],
        "erased": erased,
    }
