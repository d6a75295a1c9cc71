"""Erasure tombstones: the vault's memory of whom it erased, kept where a restore cannot reach.

A restore puts back the database as it was when the backup was taken.  If the
record of an erasure lived only in that database, restoring a backup from the
day before would silently resurrect the customer, which PIPL art. 47 and GDPR
art. 17 forbid.  So every erasure is also written to an append-only file next
to the keyring (``erasure-tombstones.jsonl`` in the vault home), and a restore
re-applies every tombstone to the restored database.

The file holds, per line, one JSON entry: the customer id (a random UUID the
vault minted, not personal data on its own), when and why (``erasure_request``
or ``retention``) it was erased, a sequence number, the MAC of the previous
entry, and an HMAC-SHA256 over all of that under a key derived from the
keyring's ``backup`` family (the version used is in the entry).  Deliberately
*no* keyed hash of the customer's identifiers: that would be a linkable
fingerprint of a person the vault promised to forget (docs/lifecycle.md).

Appends are serialised across processes with ``flock``, written with one
``write`` and ``fsync``-ed (the directory too when the file is new), so an
acknowledged erasure has a durable tombstone.  Reading checks every MAC and
the chain: an edited, inserted, reordered or deleted entry (except the last
lines) is an :class:`~vault.errors.IntegrityError`.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vault.crypto import constant_time_equal, derive_key, keyed_hash
from vault.errors import IntegrityError
from vault.keyring import KeyFamily

FILE_NAME = "erasure-tombstones.jsonl"
ENTRY_VERSION = 1
_GENESIS = "0" * 64


def tombstone_path(keys_path: Path) -> Path:
    """Where the tombstones of the vault whose keyring is ``keys_path`` live: beside it."""
    return keys_path.parent / FILE_NAME


@dataclass(frozen=True, slots=True)
class Tombstone:
    """One erased customer, as the tombstone file remembers it."""

    seq: int
    customer_id: uuid.UUID
    erased_at: dt.datetime
    reason: str


class TombstoneFile:
    """The append-only, authenticated list of erased customer ids."""

    def __init__(self, path: Path, family: KeyFamily) -> None:
        self.path = path
        self._family = family

    def _mac(self, version: int, body: dict[str, Any]) -> str:
        key = derive_key(self._family.key(version), "erasure-tombstones")
        return keyed_hash(key, _canonical(body)).hex()

    def entries(self) -> list[Tombstone]:
        """Every tombstone, each MAC and the chain checked; none if the file does not exist."""
        return [t for t, _ in self._read(self._lines())]

    def find(self, customer_id: uuid.UUID) -> Tombstone | None:
        return next((t for t in self.entries() if t.customer_id == customer_id), None)

    def erased_ids(self) -> set[uuid.UUID]:
        return {t.customer_id for t in self.entries()}

    def append(self, customer_id: uuid.UUID, erased_at: dt.datetime, reason: str) -> Tombstone:
        """Record one erasure durably (fsync) before the caller deletes anything."""
        with self._locked() as fd:
            entries = self._read(self._lines())
            seq, prev = (entries[-1][0].seq + 1, entries[-1][1]) if entries else (1, _GENESIS)
            version = self._family.primary
            body = {
                "v": ENTRY_VERSION,
                "seq": seq,
                "customer_id": str(customer_id),
                "erased_at": erased_at.astimezone(dt.UTC).isoformat(),
                "reason": reason,
                "key_version": version,
                "prev": prev,
            }
            line = json.dumps({**body, "mac": self._mac(version, body)}, sort_keys=True) + "\n"
            os.write(fd, line.encode("ascii"))
            os.fsync(fd)
        return Tombstone(seq, customer_id, erased_at.astimezone(dt.UTC), reason)

    @contextmanager
    def _locked(self) -> Iterator[int]:
        created = not self.path.exists()
        if created and not self.path.parent.exists():
            self.path.parent.mkdir(mode=0o700, parents=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if created:
                _fsync_directory(self.path.parent)
            yield fd
        finally:
            os.close(fd)  # releases the lock

    def _lines(self) -> list[str]:
        try:
            text = self.path.read_text(encoding="ascii")
        except FileNotFoundError:
            return []
        except UnicodeDecodeError:
            raise IntegrityError(f"{self.path}: the erasure tombstones are damaged") from None
        return [line for line in text.split("\n") if line]

    def _read(self, lines: list[str]) -> list[tuple[Tombstone, str]]:
        out: list[tuple[Tombstone, str]] = []
        prev = _GENESIS
        for number, line in enumerate(lines, start=1):
            where = f"{self.path}: tombstone {number}"
            try:
                entry = json.loads(line)
                mac = entry.pop("mac")
                version = int(entry["key_version"])
                valid = constant_time_equal(self._mac(version, entry).encode(), str(mac).encode())
                tombstone = Tombstone(
                    seq=int(entry["seq"]),
                    customer_id=uuid.UUID(entry["customer_id"]),
                    erased_at=dt.datetime.fromisoformat(entry["erased_at"]),
                    reason=str(entry["reason"]),
                )
            except (ValueError, KeyError, TypeError, AttributeError):
                raise IntegrityError(f"{where} is malformed") from None
            if not valid:
                raise IntegrityError(f"{where} is not authentic (edited, or another vault's)")
            if entry["prev"] != prev or tombstone.seq != number:
                raise IntegrityError(f"{where} is out of sequence (an entry was removed or moved)")
            prev = str(mac)
            out.append((tombstone, prev))
        return out


def _canonical(body: dict[str, Any]) -> bytes:
    return b"cdv:tombstone:v1\x00" + json.dumps(body, sort_keys=True).encode("ascii")


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
