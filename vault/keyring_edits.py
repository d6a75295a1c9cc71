"""Changing the keyring file safely while the vault keeps running.

Rotation edits the keyring in small steps, in the order Tink keysets use: add a
new version (every reader can now use it), make it primary (new data keys are
wrapped under it), re-wrap, and only when nothing uses the old version any
more, retire it (its key material is deleted from the file for good).

Each step is one edit made under an exclusive lock (``flock`` on a lock file
beside the keyring, so two rotations cannot interleave and a killed process
releases it), validated by parsing the result *before* it is written, and
written atomically: temp file, fsync, rename over the old file, fsync of the
directory.  A ``kill -9`` at any moment leaves either the old file or the new
one, never half of each.  Running API workers notice the new file
(:mod:`vault.live_keyring`) and re-read it.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vault.crypto import SecretKey
from vault.errors import KeyringError
from vault.keyring import (
    FAMILIES,
    Keyring,
    add_missing_families,
    parse_keyring,
    read_keyring_document,
    write_keyring,
)

NewEntry = Callable[[int, dt.datetime], dict[str, Any]]
"""Makes the file entry of a new version (``version``, ``created_at``) → TOML table."""


def random_key_entry(version: int, created_at: dt.datetime) -> dict[str, Any]:
    """A new version whose key is 32 bytes from the OS CSPRNG, kept in the file."""
    del version
    key = base64.b64encode(SecretKey.generate().reveal()).decode("ascii")
    return {"key": key, "created_at": created_at}


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the keyring's edit lock; also clears temp files a killed writer left behind."""
    lock_path = path.with_name(f".{path.name}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for stale in path.parent.glob(f".{path.name}.tmp-*"):
            stale.unlink(missing_ok=True)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _commit(path: Path, document: dict[str, Any]) -> Keyring:
    """Validate the edited document, then replace the file with it atomically and durably."""
    keyring = parse_keyring(document, path)
    write_keyring(path, document, overwrite=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return keyring


def _family(document: dict[str, Any], family: str) -> dict[str, Any]:
    if family not in FAMILIES:
        raise KeyringError(f"unknown key family {family!r}; expected one of {', '.join(FAMILIES)}")
    section: dict[str, Any] = document[family]
    return section


def add_version(
    path: Path, family: str, *, now: dt.datetime, new_entry: NewEntry = random_key_entry
) -> int:
    """Add a new, not yet primary, version to ``family``; returns its number."""
    with locked(path):
        document = read_keyring_document(path)
        parse_keyring(document, path)  # only a valid keyring is edited
        section = _family(document, family)
        used = [*section.get("versions", {}), *section.get("retired", {})]
        version = max(int(v) for v in used) + 1
        section["versions"][str(version)] = new_entry(version, now.replace(microsecond=0))
        _commit(path, document)
    return version


def promote(path: Path, family: str, version: int) -> None:
    """Make ``version`` the primary of ``family`` (it must be live)."""
    with locked(path):
        document = read_keyring_document(path)
        section = _family(document, family)
        if str(version) not in section["versions"]:
            raise KeyringError(f"the keyring has no live {family} key version {version}")
        section["primary"] = version
        _commit(path, document)


def retire(
    path: Path,
    family: str,
    version: int,
    *,
    now: dt.datetime,
    public_key: Callable[[SecretKey], bytes] | None = None,
) -> None:
    """Delete the key material of a non-primary version, keeping a record of it.

    The caller checks first that nothing uses the version any more; this only
    refuses to retire the primary.  ``public_key`` keeps what a retired signing
    key must leave behind so old signatures stay verifiable.
    """
    with locked(path):
        document = read_keyring_document(path)
        keyring = parse_keyring(document, path)
        section = _family(document, family)
        live = section["versions"].get(str(version))
        if live is None:
            raise KeyringError(f"the keyring has no live {family} key version {version}")
        if version == section["primary"]:
            raise KeyringError(
                f"{family} version {version} is primary: rotate first, then retire it"
            )
        entry: dict[str, Any] = {
            "created_at": live["created_at"],
            "retired_at": now.replace(microsecond=0),
        }
        if public_key is not None:
            raw = public_key(keyring.families[family].versions[version].key)
            entry["public_key"] = base64.b64encode(raw).decode("ascii")
        del section["versions"][str(version)]
        section.setdefault("retired", {})[str(version)] = entry
        _commit(path, document)


def mark_reindexed(path: Path, version: int) -> None:
    """Record that every blind index is now computed under index ``version``.

    Written by a completed re-index; retiring an older index key requires it.
    """
    with locked(path):
        document = read_keyring_document(path)
        section = _family(document, "index")
        if str(version) not in section["versions"]:
            raise KeyringError(f"the keyring has no live index key version {version}")
        section["reindexed"] = version
        _commit(path, document)


def reindexed_version(document: dict[str, Any]) -> int | None:
    value = document.get("index", {}).get("reindexed")
    return value if isinstance(value, int) else None


def add_missing_families_to_file(path: Path) -> list[str]:
    """``customer-vault init`` on an older keyring: add the families it lacks, keep the rest."""
    with locked(path):
        document = read_keyring_document(path)
        added = add_missing_families(document)
        if added:
            _commit(path, document)
    return added
