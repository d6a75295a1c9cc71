"""The keyring: where the vault's root keys live, and the provider that wraps data keys with them.

Key families (``keys.example`` documents the file format):

``kek``        key-encryption keys, versioned; the primary one wraps new data keys, every
               version still present can unwrap.  Rotation adds a version, re-wraps, then
               retires the old one.
``index``      blind-index keys, versioned the same way (re-indexing reads all versions).
``pseudonym``  the root of keyed pseudonyms for exports and views.
``audit``      the Ed25519 seed that signs audit checkpoints.
``backup``     seals backup archives and authenticates erasure tombstones (versioned; a
               keyring written before backups existed lacks it: ``customer-vault init``
               adds it and keeps every other key).

A :class:`KeyProvider` is what wraps and unwraps data keys.  :class:`FileKeyProvider`
keeps the KEKs in this process (the embedded default); an HSM provider keeps them in
the token and answers the same protocol.  Loading refuses a key file that others can
read, a file still holding the example's placeholders, and malformed or reused keys,
each with a message that says what to do.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import tomli_w

from vault.crypto import KEY_BYTES, Aead, SecretKey
from vault.errors import IntegrityError, KeyringError

FORMAT = "customer-vault-keyring/1"
FAMILIES = ("kek", "index", "pseudonym", "audit", "backup")
# --- lifecycle (backup family) begin
OPTIONAL_FAMILIES = frozenset({"backup"})
"""Families a keyring written by an older vault may lack; loading accepts it without them,
and what needs one says how to add it (``customer-vault init`` on the existing keyring)."""
# --- lifecycle (backup family) end


@dataclass(frozen=True, slots=True)
class KeyVersion:
    """A live key version: used to read (unwrap, look up, verify) and, if primary, to write."""

    version: int
    key: SecretKey
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class RetiredVersion:
    """A version whose key material was destroyed once nothing used it any more.

    Kept as a record (for ``keys status`` and so a number is never reused); an
    audit key keeps its *public* half so checkpoints it signed stay verifiable.
    """

    version: int
    created_at: dt.datetime
    retired_at: dt.datetime
    public_key: bytes | None = None


@dataclass(frozen=True, slots=True)
class KeyFamily:
    """The versions of one kind of key and which one is primary."""

    name: str
    primary: int
    versions: Mapping[int, KeyVersion]
    retired: Mapping[int, RetiredVersion] = field(default_factory=dict)

    @property
    def highest_version(self) -> int:
        """The largest version number ever used, live or retired (numbers are never reused)."""
        return max([*self.versions, *self.retired])

    @property
    def primary_key(self) -> SecretKey:
        return self.versions[self.primary].key

    def key(self, version: int) -> SecretKey:
        try:
            return self.versions[version].key
        except KeyError:
            raise KeyringError(f"the keyring has no {self.name} key version {version}") from None


@dataclass(frozen=True, slots=True)
class Keyring:
    """Every root key the vault holds, as loaded from one keyring file."""

    path: Path | None
    families: Mapping[str, KeyFamily]

    @property
    def kek(self) -> KeyFamily:
        return self.families["kek"]

    @property
    def index(self) -> KeyFamily:
        return self.families["index"]

    @property
    def pseudonym_key(self) -> SecretKey:
        return self.families["pseudonym"].primary_key

    @property
    def audit_signing_seed(self) -> SecretKey:
        return self.families["audit"].primary_key

    # --- lifecycle (backup family) begin
    @property
    def backup(self) -> KeyFamily:
        """Keys of backup archives and erasure tombstones; refuses a keyring without them."""
        family = self.families.get("backup")
        if family is None:
            raise KeyringError(
                f"the keyring {self.path or ''} has no [backup] key (it predates backups): "
                "run `customer-vault init` to add one; every existing key is kept"
            )
        return family

    # --- lifecycle (backup family) end

    def __repr__(self) -> str:
        return f"Keyring(path={self.path!s}, families={sorted(self.families)})"


class KeyProvider(Protocol):
    """Wraps and unwraps data keys under a versioned key-encryption key."""

    def primary_kek_version(self) -> int: ...

    def wrap(self, dek: SecretKey, aad: bytes) -> tuple[int, bytes]:
        """Seal ``dek`` under the primary KEK; returns (kek_version, wrapped)."""
        ...

    def unwrap(self, kek_version: int, wrapped: bytes, aad: bytes) -> SecretKey: ...


class FileKeyProvider:
    """KEKs held in process memory, loaded from the keyring file."""

    def __init__(self, kek: KeyFamily) -> None:
        self._primary = kek.primary
        self._aeads = {v: Aead(kv.key) for v, kv in kek.versions.items()}

    def primary_kek_version(self) -> int:
        return self._primary

    def wrap(self, dek: SecretKey, aad: bytes) -> tuple[int, bytes]:
        return self._primary, self._aeads[self._primary].seal(dek.reveal(), aad)

    def unwrap(self, kek_version: int, wrapped: bytes, aad: bytes) -> SecretKey:
        aead = self._aeads.get(kek_version)
        if aead is None:
            raise KeyringError(f"no KEK version {kek_version} in the keyring")
        try:
            return SecretKey(aead.open(wrapped, aad))
        except ValueError:  # authentic but not a key: cannot happen unless forged
            raise IntegrityError("decryption failed: the ciphertext is not authentic") from None

    def __repr__(self) -> str:
        return f"FileKeyProvider(versions={sorted(self._aeads)}, primary={self._primary})"


# --------------------------------------------------------------------------- file format


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def new_keyring_document(now: dt.datetime | None = None) -> dict[str, Any]:
    """A fresh keyring: one version of every family, from the OS CSPRNG."""
    created = now or _now()
    doc: dict[str, Any] = {"format": FORMAT}
    for family in FAMILIES:
        doc[family] = {
            "primary": 1,
            "versions": {"1": {"key": _b64(SecretKey.generate()), "created_at": created}},
        }
    return doc


# --- lifecycle (backup family) begin
def add_missing_families(document: dict[str, Any], now: dt.datetime | None = None) -> list[str]:
    """Give an older keyring document the families it lacks (fresh keys); returns their names.

    Existing families are never touched, so upgrading a keyring cannot lose a key.
    """
    created = now or _now()
    added = []
    for family in FAMILIES:
        if family not in document:
            document[family] = {
                "primary": 1,
                "versions": {"1": {"key": _b64(SecretKey.generate()), "created_at": created}},
            }
            added.append(family)
    return added


# --- lifecycle (backup family) end


def _b64(key: SecretKey) -> str:
    return base64.b64encode(key.reveal()).decode("ascii")


def write_keyring(path: Path, document: Mapping[str, Any], *, overwrite: bool = False) -> None:
    """Write a keyring file with mode 0600, atomically; never clobbers one by accident."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    if path.exists() and not overwrite:
        raise KeyringError(f"{path} already exists; refusing to overwrite a keyring")
    header = (
        "# Customer Data Vault keyring. Secret: keep it mode 0600, back it up offline,\n"
        "# never commit it. Format documented in keys.example.\n"
    )
    data = header + tomli_w.dumps(dict(document))
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # atomic, and fails if a keyring appeared meanwhile
            except FileExistsError:
                raise KeyringError(
                    f"{path} already exists; refusing to overwrite a keyring"
                ) from None
            finally:
                tmp.unlink(missing_ok=True)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def create_keyring(path: Path, now: dt.datetime | None = None) -> Keyring:
    """``customer-vault init``: a new keyring file, loaded back to prove it is usable."""
    write_keyring(path, new_keyring_document(now))
    return load_keyring(path)


def read_keyring_document(path: Path) -> dict[str, Any]:
    """The parsed file after the permission check, for tools that edit the keyring."""
    _check_file(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        raise KeyringError(f"{path} is not a valid keyring file (TOML)") from None


def load_keyring(path: Path) -> Keyring:
    """Load and check a keyring file; refuses anything that should not be trusted."""
    return parse_keyring(read_keyring_document(path), path)


def _check_file(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyringError(
            f"no keyring at {path}: run `customer-vault init` or set VAULT_KEYS / --keys"
        ) from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyringError(f"{path} is not a regular file")
    if os.name == "posix" and st.st_mode & 0o077:
        raise KeyringError(
            f"{path} is readable or writable by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):04o}); run `chmod 600 {path}`"
        )


def parse_keyring(doc: Mapping[str, Any], path: Path | None = None) -> Keyring:
    where = str(path) if path else "the keyring"
    if doc.get("format") != FORMAT:
        raise KeyringError(f"{where}: unknown keyring format (expected format = {FORMAT!r})")
    families: dict[str, KeyFamily] = {}
    seen: set[SecretKey] = set()
    for name in FAMILIES:
        section = doc.get(name)
        if section is None and name in OPTIONAL_FAMILIES:
            continue
        if not isinstance(section, Mapping):
            raise KeyringError(f"{where}: missing [{name}] section")
        family = _parse_family(name, section, where)
        for kv in family.versions.values():
            if kv.key in seen:
                raise KeyringError(f"{where}: the same key is used twice; every key must differ")
            seen.add(kv.key)
        families[name] = family
    return Keyring(path=path, families=families)


def _parse_family(name: str, section: Mapping[str, Any], where: str) -> KeyFamily:
    versions_doc = section.get("versions")
    if not isinstance(versions_doc, Mapping) or not versions_doc:
        raise KeyringError(f"{where}: [{name}] has no versions")
    versions: dict[int, KeyVersion] = {}
    for version, entry in _numbered(name, "versions", versions_doc, where):
        key = _parse_key(entry.get("key"), f"{name} version {version}", where)
        created = _parse_time(entry, "created_at", f"{name} version {version}", where)
        versions[version] = KeyVersion(version=version, key=key, created_at=created)
    retired: dict[int, RetiredVersion] = {}
    retired_doc = section.get("retired", {})
    if not isinstance(retired_doc, Mapping):
        raise KeyringError(f"{where}: [{name}.retired] is not a table")
    for version, entry in _numbered(name, "retired", retired_doc, where):
        label = f"retired {name} version {version}"
        if version in versions:
            raise KeyringError(f"{where}: {name} version {version} is both live and retired")
        if "key" in entry:
            raise KeyringError(f"{where}: {label} still holds key material; remove it")
        public_key = None
        if entry.get("public_key") is not None:
            public_key = _decode_b64(entry["public_key"], label, where, size=32)
        retired[version] = RetiredVersion(
            version=version,
            created_at=_parse_time(entry, "created_at", label, where),
            retired_at=_parse_time(entry, "retired_at", label, where),
            public_key=public_key,
        )
    primary = section.get("primary")
    if not isinstance(primary, int) or primary not in versions:
        raise KeyringError(f"{where}: [{name}] primary must name one of its live versions")
    return KeyFamily(name=name, primary=primary, versions=versions, retired=retired)


def _numbered(
    name: str, part: str, table: Mapping[str, Any], where: str
) -> list[tuple[int, Mapping[str, Any]]]:
    entries: list[tuple[int, Mapping[str, Any]]] = []
    for raw_version, entry in table.items():
        try:
            version = int(raw_version)
        except ValueError:
            raise KeyringError(
                f"{where}: [{name}.{part}] version {raw_version!r} is not a number"
            ) from None
        if version < 1:
            raise KeyringError(f"{where}: [{name}.{part}] version {version} must be 1 or more")
        if not isinstance(entry, Mapping):
            raise KeyringError(f"{where}: [{name}.{part}.{version}] is not a table")
        entries.append((version, entry))
    return entries


def _parse_time(entry: Mapping[str, Any], key: str, label: str, where: str) -> dt.datetime:
    moment = entry.get(key)
    if not isinstance(moment, dt.datetime):
        raise KeyringError(f"{where}: {label} needs a {key} date-time")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _decode_b64(value: object, label: str, where: str, *, size: int) -> bytes:
    raw = b""
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
    if len(raw) != size:
        raise KeyringError(f"{where}: {label} is not {size} bytes of base64")
    return raw


def _parse_key(value: object, label: str, where: str) -> SecretKey:
    if not isinstance(value, str):
        raise KeyringError(f"{where}: {label} has no key")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise KeyringError(
            f"{where}: {label} is a placeholder or not {KEY_BYTES} bytes of base64; "
            "the keys in keys.example are not keys: run `customer-vault init` to create a keyring"
        )
    if len(set(raw)) < 8:
        raise KeyringError(f"{where}: {label} is not random (too few distinct bytes)")
    return SecretKey(raw)
