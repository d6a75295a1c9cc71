"""Signed checkpoints: "event ``seq`` of this chain has hash ``h``", signed with Ed25519.

Anyone with database write access can recompute every hash of a rewritten chain,
so the chain alone proves nothing against them.  A checkpoint signed with the
keyring's ``audit`` key and *copied out of the database* does: a rewritten history
no longer reaches the signed hash, and a truncated one no longer reaches the signed
``seq``.  Checking a checkpoint needs only the public key.

Exported document (JSON, one object)::

    {
      "format": "cdv-audit-checkpoint/1",
      "seq": 1200,
      "hash": "<64 hex chars: the chain hash of event seq>",
      "signed_at": "2026-11-22T09:30:00.000000Z",
      "key_id": "<16 hex chars: SHA-256 of the public key, truncated>",
      "public_key": "<base64 of the raw 32-byte Ed25519 public key>",
      "signature": "<base64 of the 64-byte Ed25519 signature>"
    }

The signature covers ``b"cdv:audit-checkpoint:v1\\x00" ‖ seq (8 bytes, big-endian)
‖ hash ‖ len(signed_at) (4 bytes) ‖ signed_at ‖ public_key``.  ``key_id`` is derived
from the public key and checked, never trusted; what makes a checkpoint count is
that its public key is in the verifier's *trusted* set, which outlives rotations
of the audit key (every version in the keyring, plus keys retired from it).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vault.audit.chain import HASH_BYTES, format_time
from vault.crypto import SecretKey, Signer, sha256, signature_is_valid
from vault.errors import ValidationError
from vault.keyring import Keyring

FORMAT = "cdv-audit-checkpoint/1"
DOMAIN = b"cdv:audit-checkpoint:v1\x00"
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


def key_id(public_key: bytes) -> str:
    """A short, stable name for a public key: the first 16 hex chars of its SHA-256."""
    return sha256(public_key).hex()[:16]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement about the chain's state at ``seq`` (``seq`` 0: the empty log)."""

    seq: int
    chain_hash: bytes
    signed_at: dt.datetime
    key_id: str
    public_key: bytes
    signature: bytes

    def signed_message(self) -> bytes:
        return signed_message(self.seq, self.chain_hash, self.signed_at, self.public_key)

    def to_json(self) -> str:
        """The exported document (module docstring), for storage outside the database."""
        return json.dumps(
            {
                "format": FORMAT,
                "seq": self.seq,
                "hash": self.chain_hash.hex(),
                "signed_at": format_time(self.signed_at),
                "key_id": self.key_id,
                "public_key": base64.b64encode(self.public_key).decode("ascii"),
                "signature": base64.b64encode(self.signature).decode("ascii"),
            },
            indent=2,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, document: str | bytes) -> Checkpoint:
        """Parse an exported checkpoint; refuses anything malformed (not: unsigned or untrusted)."""
        try:
            data = json.loads(document)
        except (ValueError, UnicodeDecodeError):
            raise ValidationError("checkpoint", "is not a JSON document") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValidationError("checkpoint", f"is not a {FORMAT} document")
        return cls(
            seq=_int(data, "seq"),
            chain_hash=_hex(data, "hash", HASH_BYTES),
            signed_at=_time(data, "signed_at"),
            key_id=_str(data, "key_id"),
            public_key=_b64(data, "public_key", PUBLIC_KEY_BYTES),
            signature=_b64(data, "signature", SIGNATURE_BYTES),
        )


def signed_message(seq: int, chain_hash: bytes, signed_at: dt.datetime, public_key: bytes) -> bytes:
    when = format_time(signed_at).encode("ascii")
    return (
        DOMAIN
        + struct.pack(">q", seq)
        + chain_hash
        + struct.pack(">I", len(when))
        + when
        + public_key
    )


def sign_checkpoint(
    signer: Signer, seq: int, chain_hash: bytes, signed_at: dt.datetime
) -> Checkpoint:
    """A new checkpoint for event ``seq`` whose chain hash is ``chain_hash``."""
    public_key = signer.public_key()
    signed_at = signed_at.astimezone(dt.UTC)
    signature = signer.sign(signed_message(seq, chain_hash, signed_at, public_key))
    return Checkpoint(
        seq=seq,
        chain_hash=chain_hash,
        signed_at=signed_at,
        key_id=key_id(public_key),
        public_key=public_key,
        signature=signature,
    )


def verify_checkpoint_signature(checkpoint: Checkpoint, public_key: bytes) -> bool:
    """Whether ``public_key`` (raw 32 bytes) signed exactly this checkpoint.  Needs nothing else.

    The checkpoint's own ``public_key`` and ``key_id`` must name that key too, so a
    document cannot borrow a trusted key's id while carrying another key.
    """
    return (
        checkpoint.public_key == public_key
        and checkpoint.key_id == key_id(public_key)
        and len(checkpoint.chain_hash) == HASH_BYTES
        and signature_is_valid(public_key, checkpoint.signature, checkpoint.signed_message())
    )


def trusted_key_map(public_keys: Iterable[bytes]) -> dict[str, bytes]:
    """Trusted public keys by key id; refuses a key that is not 32 bytes."""
    keys: dict[str, bytes] = {}
    for public_key in public_keys:
        if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_BYTES:
            raise ValidationError("trusted_keys", "a public key is 32 raw bytes")
        keys[key_id(public_key)] = public_key
    return keys


def signer_from_keyring(keyring: Keyring) -> Signer:
    """The signer of new checkpoints: the primary version of the ``audit`` family."""
    return Signer(keyring.audit_signing_seed)


def public_keys_from_keyring(keyring: Keyring) -> tuple[bytes, ...]:
    """The public keys of every ``audit`` key version (retired ones too): the trusted set.

    Checkpoints signed before a rotation keep verifying as long as the old
    version (or its public key, kept elsewhere) stays trusted.
    """
    family = keyring.families["audit"]
    live = [(v, public_key_from_seed(kv.key)) for v, kv in family.versions.items()]
    retired = [(v, rv.public_key) for v, rv in family.retired.items() if rv.public_key]
    return tuple(key for _, key in sorted([*live, *retired]))


def public_key_from_seed(seed: SecretKey) -> bytes:
    return Signer(seed).public_key()


def public_key_from_b64(text: str) -> bytes:
    """A trusted public key as operators pass it around (base64 of the raw 32 bytes)."""
    return _b64({"public_key": text}, "public_key", PUBLIC_KEY_BYTES)


def _int(data: Mapping[str, Any], name: str) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationError(f"checkpoint.{name}", "must be a non-negative integer")
    return value


def _str(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise ValidationError(f"checkpoint.{name}", "must be text")
    return value


def _hex(data: Mapping[str, Any], name: str, size: int) -> bytes:
    try:
        raw = bytes.fromhex(_str(data, name))
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise ValidationError(f"checkpoint.{name}", f"must be {size} bytes of hex")
    return raw


def _b64(data: Mapping[str, Any], name: str, size: int) -> bytes:
    try:
        raw = base64.b64decode(_str(data, name), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size:
        raise ValidationError(f"checkpoint.{name}", f"must be {size} bytes of base64")
    return raw


def _time(data: Mapping[str, Any], name: str) -> dt.datetime:
    text = _str(data, name)
    try:
        moment = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        raise ValidationError(f"checkpoint.{name}", "must be YYYY-MM-DDTHH:MM:SS.ffffffZ") from None
    return moment.replace(tzinfo=dt.UTC)
