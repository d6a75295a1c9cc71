"""The vault's only door to ``cryptography.hazmat``: authenticated encryption and keyed hashes.

The surface is deliberately tiny (in the spirit of pyca/cryptography's
``fernet.py``): an :class:`Aead` that seals and opens with associated data,
:func:`keyed_hash` for blind indexes and fingerprints, and :class:`SecretKey`
to carry key bytes around without ever printing them.  Callers never choose
nonces, algorithms or key sizes.

Every failure to open a ciphertext raises the same :class:`~vault.errors.IntegrityError`
with the same message, whatever the cause (wrong key, wrong associated data,
truncated or flipped bytes): the distinction would help an attacker more than
an operator.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from vault.errors import IntegrityError

KEY_BYTES = 32
"""AES-256 and HMAC-SHA256 keys are 32 bytes."""
NONCE_BYTES = 12
"""96-bit GCM nonces, fresh from the OS CSPRNG for every value."""
TAG_BYTES = 16
SEALED_OVERHEAD = NONCE_BYTES + TAG_BYTES


class SecretKey:
    """Key bytes that never show up in a ``repr``, a log line or a traceback's locals."""

    __slots__ = ("_material",)

    def __init__(self, material: bytes) -> None:
        if len(material) != KEY_BYTES:
            raise ValueError(f"a key is {KEY_BYTES} bytes, got {len(material)}")
        self._material = bytes(material)

    @classmethod
    def generate(cls) -> SecretKey:
        return cls(secrets.token_bytes(KEY_BYTES))

    def reveal(self) -> bytes:
        """The raw bytes, for the few places that must hand them to a primitive."""
        return self._material

    def __repr__(self) -> str:
        return "SecretKey(***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretKey):
            return NotImplemented
        return hmac.compare_digest(self._material, other._material)

    def __hash__(self) -> int:
        return hash(hashlib.sha256(b"cdv:key-identity\x00" + self._material).digest())

    def __reduce__(self) -> tuple[object, ...]:  # pragma: no cover - defensive
        raise TypeError("SecretKey cannot be pickled")


class Aead:
    """AES-256-GCM under one key: ``seal`` and ``open`` with associated data.

    A sealed value is ``nonce || ciphertext || tag``.  The associated data is
    not stored: the caller rebuilds it from where the value lives (table, field,
    record, key version), which is what makes a ciphertext moved elsewhere fail.
    """

    __slots__ = ("_aesgcm",)

    def __init__(self, key: SecretKey) -> None:
        self._aesgcm = AESGCM(key.reveal())

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aesgcm.encrypt(nonce, plaintext, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        if len(sealed) < SEALED_OVERHEAD:
            raise IntegrityError("decryption failed: the ciphertext is not authentic")
        try:
            return self._aesgcm.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
        except InvalidTag:
            raise IntegrityError("decryption failed: the ciphertext is not authentic") from None

    def __repr__(self) -> str:
        return "Aead(***)"


class ChunkedAead:
    """AES-256-GCM over a long stream cut into chunks: backups of any size, streamed.

    The construction is STREAM (Hoang, Reyhanitabar, Rogaway, Vizar 2015), as in
    age and Tink's streaming AEAD: a key unique to the stream is derived with
    HKDF-SHA256 from the long-term key and a random 256-bit salt stored in the
    stream's header; chunk *i* is sealed with nonce ``i || final`` and associated
    data naming the header digest, the index and the final flag.  So a chunk
    moved, dropped, duplicated, swapped or taken from another stream fails to
    open, and a stream cut after any chunk but the one sealed as final is
    recognisably incomplete.  Deterministic nonces are safe because the key is
    never used for another stream.
    """

    __slots__ = ("_aesgcm", "_context")

    MAX_CHUNKS = 2**64

    def __init__(self, key: SecretKey, salt: bytes, context: bytes) -> None:
        if len(salt) != 32:
            raise ValueError("a stream salt is 32 bytes")
        derived = HKDF(algorithm=SHA256(), length=KEY_BYTES, salt=salt, info=b"cdv:stream:v1")
        self._aesgcm = AESGCM(derived.derive(key.reveal()))
        self._context = b"cdv:stream:v1\x00" + context

    def _nonce_and_aad(self, index: int, final: bool) -> tuple[bytes, bytes]:
        if not 0 <= index < self.MAX_CHUNKS:
            raise ValueError("chunk index out of range")
        position = index.to_bytes(8, "big") + (b"\x01" if final else b"\x00")
        return b"\x00\x00\x00" + position, self._context + b"\x00" + position

    def seal(self, index: int, plaintext: bytes, *, final: bool) -> bytes:
        nonce, aad = self._nonce_and_aad(index, final)
        return self._aesgcm.encrypt(nonce, plaintext, aad)

    def open(self, index: int, sealed: bytes, *, final: bool) -> bytes:
        nonce, aad = self._nonce_and_aad(index, final)
        if len(sealed) < TAG_BYTES:
            raise IntegrityError("decryption failed: the ciphertext is not authentic")
        try:
            return self._aesgcm.decrypt(nonce, sealed, aad)
        except InvalidTag:
            raise IntegrityError("decryption failed: the ciphertext is not authentic") from None

    def __repr__(self) -> str:
        return "ChunkedAead(***)"


def keyed_hash(key: SecretKey, message: bytes) -> bytes:
    """HMAC-SHA256: blind indexes, import fingerprints, key-derived identifiers."""
    return hmac.digest(key.reveal(), message, "sha256")


def derive_key(key: SecretKey, purpose: str) -> SecretKey:
    """A subkey for one purpose, so one stored key never serves two roles directly."""
    return SecretKey(keyed_hash(key, b"cdv:derive\x00" + purpose.encode()))


def constant_time_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


class Signer:
    """Ed25519 signatures from a 32-byte seed (the keyring's ``audit`` key).

    Audit checkpoints are signed so that anyone holding only the public key can
    verify them outside the database.
    """

    __slots__ = ("_private",)

    def __init__(self, seed: SecretKey) -> None:
        self._private = Ed25519PrivateKey.from_private_bytes(seed.reveal())

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def public_key(self) -> bytes:
        """The raw 32-byte public key."""
        return self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def __repr__(self) -> str:
        return "Signer(***)"


def signature_is_valid(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Verify an Ed25519 signature with a raw 32-byte public key; never raises."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
