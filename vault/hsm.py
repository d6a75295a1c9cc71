"""KEKs inside a PKCS#11 token (an HSM, or SoftHSM2 in tests); data keys are wrapped there.

This is the only module that imports ``pkcs11`` (python-pkcs11).  It answers the
:class:`~vault.keyring.KeyProvider` protocol, so the rest of the vault cannot tell
it from the file provider.

**The KEKs.**  Each KEK version is an AES-256 secret key object generated *inside*
the token (``CKM_AES_KEY_GEN``), stored on it, private, ``CKA_EXTRACTABLE=false``,
``CKA_SENSITIVE=true``, not modifiable or copyable, usable for encrypt and decrypt
only.  Its value never leaves the token: not to this process, not wrapped under
another key.  The keyring file names it by its label (``cdv-kek-<random>-v<N>``; the
random part keeps two vaults sharing one token apart).

**Wrapping.**  A DEK is wrapped with ``C_Encrypt`` under ``CKM_AES_GCM`` with a fresh
random 96-bit IV from the OS CSPRNG, a 128-bit tag, and the envelope's associated data
(subject, DEK version, KEK version) as the GCM AAD.  The stored form is
``iv || ciphertext || tag``, the same layout the file provider writes.  We chose GCM
over ``CKM_AES_KEY_WRAP_KWP`` because KWP has no associated data: binding a wrapped
DEK to its customer would need a second mechanism, and KWP wraps key *objects*, so
the DEK would have to be imported into the token first anyway.  Every failure to
unwrap (wrong AAD, another subject's DEK, a flipped bit, a truncated blob) raises the
one :class:`~vault.errors.IntegrityError`.

**What leaves the token.**  Envelope encryption needs the DEK in this process to
seal and open field values (sealing every field inside the token would cost a token
round trip per field).  So the DEK plaintext crosses the PKCS#11 boundary twice, and
only then: into ``C_Encrypt`` when it is wrapped, out of ``C_Decrypt`` when it is
unwrapped.  The KEKs never do.  Someone who steals the database and the keyring file
without the token (and its PIN) can unwrap nothing.

**Sessions.**  PKCS#11 logs in per application, not per session, and python-pkcs11
initialises the module without locking callbacks, which by the standard means the
application must not call into it from two threads at once.  So each process keeps
one logged-in session per token, shared by every provider on that token, and one
lock per module around every call into it; the API's worker threads queue on it (an
unwrap costs 0.1-0.2 ms on SoftHSM2).  After a ``fork`` the child re-initialises the
module and logs in again with the PIN the provider holds (masked in every ``repr``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pkcs11
from pkcs11 import Attribute, DecryptMixin, EncryptMixin, KeyType, Mechanism, MechanismFlag
from pkcs11.exceptions import (
    DeviceError,
    DeviceMemory,
    DeviceRemoved,
    HostMemory,
    KeyHandleInvalid,
    MultipleObjectsReturned,
    MultipleTokensReturned,
    NoSuchKey,
    NoSuchToken,
    PinIncorrect,
    PinInvalid,
    PinLenRange,
    PinLocked,
    PKCS11Error,
    SessionClosed,
    SessionHandleInvalid,
    TokenNotPresent,
    UserAlreadyLoggedIn,
    UserNotLoggedIn,
)
from pkcs11.mechanisms import GCMParams

if TYPE_CHECKING:
    from pkcs11._pkcs11 import lib as Pkcs11Lib

from vault.crypto import KEY_BYTES, NONCE_BYTES, TAG_BYTES, SecretKey
from vault.errors import IntegrityError, KeyringError, KeyStoreUnavailable
from vault.keyring import Pkcs11Config, TokenKekFamily, TokenKeyVersion, create_keyring

TAG_BITS = TAG_BYTES * 8
WRAPPED_BYTES = NONCE_BYTES + KEY_BYTES + TAG_BYTES
"""A wrapped DEK: 12-byte IV, 32-byte ciphertext, 16-byte tag."""

_NOT_AUTHENTIC = "decryption failed: the ciphertext is not authentic"
_TOKEN_FAILURES = (
    DeviceError,
    DeviceMemory,
    DeviceRemoved,
    HostMemory,
    KeyHandleInvalid,
    SessionClosed,
    SessionHandleInvalid,
    TokenNotPresent,
    UserNotLoggedIn,
)
"""Errors that say the token or session failed, not the ciphertext."""


def new_kek_label(version: int) -> str:
    """A token label for a new KEK version; random so vaults sharing a token never collide."""
    return f"cdv-kek-{secrets.token_hex(4)}-v{version}"


# ----------------------------------------------------------------------- token sessions


class _Pin:
    """The user PIN, kept to log in again after a fork; never shown."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def digest(self) -> bytes:
        return hashlib.sha256(b"cdv:pin\x00" + self._value.encode()).digest()

    def __repr__(self) -> str:
        return "Pin(***)"

    __str__ = __repr__


@dataclass
class _Connection:
    """One process's logged-in session on one token, shared by every provider using it."""

    session: pkcs11.Session
    pin_digest: bytes
    pid: int
    users: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    """The module's lock (see ``_module_locks``)."""
    keys: dict[str, pkcs11.SecretKey] = field(default_factory=dict)


_registry_lock = threading.Lock()
_connections: dict[tuple[str, str], _Connection] = {}
_module_locks: dict[str, threading.Lock] = {}
"""One lock per loaded module: every call into it, on any of its tokens, is serialised."""
_initialised_in: dict[str, int] = {}
_fork_hook_installed = False


def _after_fork_in_child() -> None:
    """The parent's sessions and locks mean nothing in a child: start afresh there."""
    global _registry_lock
    _registry_lock = threading.Lock()
    _connections.clear()
    _module_locks.clear()


def _load_module(path: Path) -> Pkcs11Lib:
    global _fork_hook_installed
    if not _fork_hook_installed:
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _fork_hook_installed = True
    if not path.is_file():
        raise KeyringError(f"no PKCS#11 module at {path}: check [kek] module in the keyring")
    so = str(path.resolve())  # one module under two names must still be loaded once
    try:
        lib = pkcs11.lib(so)
        if _initialised_in.get(so, os.getpid()) != os.getpid():
            lib.reinitialize()  # a forked child: the parent's module state is not ours
    except PKCS11Error:
        raise KeyringError(f"{path} could not be loaded as a PKCS#11 module") from None
    _initialised_in[so] = os.getpid()
    return lib


def _login(config: Pkcs11Config, pin: _Pin) -> pkcs11.Session:
    lib = _load_module(config.module)
    try:
        token = lib.get_token(token_label=config.token_label)
    except NoSuchToken:
        raise KeyringError(
            f"no PKCS#11 token labelled {config.token_label!r} in {config.module}"
        ) from None
    except MultipleTokensReturned:
        raise KeyringError(
            f"more than one PKCS#11 token is labelled {config.token_label!r}"
        ) from None
    except PKCS11Error as exc:
        raise KeyStoreUnavailable(f"the PKCS#11 module failed ({type(exc).__name__})") from None
    try:
        return token.open(rw=True, user_pin=pin.reveal())
    except (PinIncorrect, PinInvalid, PinLenRange):
        raise KeyringError(
            f"the token {config.token_label!r} refused the PIN in {config.pin_env}"
        ) from None
    except PinLocked:
        raise KeyringError(f"the token {config.token_label!r} has locked its user PIN") from None
    except UserAlreadyLoggedIn:  # logged in outside the vault's sessions: not ours to share
        raise KeyringError(
            f"another session of this process is already logged in to {config.token_label!r}"
        ) from None
    except PKCS11Error as exc:
        raise KeyStoreUnavailable(
            f"could not open a session on {config.token_label!r} ({type(exc).__name__})"
        ) from None


def _acquire(config: Pkcs11Config, pin: _Pin) -> _Connection:
    """The process's session on this token, logging in if there is none yet."""
    so = str(config.module.resolve())
    slot = (so, config.token_label)
    with _registry_lock:
        conn = _connections.get(slot)
        if conn is not None and conn.pid != os.getpid():
            conn = None
        if conn is None:
            lock = _module_locks.setdefault(so, threading.Lock())
            with lock:
                session = _login(config, pin)
            conn = _Connection(session, pin.digest(), os.getpid(), lock=lock)
            _connections[slot] = conn
        elif not hmac.compare_digest(conn.pin_digest, pin.digest()):
            # The token checked the PIN this session logged in with; another is wrong.
            raise KeyringError(
                f"the token {config.token_label!r} refused the PIN in {config.pin_env}"
            )
        conn.users += 1
        return conn


def _release(config: Pkcs11Config, conn: _Connection) -> None:
    slot = (str(config.module.resolve()), config.token_label)
    with _registry_lock:
        conn.users -= 1
        if conn.users > 0 or conn.pid != os.getpid():
            return
        if _connections.get(slot) is conn:
            del _connections[slot]
        with conn.lock:
            conn.keys.clear()
            with contextlib.suppress(PKCS11Error):  # a token already gone has nothing to close
                conn.session.close()  # logs out: no session of ours is left on the token


def _find_key(conn: _Connection, config: Pkcs11Config, label: str) -> pkcs11.SecretKey:
    """The KEK object with this label (caller holds ``conn.lock``)."""
    key = conn.keys.get(label)
    if key is not None:
        return key
    try:
        found = conn.session.get_key(object_class=pkcs11.ObjectClass.SECRET_KEY, label=label)
    except NoSuchKey:
        raise KeyringError(
            f"the token {config.token_label!r} has no key labelled {label!r}"
        ) from None
    except MultipleObjectsReturned:
        raise KeyringError(
            f"the token {config.token_label!r} has two keys labelled {label!r}"
        ) from None
    except PKCS11Error as exc:
        raise KeyStoreUnavailable(
            f"the HSM could not look up {label!r} ({type(exc).__name__})"
        ) from None
    if not isinstance(found, pkcs11.SecretKey):
        raise KeyringError(f"{label!r} in the token is not a secret key")
    try:
        _check_kek(found, label)
    except PKCS11Error as exc:
        raise KeyStoreUnavailable(
            f"the HSM could not read the attributes of {label!r} ({type(exc).__name__})"
        ) from None
    conn.keys[label] = found
    return found


def _check_kek(key: pkcs11.SecretKey, label: str) -> None:
    """Refuse a KEK someone made by hand that the token would let out."""
    if key.key_type != KeyType.AES or key[Attribute.VALUE_LEN] != KEY_BYTES:
        raise KeyringError(f"the token key {label!r} is not an AES-256 key")
    if key[Attribute.EXTRACTABLE] or not key[Attribute.SENSITIVE]:
        raise KeyringError(
            f"the token key {label!r} is extractable or not sensitive; the vault only uses "
            "KEKs that cannot leave the token"
        )


def _generate_kek(conn: _Connection, label: str) -> None:
    """A new AES-256 KEK inside the token; its value can never be read out (caller locks)."""
    try:
        conn.session.get_key(label=label)
    except NoSuchKey:
        pass
    else:
        raise KeyringError(f"the token already has a key labelled {label!r}")
    conn.session.generate_key(
        KeyType.AES,
        KEY_BYTES * 8,
        label=label,
        id=secrets.token_bytes(16),
        store=True,
        capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
        template={
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.MODIFIABLE: False,
            Attribute.COPYABLE: False,
            Attribute.WRAP: False,
            Attribute.UNWRAP: False,
            Attribute.SIGN: False,
            Attribute.VERIFY: False,
            Attribute.DERIVE: False,
        },
    )


# ----------------------------------------------------------------------------- provider


class Pkcs11KeyProvider:
    """KEKs in a PKCS#11 token: wraps and unwraps DEKs there with AES-GCM.

    Opening logs in and finds every KEK version the keyring names, so a wrong PIN,
    a missing token or a missing key label is reported at start-up, not on the first
    request.  Thread-safe; usable again in a forked child.  :meth:`close` when done.
    """

    def __init__(self, family: TokenKekFamily, pin: str) -> None:
        self._config = family.config
        self._pin = _Pin(pin)
        self._primary = family.primary
        self._labels = {v: kv.label for v, kv in family.versions.items()}
        self._pid = os.getpid()
        self._closed = False
        self._conn = _acquire(self._config, self._pin)
        try:
            with self._conn.lock:
                for label in self._labels.values():
                    _find_key(self._conn, self._config, label)
        except BaseException:
            _release(self._config, self._conn)
            raise

    # -- KeyProvider

    def primary_kek_version(self) -> int:
        return self._primary

    def wrap(self, dek: SecretKey, aad: bytes) -> tuple[int, bytes]:
        iv = secrets.token_bytes(NONCE_BYTES)
        params = GCMParams(iv, aad, TAG_BITS)
        conn = self._connection()
        try:
            with conn.lock:
                key = _find_key(conn, self._config, self._labels[self._primary])
                sealed = cast(EncryptMixin, key).encrypt(
                    dek.reveal(), mechanism=Mechanism.AES_GCM, mechanism_param=params
                )
        except PKCS11Error as exc:
            raise KeyStoreUnavailable(
                f"the HSM could not wrap a key ({type(exc).__name__})"
            ) from None
        if not isinstance(sealed, bytes):  # pragma: no cover - bytes in, bytes out
            raise KeyStoreUnavailable("the HSM returned no ciphertext")
        return self._primary, iv + sealed

    def unwrap(self, kek_version: int, wrapped: bytes, aad: bytes) -> SecretKey:
        label = self._labels.get(kek_version)
        if label is None:
            raise KeyringError(f"no KEK version {kek_version} in the keyring")
        if len(wrapped) != WRAPPED_BYTES:
            raise IntegrityError(_NOT_AUTHENTIC)
        params = GCMParams(wrapped[:NONCE_BYTES], aad, TAG_BITS)
        conn = self._connection()
        with conn.lock:
            key = _find_key(conn, self._config, label)
            try:
                plain = cast(DecryptMixin, key).decrypt(
                    wrapped[NONCE_BYTES:], mechanism=Mechanism.AES_GCM, mechanism_param=params
                )
            except _TOKEN_FAILURES as exc:
                raise KeyStoreUnavailable(
                    f"the HSM could not unwrap a key ({type(exc).__name__})"
                ) from None
            except PKCS11Error:
                # Tokens report a failed tag check variously (SoftHSM2: CKR_GENERAL_ERROR,
                # others CKR_ENCRYPTED_DATA_INVALID): anything else means the blob failed.
                raise IntegrityError(_NOT_AUTHENTIC) from None
        if not isinstance(plain, bytes) or len(plain) != KEY_BYTES:
            raise IntegrityError(_NOT_AUTHENTIC)
        return SecretKey(plain)

    # -- lifecycle

    def create_kek_version(self, version: int, now: dt.datetime | None = None) -> TokenKeyVersion:
        """Generate KEK ``version`` in the token (non-extractable) and make it usable to unwrap.

        For rotation: the caller records the returned label in the keyring file and
        makes the version primary when every process can use it.
        """
        if version in self._labels:
            raise KeyringError(f"KEK version {version} already exists")
        label = new_kek_label(version)
        conn = self._connection()
        with conn.lock:
            try:
                _generate_kek(conn, label)
            except PKCS11Error as exc:
                raise KeyStoreUnavailable(
                    f"the HSM could not generate a key ({type(exc).__name__})"
                ) from None
            _find_key(conn, self._config, label)
        self._labels[version] = label
        return TokenKeyVersion(version, label, now or _now())

    def destroy_kek_version(self, version: int) -> None:
        """Destroy KEK ``version`` in the token (retirement: nothing is wrapped under it).

        The keyring file must already have stopped naming it, or the next start-up
        would look for a key that no longer exists.
        """
        label = self._labels.get(version)
        if label is None:
            raise KeyringError(f"no KEK version {version} in the token")
        if version == self._primary:
            raise KeyringError(f"KEK version {version} is primary")
        conn = self._connection()
        with conn.lock:
            key = _find_key(conn, self._config, label)
            try:
                key.destroy()
            except PKCS11Error as exc:
                raise KeyStoreUnavailable(
                    f"the HSM could not destroy a key ({type(exc).__name__})"
                ) from None
        del self._labels[version]

    def key_label(self, version: int) -> str:
        """The token label of KEK ``version`` (for status reports; labels are not secret)."""
        try:
            return self._labels[version]
        except KeyError:
            raise KeyringError(f"no KEK version {version} in the keyring") from None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _release(self._config, self._conn)

    def _connection(self) -> _Connection:
        if self._closed:
            raise KeyStoreUnavailable("the HSM key provider is closed")
        if self._pid != os.getpid():  # forked: log in again in this process
            self._conn = _acquire(self._config, self._pin)
            self._pid = os.getpid()
        return self._conn

    def __repr__(self) -> str:
        return (
            f"Pkcs11KeyProvider(token={self._config.token_label!r}, "
            f"versions={sorted(self._labels)}, primary={self._primary}, pin=***)"
        )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def open_provider(
    family: TokenKekFamily, env: Mapping[str, str] | None = None
) -> Pkcs11KeyProvider:
    """The provider for a keyring whose KEKs are in a token; the PIN from ``pin_env``."""
    return Pkcs11KeyProvider(family, family.config.pin(env))


def create_hsm_keyring(
    path: Path,
    config: Pkcs11Config,
    env: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
) -> None:
    """``customer-vault init --hsm-module``: KEK v1 generated in the token, the rest in the file.

    The key is generated before the file is written; if the file cannot be written
    (another keyring appeared), the new key is destroyed again so nothing is orphaned.
    """
    if path.exists():
        raise KeyringError(f"{path} already exists; refusing to overwrite a keyring")
    created = now or _now()
    pin = _Pin(config.pin(env))
    label = new_kek_label(1)
    conn = _acquire(config, pin)
    try:
        with conn.lock:
            try:
                _generate_kek(conn, label)
            except PKCS11Error as exc:
                raise KeyStoreUnavailable(
                    f"the HSM could not generate a key ({type(exc).__name__})"
                ) from None
        family = TokenKekFamily(config, 1, {1: TokenKeyVersion(1, label, created)})
        try:
            create_keyring(path, created, kek_token=family)
        except BaseException:
            with conn.lock:
                conn.keys.pop(label, None)
                conn.session.get_key(label=label).destroy()
            raise
    finally:
        _release(config, conn)
