"""The hash chain: one canonical, unambiguous encoding of an event and the hash that links it.

``event_hash = SHA-256(DOMAIN ‖ seq ‖ previous_hash ‖ body)`` where

* ``DOMAIN`` is ``b"cdv:audit-event:v1\\x00"``, so an event hash can never be
  confused with any other SHA-256 the vault computes, and a future format is a new
  domain rather than a silent reinterpretation;
* ``seq`` is the event's sequence number as 8 bytes, big-endian, signed;
* ``previous_hash`` is the 32-byte hash of event ``seq - 1`` (32 zero bytes for
  the first event), which is what makes deletion, insertion and reordering visible;
* ``body`` is every other field, in a fixed order, each one self-delimiting.

Self-delimiting means: a string is its UTF-8 length as 4 bytes big-endian followed
by the bytes; an optional string is ``0x00`` (absent) or ``0x01`` and the string;
a list is its length (4 bytes) followed by its strings; the detail map is its
size followed by ``key, tag, value`` triples sorted by key, the tag (``s``/``i``/``b``)
saying whether the value is a string, an integer (decimal string) or a boolean
(one byte).  With every element length-prefixed and the order fixed, two different
events cannot produce the same bytes (``"ab" + "c"`` and ``"a" + "bc"`` differ), which
a separator-joined or JSON-ish encoding would have to argue for case by case.

The body encodes exactly the values *as stored* (customer ids as their canonical
strings, the time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``), so a verifier needs nothing
but the rows.  Anyone can recompute these hashes: the chain proves order and
completeness relative to a *signed* checkpoint (:mod:`vault.audit.checkpoints`),
not authorship on its own.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vault.crypto import sha256

DOMAIN = b"cdv:audit-event:v1\x00"
HASH_BYTES = 32
GENESIS = bytes(HASH_BYTES)
"""The ``previous_hash`` of event 1."""

DetailValue = str | int | bool
"""What a free-form detail entry may hold: no floats (their text form is not canonical)."""


class EncodingError(ValueError):
    """A stored value cannot be encoded (wrong type): the row was not written by the vault."""


def format_time(moment: dt.datetime) -> str:
    """The one text form of an event time that is hashed: UTC, microseconds, ``Z``."""
    if moment.tzinfo is None:
        raise EncodingError("audit times are timezone-aware")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class EventBody:
    """Every hashed field of an event except ``seq`` and ``previous_hash``, as stored."""

    occurred_at: dt.datetime
    principal: str
    role: str
    org_unit: str | None
    purpose: str
    action: str
    outcome: str
    request_id: str
    customer_ids: tuple[str, ...]
    fields_in_clear: tuple[str, ...]
    reason: str | None
    detail: tuple[tuple[str, DetailValue], ...]
    """Sorted by key."""

    def encode(self) -> bytes:
        """The canonical bytes (see the module docstring)."""
        out = bytearray()
        _text(out, format_time(self.occurred_at))
        _text(out, self.principal)
        _text(out, self.role)
        _optional(out, self.org_unit)
        _text(out, self.purpose)
        _text(out, self.action)
        _text(out, self.outcome)
        _text(out, self.request_id)
        _texts(out, self.customer_ids)
        _texts(out, self.fields_in_clear)
        _optional(out, self.reason)
        _detail(out, self.detail)
        return bytes(out)


def sorted_detail(detail: Mapping[str, object]) -> tuple[tuple[str, DetailValue], ...]:
    """A detail map in its canonical order; refuses value types the encoding does not know."""
    entries: list[tuple[str, DetailValue]] = []
    for key in sorted(detail):
        value = detail[key]
        if not isinstance(key, str) or not isinstance(value, str | int):
            raise EncodingError("detail entries map strings to strings, integers or booleans")
        entries.append((key, value))
    return tuple(entries)


def event_hash(seq: int, previous_hash: bytes, body: EventBody | bytes) -> bytes:
    """The chain hash of event ``seq``; ``body`` may be pre-encoded to try many ``seq`` cheaply."""
    if len(previous_hash) != HASH_BYTES:
        raise EncodingError("a previous hash is 32 bytes")
    encoded = body if isinstance(body, bytes) else body.encode()
    return sha256(DOMAIN + struct.pack(">q", seq) + previous_hash + encoded)


def _text(out: bytearray, value: str) -> None:
    if not isinstance(value, str):
        raise EncodingError("expected a string")
    raw = value.encode("utf-8")
    out += struct.pack(">I", len(raw))
    out += raw


def _optional(out: bytearray, value: str | None) -> None:
    if value is None:
        out += b"\x00"
    else:
        out += b"\x01"
        _text(out, value)


def _texts(out: bytearray, values: Sequence[str]) -> None:
    out += struct.pack(">I", len(values))
    for value in values:
        _text(out, value)


def _detail(out: bytearray, entries: Sequence[tuple[str, DetailValue]]) -> None:
    out += struct.pack(">I", len(entries))
    for key, value in entries:
        _text(out, key)
        if isinstance(value, bool):  # before int: bool is an int subclass
            out += b"b\x01" if value else b"b\x00"
        elif isinstance(value, int):
            out += b"i"
            _text(out, str(value))
        elif isinstance(value, str):
            out += b"s"
            _text(out, value)
        else:
            raise EncodingError("detail values are strings, integers or booleans")
