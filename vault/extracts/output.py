"""Where an extract is written: a staging directory that becomes ``--out`` only when complete.

An export never overwrites anything and never leaves half a file behind:

* the destination must not exist, or be an empty directory;
* everything (the encrypted scratch files, the data file, ``manifest.json``) is
  written in a private staging directory (mode 0700) beside the destination,
  in the same file system;
* on success the scratch files are deleted, the files fsynced and the staging
  directory renamed onto the destination in one ``rename``, which fails rather
  than replaces if something appeared there meanwhile;
* on any failure the staging directory is removed.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from vault.errors import ConflictError, ValidationError

MANIFEST = "manifest.json"


class Format(enum.StrEnum):
    PARQUET = "parquet"
    CSV = "csv"

    @property
    def file_name(self) -> str:
        return f"data.{self.value}"


def check_destination(out: Path) -> None:
    """Refuse a destination that exists and is not an empty directory."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ConflictError(f"{out} exists and is not a directory: exports never overwrite")
    if out.is_dir() and any(out.iterdir()):
        raise ConflictError(f"{out} is not empty: exports never overwrite")
    if not out.parent.is_dir():
        raise ValidationError("--out", f"the parent directory {out.parent} does not exist")


@contextlib.contextmanager
def staging(out: Path) -> Iterator[Path]:
    """A private directory to write in; removed unless :func:`publish` moved it into place."""
    check_destination(out)
    stage = out.parent / f".{out.name}.partial-{secrets.token_hex(6)}"
    try:
        stage.mkdir(mode=0o700)
    except OSError as exc:
        raise ValidationError("--out", f"cannot write beside {out} ({exc.strerror})") from None
    try:
        yield stage
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)


def publish(stage: Path, out: Path, keep: tuple[str, ...]) -> None:
    """Delete everything but ``keep`` from ``stage``, fsync, and rename it onto ``out``."""
    for entry in stage.iterdir():
        if entry.name not in keep:
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    for name in keep:
        with (stage / name).open("rb") as fh:
            os.fsync(fh.fileno())
    stage.chmod(0o755)
    try:
        if out.is_dir():
            out.rmdir()  # empty (checked); rename then cannot replace a non-empty directory
        stage.rename(out)
    except OSError as exc:
        raise ConflictError(f"{out} appeared while exporting: nothing was overwritten") from exc
    _fsync_dir(out.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DataWriter:
    """Streams record batches into the extract's one data file (Parquet or CSV)."""

    def __init__(self, path: Path, schema: pa.Schema, fmt: Format) -> None:
        self.path = path
        self.rows = 0
        self._writer: pq.ParquetWriter | pacsv.CSVWriter
        if fmt is Format.PARQUET:
            self._writer = pq.ParquetWriter(path, schema, compression="zstd")
        else:
            self._writer = pacsv.CSVWriter(path, schema)

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self._writer.write_batch(batch)
            self.rows += batch.num_rows

    def close(self) -> None:
        self._writer.close()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(path: Path, manifest: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=True) + "\n", encoding="utf-8")
