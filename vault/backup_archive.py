"""The backup archive format: a readable manifest, then the snapshot as authenticated chunks.

Layout (every integer big-endian)::

    magic       12 bytes  b"CDV-BACKUP\\x00\\x01"
    header_len   4 bytes
    header       JSON, UTF-8: the manifest (format, backend, created_at, schema
                 revisions, row counts per table, SHA-256 and size of the
                 plaintext, backup key version, chunk size) and the 32-byte salt
    chunks       repeated: 4-byte length, then AES-256-GCM ciphertext + tag of
                 one chunk of at most ``chunk_bytes`` plaintext bytes

Chunks are sealed with :class:`vault.crypto.ChunkedAead` under a key derived
from the keyring's ``backup`` key (the version named in the header) and the
salt; their associated data binds the SHA-256 of the magic and header, the
chunk's index and whether it is the last.  So the manifest cannot be edited
(chunk 0 would fail), chunks cannot be reordered, dropped or spliced from
another archive, and an archive cut short lacks its final chunk.  The
manifest is readable without the key so an operator can see what an archive
holds; it carries counts and digests, never a value.

:func:`open_archive` checks *everything* (each chunk, the final flag, no
trailing bytes, the plaintext digest and size) while writing the plaintext to
a sink the caller owns; only an archive that passes may be used, which is why
a restore verifies into a private temporary file before it touches the database.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from vault.crypto import TAG_BYTES, ChunkedAead, sha256
from vault.errors import IntegrityError, ValidationError
from vault.keyring import KeyFamily

MAGIC = b"CDV-BACKUP\x00\x01"
FORMAT = "customer-vault-backup/1"
CHUNK_BYTES = 1 << 20
MAX_HEADER_BYTES = 1 << 16
_LEN = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class Manifest:
    """What an archive holds, readable without the key (no value, only counts and digests)."""

    backend: str
    created_at: str
    schema_revisions: tuple[str, ...]
    row_counts: Mapping[str, int]
    plaintext_sha256: str
    plaintext_bytes: int
    key_version: int
    chunk_bytes: int = CHUNK_BYTES
    format: str = FORMAT

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "backend": self.backend,
            "created_at": self.created_at,
            "schema_revisions": list(self.schema_revisions),
            "row_counts": dict(self.row_counts),
            "plaintext_sha256": self.plaintext_sha256,
            "plaintext_bytes": self.plaintext_bytes,
            "key_family": "backup",
            "key_version": self.key_version,
            "chunk_bytes": self.chunk_bytes,
        }


OnChunk = Callable[[int], None]
"""Told the plaintext size of each chunk as it is sealed or opened (for progress bars)."""


def write_archive(
    out: BinaryIO,
    plaintext: BinaryIO,
    manifest: Manifest,
    family: KeyFamily,
    on_chunk: OnChunk | None = None,
) -> None:
    """Seal ``plaintext`` (already digested into ``manifest``) into ``out``, chunk by chunk."""
    salt = secrets.token_bytes(32)
    header = json.dumps(
        {**manifest.as_dict(), "salt": base64.b64encode(salt).decode("ascii")}, sort_keys=True
    ).encode("utf-8")
    prefix = MAGIC + _LEN.pack(len(header)) + header
    out.write(prefix)
    aead = ChunkedAead(family.key(manifest.key_version), salt, sha256(prefix))
    index = 0
    current = plaintext.read(manifest.chunk_bytes)
    while True:
        following = plaintext.read(manifest.chunk_bytes)
        final = not following
        sealed = aead.seal(index, current, final=final)
        out.write(_LEN.pack(len(sealed)) + sealed)
        if on_chunk is not None:
            on_chunk(len(current))
        if final:
            return
        index, current = index + 1, following


def _damaged(why: str) -> IntegrityError:
    return IntegrityError(f"the backup archive failed verification: {why}; nothing was restored")


def read_manifest(stream: BinaryIO) -> tuple[Manifest, bytes, bytes]:
    """The manifest, the salt and the header prefix (for the chunks' associated data)."""
    magic = stream.read(len(MAGIC))
    if magic != MAGIC:
        raise ValidationError("archive", "is not a customer-vault backup archive")
    raw_len = stream.read(_LEN.size)
    if len(raw_len) != _LEN.size:
        raise _damaged("the header is cut short")
    (length,) = _LEN.unpack(raw_len)
    if length > MAX_HEADER_BYTES:
        raise _damaged("the header length is implausible")
    header = stream.read(length)
    if len(header) != length:
        raise _damaged("the header is cut short")
    try:
        doc = json.loads(header.decode("utf-8"))
        salt = base64.b64decode(doc["salt"], validate=True)
        manifest = Manifest(
            backend=str(doc["backend"]),
            created_at=str(doc["created_at"]),
            schema_revisions=tuple(str(r) for r in doc["schema_revisions"]),
            row_counts={str(k): int(v) for k, v in doc["row_counts"].items()},
            plaintext_sha256=str(doc["plaintext_sha256"]),
            plaintext_bytes=int(doc["plaintext_bytes"]),
            key_version=int(doc["key_version"]),
            chunk_bytes=int(doc["chunk_bytes"]),
            format=str(doc["format"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise _damaged("the header is malformed") from None
    if manifest.format != FORMAT:
        raise ValidationError("archive", f"unknown backup format (expected {FORMAT})")
    if len(salt) != 32 or not 0 < manifest.chunk_bytes <= 64 * CHUNK_BYTES:
        raise _damaged("the header is malformed")
    return manifest, salt, MAGIC + raw_len + header


def open_archive(
    stream: BinaryIO, family: KeyFamily, sink: BinaryIO, on_chunk: OnChunk | None = None
) -> Manifest:
    """Verify the whole archive, writing its plaintext to ``sink``; raises IntegrityError.

    Nothing the sink received may be used unless this returns.
    """
    manifest, salt, prefix = read_manifest(stream)
    aead = ChunkedAead(family.key(manifest.key_version), salt, sha256(prefix))
    digest = hashlib.sha256()
    size = 0
    index = 0
    pending = _read_chunk(stream, manifest.chunk_bytes)
    if pending is None:
        raise _damaged("it holds no data chunk")
    while True:
        following = _read_chunk(stream, manifest.chunk_bytes)
        final = following is None
        try:
            plaintext = aead.open(index, pending, final=final)
        except IntegrityError:
            where = "its last chunk is missing or" if final else f"chunk {index} is"
            raise _damaged(f"{where} not authentic") from None
        digest.update(plaintext)
        size += len(plaintext)
        sink.write(plaintext)
        if on_chunk is not None:
            on_chunk(len(plaintext))
        if final:
            break
        assert following is not None
        index, pending = index + 1, following
    if size != manifest.plaintext_bytes or not secrets.compare_digest(
        digest.hexdigest(), manifest.plaintext_sha256
    ):
        raise _damaged("the content digest does not match the manifest")
    return manifest


def _read_chunk(stream: BinaryIO, chunk_bytes: int) -> bytes | None:
    raw_len = stream.read(_LEN.size)
    if not raw_len:
        return None
    if len(raw_len) != _LEN.size:
        raise _damaged("a chunk is cut short")
    (length,) = _LEN.unpack(raw_len)
    if not TAG_BYTES <= length <= chunk_bytes + TAG_BYTES:
        raise _damaged("a chunk length is implausible")
    sealed = stream.read(length)
    if len(sealed) != length:
        raise _damaged("a chunk is cut short")
    return sealed
