"""Small builders for test input files (valid PRC IDs, CSV files in the import format)."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from stdnum.cn import ric

from vault.audit import Action, AuditEvent, Outcome
from vault.import_format import CUSTOMER_COLUMNS


def resident_id(body17: str) -> str:
    """A valid 18-character PRC ID from its first 17 characters."""
    return body17 + ric.calc_check_digit(body17 + "0")


def write_csv(path: Path, rows: Iterable[Mapping[str, str]], columns: Sequence[str]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
    return path


def customer(**values: str) -> dict[str, str]:
    base = {c: "" for c in CUSTOMER_COLUMNS}
    base.update(values)
    return base


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def read_event(n: int) -> AuditEvent:
    """An allowed read by a claims adjuster of one (random) customer, request ``req-n``."""
    return AuditEvent(
        principal="svc-a",
        role="claims_adjuster",
        purpose="claims_processing",
        action=Action.READ,
        outcome=Outcome.ALLOWED,
        request_id=f"req-{n}",
        customer_ids=(uuid.uuid4(),),
    )
