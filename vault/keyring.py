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
keeps the KEKs in this process (the embedded default); :class:`vault.hsm.Pkcs11KeyProvider`
keeps them in a PKCS#11 token and answers the same protocol.  In that mode the file's
``[kek]`` section names the module, the token and the environment variable holding the
PIN, and each KEK version only by its label in the token (:class:`TokenKekFamily`): no
KEK material is in the file.  Loading refuses a key file that others can read, a file
still holding the example's placeholders, and malformed or reused keys, each with a
message that says what to do.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import re
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


# ----------------------------------------------------------------- KEKs held in an HSM


PKCS11_PROVIDER = "pkcs11"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Pkcs11Config:
    """Where the KEKs live when they live in a PKCS#11 token.

    The PIN is never in the keyring file: ``pin_env`` names the environment variable
    that holds it, read when the vault opens the token.
    """

    module: Path
    token_label: str
    pin_env: str

    def pin(self, env: Mapping[str, str] | None = None) -> str:
        value = (os.environ if env is None else env).get(self.pin_env, "")
        if not value:
            raise KeyringError(
                f"the KEKs are in the PKCS#11 token {self.token_label!r}: set {self.pin_env} "
                "to the token's user PIN"
            )
        return value


@dataclass(frozen=True, slots=True)
class TokenKeyVersion:
    """A KEK version inside the token, known to the file only by its label."""

    version: int
    label: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class TokenKekFamily:
    """The ``[kek]`` family when ``provider = "pkcs11"``: labels, not keys."""

    config: Pkcs11Config
    primary: int
    versions: Mapping[int, TokenKeyVersion]
    retired: Mapping[int, RetiredVersion] = field(default_factory=dict)
    """Versions whose token key was destroyed once nothing used it."""


def token_kek_section(family: TokenKekFamily) -> dict[str, Any]:
    """The ``[kek]`` table of a keyring file for KEKs held in a token."""
    return {
        "provider": PKCS11_PROVIDER,
        "module": str(family.config.module),
        "token_label": family.config.token_label,
        "pin_env": family.config.pin_env,
        "primary": family.primary,
        "versions": {
            str(v.version): {"label": v.label, "created_at": v.created_at}
            for v in family.versions.values()
        },
        **(
            {
                "retired": {
                    str(r.version): {"created_at": r.created_at, "retired_at": r.retired_at}
                    for r in family.retired.values()
                }
            }
            if family.retired
            else {}
        ),
    }


@dataclass(frozen=True, slots=True)
class Keyring:
    """Every root key the vault holds, as loaded from one keyring file.

    With KEKs in an HSM, ``families`` has no ``kek`` entry and ``kek_token`` says
    where they are; otherwise ``kek_token`` is ``None``.
    """

    path: Path | None
    families: Mapping[str, KeyFamily]
    kek_token: TokenKekFamily | None = None

    @property
    def kek(self) -> KeyFamily:
        if self.kek_token is not None:
            raise KeyringError(
                f"the KEKs of this keyring are in the PKCS#11 token "
                f"{self.kek_token.config.token_label!r}, not in the file"
            )
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


def new_keyring_document(
    now: dt.datetime | None = None, kek_token: TokenKekFamily | None = None
) -> dict[str, Any]:
    """A fresh keyring: one version of every family, from the OS CSPRNG.

    With ``kek_token`` the KEK family is the token's (labels only): the caller has
    already generated KEK version 1 inside the token.
    """
    created = now or _now()
    doc: dict[str, Any] = {"format": FORMAT}
    for family in FAMILIES:
        if family == "kek" and kek_token is not None:
            doc[family] = token_kek_section(kek_token)
            continue
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


def create_keyring(
    path: Path, now: dt.datetime | None = None, kek_token: TokenKekFamily | None = None
) -> Keyring:
    """``customer-vault init``: a new keyring file, loaded back to prove it is usable."""
    write_keyring(path, new_keyring_document(now, kek_token))
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
    kek_token: TokenKekFamily | None = None
    seen: set[SecretKey] = set()
    for name in FAMILIES:
        section = doc.get(name)
        if section is None and name in OPTIONAL_FAMILIES:
            continue
        if not isinstance(section, Mapping):
            raise KeyringError(f"{where}: missing [{name}] section")
        if name == "kek" and _kek_provider(section, where) == PKCS11_PROVIDER:
            kek_token = _parse_token_family(section, where)
            continue
        family = _parse_family(name, section, where)
        for kv in family.versions.values():
            if kv.key in seen:
                raise KeyringError(f"{where}: the same key is used twice; every key must differ")
            seen.add(kv.key)
        families[name] = family
    return Keyring(path=path, families=families, kek_token=kek_token)


def _kek_provider(section: Mapping[str, Any], where: str) -> str:
    provider = section.get("provider", "file")
    if provider not in ("file", PKCS11_PROVIDER):
        raise KeyringError(
            f'{where}: [kek] provider must be "file" or "{PKCS11_PROVIDER}", not {provider!r}'
        )
    return str(provider)


def _parse_token_family(section: Mapping[str, Any], where: str) -> TokenKekFamily:
    """``[kek] provider = "pkcs11"``: module, token, PIN variable, and labelled versions."""
    if "pin" in section:
        raise KeyringError(
            f"{where}: [kek] holds a PIN; never store it in the keyring file: "
            "name an environment variable with pin_env instead"
        )
    texts: dict[str, str] = {}
    for item in ("module", "token_label", "pin_env"):
        value = section.get(item)
        if not isinstance(value, str) or not value.strip():
            raise KeyringError(f'{where}: [kek] with provider = "pkcs11" needs {item} = "..."')
        texts[item] = value.strip()
    if not _ENV_NAME.fullmatch(texts["pin_env"]):
        raise KeyringError(f"{where}: [kek] pin_env must be an environment variable name")
    config = Pkcs11Config(Path(texts["module"]), texts["token_label"], texts["pin_env"])
    versions_doc = section.get("versions")
    if not isinstance(versions_doc, Mapping) or not versions_doc:
        raise KeyringError(f"{where}: [kek] has no versions")
    versions: dict[int, TokenKeyVersion] = {}
    for raw_version, entry in versions_doc.items():
        version, created = _version_header("kek", raw_version, entry, where)
        if "key" in entry:
            raise KeyringError(
                f"{where}: kek version {version} has a key, but the KEKs live in the HSM; "
                'a version names its key in the token with label = "..." only'
            )
        label = entry.get("label")
        if not isinstance(label, str) or not label:
            raise KeyringError(f'{where}: kek version {version} needs label = "..." (token key)')
        versions[version] = TokenKeyVersion(version, label, created)
    if len({v.label for v in versions.values()}) != len(versions):
        raise KeyringError(f"{where}: two kek versions name the same token key label")
    primary = _primary(section, versions, "kek", where)
    retired = _parse_retired("kek", section, versions, where)
    return TokenKekFamily(config=config, primary=primary, versions=versions, retired=retired)


def _version_header(
    name: str, raw_version: object, entry: object, where: str
) -> tuple[int, dt.datetime]:
    """The checks every version entry shares: a number, a table, a created_at."""
    try:
        version = int(str(raw_version))
    except ValueError:
        raise KeyringError(f"{where}: [{name}] version {raw_version!r} is not a number") from None
    if not isinstance(entry, Mapping):
        raise KeyringError(f"{where}: [{name}.versions.{version}] is not a table")
    created = entry.get("created_at")
    if not isinstance(created, dt.datetime):
        raise KeyringError(f"{where}: {name} version {version} needs a created_at date-time")
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)
    return version, created


def _primary(
    section: Mapping[str, Any],
    versions: Mapping[int, KeyVersion | TokenKeyVersion],
    name: str,
    where: str,
) -> int:
    primary = section.get("primary")
    if not isinstance(primary, int) or primary not in versions:
        raise KeyringError(f"{where}: [{name}] primary must name one of its live versions")
    return primary


def _parse_family(name: str, section: Mapping[str, Any], where: str) -> KeyFamily:
    versions_doc = section.get("versions")
    if not isinstance(versions_doc, Mapping) or not versions_doc:
        raise KeyringError(f"{where}: [{name}] has no versions")
    versions: dict[int, KeyVersion] = {}
    for version, entry in _numbered(name, "versions", versions_doc, where):
        key = _parse_key(entry.get("key"), f"{name} version {version}", where)
        created = _parse_time(entry, "created_at", f"{name} version {version}", where)
        versions[version] = KeyVersion(version=version, key=key, created_at=created)
    retired = _parse_retired(name, section, versions, where)
    primary = section.get("primary")
    if not isinstance(primary, int) or primary not in versions:
        raise KeyringError(f"{where}: [{name}] primary must name one of its live versions")
    return KeyFamily(name=name, primary=primary, versions=versions, retired=retired)


def _parse_retired(
    name: str, section: Mapping[str, Any], versions: Mapping[int, object], where: str
) -> dict[int, RetiredVersion]:
    """``[family.retired.N]``: versions whose key material is gone, kept as records."""
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
    return retired


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
