"""The export scratch file: round-trips, holds nothing in clear, and refuses any tampering."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault.crypto import SecretKey
from vault.errors import IntegrityError
from vault.extracts.spill import SpillWriter, read_spill

CONTEXT = b"export:part:0"
SEEDED = "张伟-110105199001011234"


def _batch(values: list[str]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {"city": values, "n": list(range(len(values)))},
        schema=pa.schema([("city", pa.string()), ("n", pa.int64())]),
    )


def _write(path: Path, key: SecretKey, batches: list[list[str]]) -> None:
    writer = SpillWriter(path, key, CONTEXT)
    for values in batches:
        writer.write(_batch(values))
    writer.close()


def _chunks(data: bytes) -> tuple[bytes, list[bytes]]:
    """The salt and the length-prefixed chunks of a spill file."""
    salt, rest, chunks = data[:32], data[32:], []
    while rest:
        n = int.from_bytes(rest[:4], "big")
        chunks.append(rest[: 4 + n])
        rest = rest[4 + n :]
    return salt, chunks


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.text(max_size=20), min_size=1, max_size=5), max_size=4))
def test_batches_round_trip_in_order(
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[str]]
) -> None:
    path = tmp_path_factory.mktemp("spill") / "part.spill"
    key = SecretKey.generate()
    _write(path, key, batches)
    back = [b.column("city").to_pylist() for b in read_spill(path, key, CONTEXT)]
    assert back == batches


def test_file_holds_no_value_in_clear(tmp_path: Path) -> None:
    path = tmp_path / "part.spill"
    _write(path, SecretKey.generate(), [[SEEDED] * 50, ["上海", SEEDED]])
    raw = path.read_bytes()
    for needle in (SEEDED, "张伟", "110105199001011234", "上海"):
        assert needle.encode() not in raw
    assert path.stat().st_mode & 0o077 == 0


def test_wrong_key_or_context_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "part.spill"
    key = SecretKey.generate()
    _write(path, key, [["a"], ["b"]])
    with pytest.raises(IntegrityError):
        list(read_spill(path, SecretKey.generate(), CONTEXT))
    with pytest.raises(IntegrityError):
        list(read_spill(path, key, b"export:part:1"))  # another worker's file


@pytest.mark.parametrize("tamper", ["drop_last", "drop_middle", "swap", "flip_bit", "cut_inside"])
def test_tampered_file_is_refused(tmp_path: Path, tamper: str) -> None:
    path = tmp_path / "part.spill"
    key = SecretKey.generate()
    _write(path, key, [["a"], ["b"], ["c"]])
    salt, chunks = _chunks(path.read_bytes())
    assert len(chunks) == 3
    if tamper == "drop_last":  # a cut at a chunk boundary: the final chunk is missing
        chunks = chunks[:-1]
    elif tamper == "drop_middle":
        chunks = [chunks[0], chunks[2]]
    elif tamper == "swap":
        chunks = [chunks[1], chunks[0], chunks[2]]
    data = salt + b"".join(chunks)
    if tamper == "flip_bit":
        data = data[:40] + bytes([data[40] ^ 1]) + data[41:]
    elif tamper == "cut_inside":
        data = data[:-5]
    path.write_bytes(data)
    with pytest.raises(IntegrityError):
        list(read_spill(path, key, CONTEXT))


def test_empty_spill_round_trips_and_a_bare_salt_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "part.spill"
    key = SecretKey.generate()
    _write(path, key, [])
    assert list(read_spill(path, key, CONTEXT)) == []
    path.write_bytes(path.read_bytes()[:32])
    with pytest.raises(IntegrityError):
        list(read_spill(path, key, CONTEXT))


def test_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "part.spill"
    path.write_bytes(b"someone else's")
    with pytest.raises(FileExistsError):
        SpillWriter(path, SecretKey.generate(), CONTEXT)
