"""The scratch file between an export's two passes: Arrow batches sealed under a one-time key.

k-anonymity needs counts over every row before the first row can be written,
so the first pass (read, decrypt, derive) keeps what it computed until the
second pass (generalise, suppress, write).  Keeping a million rows in memory
breaks the memory bound; re-reading and re-decrypting them doubles the work;
writing them to disk in clear would put quasi-identifiers in a temporary
file.  So they go to disk sealed: each batch is an Arrow IPC message sealed
with :class:`~vault.crypto.ChunkedAead` (STREAM: chunks cannot be reordered,
dropped or truncated unnoticed) under a random key that exists only in this
process (and its forked workers) and is never stored.  Once the export ends
the file is deleted, and without the key it was noise anyway.

Format: a 32-byte salt, then per chunk a 4-byte big-endian length and the sealed
chunk; the last chunk is sealed as final (an empty file still has one).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from vault.crypto import ChunkedAead, SecretKey
from vault.errors import IntegrityError

_SALT = 32
_LENGTH = 4


def _serialise(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return bytes(sink.getvalue())


def _deserialise(data: bytes) -> pa.RecordBatch:
    with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
        return reader.read_next_batch()


class SpillWriter:
    """Appends batches to one spill file; ``close`` seals the final chunk."""

    def __init__(self, path: Path, key: SecretKey, context: bytes) -> None:
        salt = secrets.token_bytes(_SALT)
        self._aead = ChunkedAead(key, salt, context)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file: BinaryIO = os.fdopen(fd, "wb")
        self._file.write(salt)
        self._index = 0
        self._pending: bytes | None = None
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        if self._pending is not None:
            self._emit(self._pending, final=False)
        self._pending = _serialise(batch)
        self.rows += batch.num_rows

    def _emit(self, plaintext: bytes, *, final: bool) -> None:
        sealed = self._aead.seal(self._index, plaintext, final=final)
        self._file.write(len(sealed).to_bytes(_LENGTH, "big") + sealed)
        self._index += 1

    def close(self) -> None:
        if self._file.closed:
            return
        self._emit(self._pending if self._pending is not None else b"", final=True)
        self._pending = None
        self._file.close()


def read_spill(path: Path, key: SecretKey, context: bytes) -> Iterator[pa.RecordBatch]:
    """Every batch written to ``path``, authenticated; ``IntegrityError`` if cut or altered."""
    with path.open("rb") as fh:
        salt = fh.read(_SALT)
        if len(salt) != _SALT:
            raise IntegrityError("export scratch file is truncated")
        aead = ChunkedAead(key, salt, context)
        index = 0
        pending: bytes | None = None
        while True:
            head = fh.read(_LENGTH)
            if not head:
                break
            sealed = fh.read(int.from_bytes(head, "big"))
            if pending is not None:
                yield _deserialise(aead.open(index - 1, pending, final=False))
            pending = sealed
            index += 1
        if pending is None:
            raise IntegrityError("export scratch file is truncated")
        last = aead.open(index - 1, pending, final=True)
        if last:
            yield _deserialise(last)
