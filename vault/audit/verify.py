"""Verifying the audit log: walk the chain in order, in chunks, and name every break found.

What is checked, event by event (``seq`` ascending, ``chunk_size`` rows at a time,
so a million events never sit in memory together):

* **content** - the stored hash is the hash of the stored fields at this ``seq``
  with the stored previous hash.  If not, the event was *modified*; unless its
  hash is valid at another ``seq`` close by, in which case it was *reordered*
  (moved, or everything after a deleted event was renumbered).
* **sequence** - ``seq`` is gapless from 1; a gap means events are *missing*.
* **link** - the stored previous hash is the stored hash of the event before.  If
  the event's true predecessor is found a few events further back, the events in
  between were *inserted*; otherwise the link is broken (*unlinked*: the event
  before was rewritten and re-hashed, or this one was forged).
* **customer index** - ``audit_event_customers`` lists exactly the event's
  customer ids, so the access report cannot be thinned out without a trace.

and checkpoint by checkpoint (those in the database and any *anchors*, i.e.
exported checkpoints brought back from outside):

* signed by a key in the trusted set (else *untrusted_key*), with a valid
  signature (else *bad_signature*);
* the event at the checkpoint's ``seq`` carries the signed hash (else
  *checkpoint_mismatch*: history up to there was rewritten) and exists at all
  (else *truncated*: the tail was cut off).

A consistent rewrite of the whole chain (every hash recomputed, database
checkpoints replaced with ones under the attacker's own key) passes the first
four checks by construction; it is caught by the trust check and, if the forger
also deleted every database checkpoint, only by an exported anchor.  That is why
checkpoints are exported and why verifying one needs nothing but its public key.

After a break the walk continues (re-anchored on the stored hashes) so that
independent breaks are all reported, up to ``max_breaks``.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from vault.audit.chain import GENESIS, HASH_BYTES, EncodingError, event_hash
from vault.audit.checkpoints import Checkpoint, trusted_key_map, verify_checkpoint_signature
from vault.audit.records import (
    UNREADABLE,
    body_from_row,
    checkpoint_from_row,
    checkpoints_table,
    customers_table,
    events_table,
)
from vault.errors import ValidationError

DEFAULT_CHUNK = 1000
DEFAULT_MAX_BREAKS = 100
REORDER_WINDOW = 256
"""How far (in ``seq``) a misplaced event's true position is searched for: 2×256 hashes."""


class BreakKind(enum.StrEnum):
    MODIFIED = "modified"
    """The event's content (or seq) no longer matches its hash."""
    MISSING = "missing"
    """A gap in the sequence: events deleted."""
    INSERTED = "inserted"
    """Events that sit between an event and its true predecessor: forged and slipped in."""
    REORDERED = "reordered"
    """The event is valid, but at another seq than where it now sits."""
    UNLINKED = "unlinked"
    """The event does not name the event before it as its predecessor."""
    INDEX_MISMATCH = "index_mismatch"
    """``audit_event_customers`` disagrees with the event's customer ids."""
    TRUNCATED = "truncated"
    """The log ends before the seq of a trusted checkpoint."""
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"
    """The chain's hash at a trusted checkpoint's seq is not the signed hash."""
    BAD_SIGNATURE = "bad_signature"
    """A checkpoint whose signature does not verify (altered after signing)."""
    UNTRUSTED_KEY = "untrusted_key"
    """A checkpoint signed by a key outside the trusted set."""


@dataclass(frozen=True, slots=True)
class Break:
    """One place where the log is not what was written.  ``detail`` holds no PII."""

    seq: int
    kind: BreakKind
    detail: str


@dataclass(frozen=True, slots=True)
class VerificationReport:
    head_seq: int
    """The last event checked (the head when verification started, unless it stopped early)."""
    head_hash: bytes
    events_checked: int
    checkpoints_checked: int
    breaks: tuple[Break, ...]
    complete: bool
    """False when verification stopped after ``max_breaks`` breaks."""

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def first_break(self) -> Break | None:
        """The break with the lowest seq: where the log stops being trustworthy."""
        return min(self.breaks, key=lambda b: b.seq, default=None)


def verify_log(
    engine: Engine,
    trusted_keys: Iterable[bytes],
    *,
    anchors: Iterable[Checkpoint] = (),
    chunk_size: int = DEFAULT_CHUNK,
    max_breaks: int = DEFAULT_MAX_BREAKS,
) -> VerificationReport:
    """Verify the whole chain, its customer index and every checkpoint; never raises on tampering.

    ``trusted_keys`` are raw Ed25519 public keys (every audit key version that ever
    signed); ``anchors`` are exported checkpoints to hold the database to.
    """
    if chunk_size < 1 or max_breaks < 1:
        raise ValidationError("chunk_size", "chunk_size and max_breaks must be positive")
    walk = _Walk(trusted_key_map(trusted_keys), list(anchors), max_breaks)
    with engine.connect() as conn:
        with conn.begin():
            head = conn.execute(sa.select(sa.func.max(events_table().c.seq))).scalar()
            walk.checkpoints(_checkpoints(conn, None, 0), {0: GENESIS}, upto=0, after=None)
        after: int | None = None
        while head is not None and not walk.full:
            with conn.begin():  # one short transaction per chunk: appenders are not held up
                rows, links, checkpoints = _chunk(conn, after, head, chunk_size)
            if not rows:
                break
            walk.events(rows, links)
            last = int(rows[-1]["seq"])
            walk.checkpoints(checkpoints, walk.hashes, upto=last, after=max(after or 0, 0))
            after = last
            if last >= head or len(rows) < chunk_size:
                break
        if not walk.full:
            with conn.begin():
                # Events appended while we walked are not a truncation: look past them.
                now = conn.execute(sa.select(sa.func.max(events_table().c.seq))).scalar()
                horizon = max(walk.head_seq, int(now or 0))
                tail = _checkpoints(conn, horizon, None)
            walk.beyond_head(tail, horizon)
    return walk.report()


def verify_exported_checkpoint(
    engine: Engine,
    document: str | bytes,
    public_keys: Iterable[bytes],
    *,
    chunk_size: int = DEFAULT_CHUNK,
    max_breaks: int = DEFAULT_MAX_BREAKS,
) -> VerificationReport:
    """Hold the database to an exported checkpoint document, trusting only ``public_keys``.

    A forged or altered document shows up as ``bad_signature`` / ``untrusted_key``;
    a rewritten history as ``checkpoint_mismatch``; a cut-off tail as ``truncated``.
    A document that is not a checkpoint at all raises :class:`~vault.errors.ValidationError`.
    """
    anchor = Checkpoint.from_json(document)
    return verify_log(
        engine, public_keys, anchors=[anchor], chunk_size=chunk_size, max_breaks=max_breaks
    )


# --------------------------------------------------------------------------- reading


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _chunk(
    conn: Connection, after: int | None, head: int, size: int
) -> tuple[Sequence[Mapping[Any, Any]], dict[int, set[str]], list[Checkpoint]]:
    rows = _event_rows(conn, after, head, size)
    if not rows:
        return rows, {}, []
    low, high = int(rows[0]["seq"]), int(rows[-1]["seq"])
    index = customers_table()
    links: dict[int, set[str]] = defaultdict(set)
    raw_ids = sa.type_coerce(index.c.customer_id, sa.String)  # no UUID parsing that could fail
    for seq, customer_id in conn.execute(
        sa.select(index.c.seq, raw_ids).where(index.c.seq.between(low, high))
    ):
        links[int(seq)].add(_canonical_uuid(customer_id))
    checkpoints = _checkpoints(conn, max(after or 0, 0), high)
    return rows, links, checkpoints


def _event_rows(
    conn: Connection, after: int | None, head: int, size: int
) -> Sequence[Mapping[Any, Any]]:
    """The next chunk of events; a row that cannot even be read comes back as its hashes only."""
    events = events_table()
    bounds = [events.c.seq <= head] + ([events.c.seq > after] if after is not None else [])
    try:
        query = sa.select(events).where(*bounds).order_by(events.c.seq).limit(size)
        return list(conn.execute(query).mappings())
    except UNREADABLE:
        pass
    window = sa.select(events.c.seq).where(*bounds).order_by(events.c.seq).limit(size)
    rows: list[Mapping[Any, Any]] = []
    for seq in list(conn.execute(window).scalars()):
        try:
            rows.append(conn.execute(sa.select(events).where(events.c.seq == seq)).mappings().one())
        except UNREADABLE:  # reported as malformed by the walk (its body cannot be rebuilt)
            hashes = sa.select(events.c.seq, events.c.previous_hash, events.c.event_hash)
            rows.append(conn.execute(hashes.where(events.c.seq == seq)).mappings().one())
    return rows


def _checkpoints(conn: Connection, above: int | None, upto: int | None) -> list[Checkpoint]:
    """Stored checkpoints with ``above < seq <= upto`` (open bounds where ``None``)."""
    table = checkpoints_table()
    bounds = [table.c.seq > above] if above is not None else []
    if upto is not None:
        bounds.append(table.c.seq <= upto)
    try:
        query = sa.select(table).where(*bounds).order_by(table.c.seq, table.c.id)
        return [checkpoint_from_row(r) for r in conn.execute(query).mappings()]
    except UNREADABLE:
        pass
    checkpoints: list[Checkpoint] = []
    ids = sa.select(table.c.id).where(*bounds).order_by(table.c.seq, table.c.id)
    for checkpoint_id in list(conn.execute(ids).scalars()):
        row = conn.execute(sa.select(table).where(table.c.id == checkpoint_id))
        try:
            checkpoints.append(checkpoint_from_row(row.mappings().one()))
        except UNREADABLE:  # unreadable: kept as one that cannot verify
            seq, key = conn.execute(
                sa.select(table.c.seq, sa.type_coerce(table.c.key_id, sa.String)).where(
                    table.c.id == checkpoint_id
                )
            ).one()
            checkpoints.append(Checkpoint(int(seq), GENESIS, _EPOCH, str(key), b"", b""))
    return checkpoints


def _canonical_uuid(value: object) -> str:
    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
    except ValueError:
        return f"unreadable:{len(str(value))}"


def _as_bytes(value: object) -> bytes:
    """A stored hash as bytes; anything else (text written into a BLOB column) as b''."""
    return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else b""


# --------------------------------------------------------------------------- the walk


@dataclass
class _Seen:
    seq: int
    stored_hash: bytes
    reordered: bool


@dataclass
class _Walk:
    """The verifier's state between chunks: bounded by the window, not by the log."""

    trusted: dict[str, bytes]
    anchors: list[Checkpoint]
    max_breaks: int
    breaks: list[Break] = field(default_factory=list)
    expected: int = 1
    shift: int = 0
    previous_hash: bytes = GENESIS
    previous_reordered: bool = False
    previous_broken: bool = False
    """The event before was reported (modified or misplaced): its link proves nothing."""
    recent: deque[_Seen] = field(default_factory=lambda: deque(maxlen=REORDER_WINDOW))
    hashes: dict[int, bytes] = field(default_factory=dict)
    head_seq: int = 0
    head_hash: bytes = GENESIS
    events_checked: int = 0
    checkpoints_checked: int = 0
    stopped: bool = False

    @property
    def full(self) -> bool:
        return self.stopped

    def add(self, seq: int, kind: BreakKind, detail: str) -> None:
        if len(self.breaks) >= self.max_breaks:
            self.stopped = True
            return
        self.breaks.append(Break(seq, kind, detail))
        if len(self.breaks) >= self.max_breaks:
            self.stopped = True

    def report(self) -> VerificationReport:
        return VerificationReport(
            head_seq=self.head_seq,
            head_hash=self.head_hash,
            events_checked=self.events_checked,
            checkpoints_checked=self.checkpoints_checked,
            breaks=tuple(self.breaks),
            complete=not self.stopped,
        )

    # ----------------------------------------------------------------------- events

    def events(self, rows: Sequence[Mapping[Any, Any]], links: Mapping[int, set[str]]) -> None:
        self.hashes = {}
        for row in rows:
            if self.stopped:
                return
            self.event(row, links.get(int(row["seq"]), set()))

    def event(self, row: Mapping[Any, Any], indexed: set[str]) -> None:
        seq = int(row["seq"])
        stored = _as_bytes(row["event_hash"])
        previous = _as_bytes(row["previous_hash"])
        self.events_checked += 1
        self.hashes[seq] = stored
        if seq < self.expected:  # only a seq <= 0 can sort before the expected one
            self.add(seq, BreakKind.INSERTED, f"event {seq} lies before the start of the log")
            return
        gap = seq > self.expected
        if gap:
            self.add(
                self.expected,
                BreakKind.MISSING,
                f"events {self.expected}..{seq - 1} are missing (deleted)",
            )
        reordered = False
        written = self._content(row, seq, previous, stored, indexed)
        if written is not None and written != seq - self.shift:
            # Misplaced: the classification explains the broken link too.
            reordered = self._moved(seq, written, previous)
            self.shift = seq - written
        elif (
            written is not None
            and not gap
            and not self.previous_broken
            and previous != self.previous_hash
        ):
            inserted = self._inserted_before(seq, previous)
            if inserted is None:
                self.add(
                    seq,
                    BreakKind.UNLINKED,
                    f"event {seq} does not follow event {seq - 1} "
                    f"(event {seq - 1} was rewritten, or event {seq} was forged)",
                )
            else:
                self._report_inserted(*inserted)
        self.recent.append(_Seen(seq, stored, reordered))
        self.previous_hash = stored
        self.previous_reordered = reordered
        self.previous_broken = reordered or written is None
        self.expected = seq + 1
        self.head_seq = seq
        self.head_hash = stored

    def _content(
        self, row: Mapping[Any, Any], seq: int, previous: bytes, stored: bytes, indexed: set[str]
    ) -> int | None:
        """Check an event against its own hash; the seq it was written at, or None if modified."""
        try:
            body = body_from_row(row)
            encoded = body.encode()
        except (EncodingError, KeyError, TypeError, AttributeError, ValueError):
            self.add(seq, BreakKind.MODIFIED, f"event {seq} is malformed: not written by the vault")
            return None
        if len(previous) != HASH_BYTES or len(stored) != HASH_BYTES:
            self.add(seq, BreakKind.MODIFIED, f"event {seq} has a malformed hash")
            return None
        written = self._written_at(seq, previous, encoded, stored)
        if written is None:
            self.add(seq, BreakKind.MODIFIED, f"event {seq} no longer matches its hash")
            return None
        if set(body.customer_ids) != indexed:
            self.add(
                seq,
                BreakKind.INDEX_MISMATCH,
                f"the customer index of event {seq} does not match the event",
            )
        return written

    def _written_at(self, seq: int, previous: bytes, encoded: bytes, stored: bytes) -> int | None:
        """The seq at which this content was hashed: where it should be, else nearby."""
        tried = dict.fromkeys((seq - self.shift, seq))
        for candidate in tried:
            if event_hash(candidate, previous, encoded) == stored:
                return candidate
        for distance in range(1, REORDER_WINDOW + 1):
            for candidate in (seq - distance, seq + distance):
                if (
                    candidate >= 1
                    and candidate not in tried
                    and event_hash(candidate, previous, encoded) == stored
                ):
                    return candidate
        return None

    def _moved(self, seq: int, written: int, previous: bytes) -> bool:
        """Classify an event that is valid, but was written at another seq; True if reordered."""
        if written == seq and self.previous_reordered:
            return False  # back in place right after a misplaced block, already reported
        if seq - written > self.shift:  # written earlier than here: something was slipped in
            inserted = self._inserted_before(seq, previous)
            if inserted is not None:
                self._report_inserted(*inserted)
                return False
        self.add(
            seq,
            BreakKind.REORDERED,
            f"event {seq} was written as event {written} "
            "(moved, or the events after a deletion were renumbered)",
        )
        return True

    def _inserted_before(self, seq: int, previous: bytes) -> tuple[int, int] | None:
        """If this event's true predecessor sits further back: (first inserted seq, count)."""
        between: list[_Seen] = []
        for seen in reversed(self.recent):
            if seen.stored_hash == previous:
                break
            if seen.reordered:
                return None
            between.append(seen)
        else:
            if previous != GENESIS or len(self.recent) != self.events_checked - 1:
                return None  # predecessor not in view (or not the genesis)
        if not between:
            return None
        return between[-1].seq, len(between)

    def _report_inserted(self, first: int, count: int) -> None:
        last = first + count - 1
        explained = (BreakKind.MODIFIED, BreakKind.UNLINKED)  # a sloppy forgery's own breaks
        self.breaks[:] = [
            b for b in self.breaks if not (b.kind in explained and first <= b.seq <= last)
        ]
        self.add(
            first,
            BreakKind.INSERTED,
            f"events {first}..{last} were inserted: event {last + 1} follows event {first - 1}",
        )

    # ----------------------------------------------------------------------- checkpoints

    def checkpoints(
        self,
        stored: Sequence[Checkpoint],
        hashes: Mapping[int, bytes],
        *,
        upto: int,
        after: int | None,
    ) -> None:
        anchors = [a for a in self.anchors if a.seq <= upto and (after is None or a.seq > after)]
        for source, checkpoints in (("stored", stored), ("exported", anchors)):
            for checkpoint in checkpoints:
                if self.stopped:
                    return
                if not self._trusted(checkpoint, source):
                    continue
                signed = hashes.get(checkpoint.seq)
                if signed is None:
                    self.add(
                        checkpoint.seq,
                        BreakKind.CHECKPOINT_MISMATCH,
                        f"the {source} checkpoint at {checkpoint.seq} signs a missing event",
                    )
                elif signed != checkpoint.chain_hash:
                    self.add(
                        checkpoint.seq,
                        BreakKind.CHECKPOINT_MISMATCH,
                        f"the chain at event {checkpoint.seq} is not what the {source} checkpoint "
                        f"(key {checkpoint.key_id}) signed: history up to there was rewritten",
                    )

    def beyond_head(self, stored: Sequence[Checkpoint], horizon: int) -> None:
        """Checkpoints past the last event there is: trusted ones prove the tail was cut off."""
        anchors = [a for a in self.anchors if a.seq > horizon]
        furthest: Checkpoint | None = None
        for source, checkpoints in (("stored", stored), ("exported", anchors)):
            for checkpoint in checkpoints:
                if self._trusted(checkpoint, source) and (
                    furthest is None or checkpoint.seq > furthest.seq
                ):
                    furthest = checkpoint
        if furthest is not None:
            self.add(
                horizon + 1,
                BreakKind.TRUNCATED,
                f"the log ends at event {horizon} but a checkpoint (key "
                f"{furthest.key_id}) was signed at event {furthest.seq}",
            )

    def _trusted(self, checkpoint: Checkpoint, source: str) -> bool:
        self.checkpoints_checked += 1
        key = self.trusted.get(checkpoint.key_id)
        if key is None:
            self.add(
                checkpoint.seq,
                BreakKind.UNTRUSTED_KEY,
                f"the {source} checkpoint at {checkpoint.seq} is signed by untrusted key "
                f"{checkpoint.key_id}",
            )
            return False
        if not verify_checkpoint_signature(checkpoint, key):
            self.add(
                checkpoint.seq,
                BreakKind.BAD_SIGNATURE,
                f"the {source} checkpoint at {checkpoint.seq} does not verify under key "
                f"{checkpoint.key_id}: it was altered",
            )
            return False
        return True
