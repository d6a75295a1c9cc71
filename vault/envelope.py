"""Envelope encryption: one data key (DEK) per subject, stored wrapped by a KEK.

Each customer (and each employee) gets its own random 256-bit DEK.  Field
values are sealed under the DEK (:mod:`vault.sealing`); the DEK itself is
stored only wrapped by a key-encryption key from the :class:`~vault.keyring.KeyProvider`.
That split is what makes the lifecycle cheap:

* erasure destroys one wrapped DEK and every ciphertext of that subject is noise;
* KEK rotation re-wraps DEKs (a few bytes each) and never touches field data.

The wrap is bound by associated data to the subject, the DEK version and the
KEK version, so a wrapped DEK copied to another subject does not unwrap.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from vault.crypto import Aead, SecretKey
from vault.keyring import KeyProvider


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A DEK as stored: wrapped, with the versions needed to unwrap it."""

    subject_id: uuid.UUID
    version: int
    kek_version: int
    wrapped: bytes


@dataclass(frozen=True, slots=True)
class DataKey:
    """An unwrapped DEK, ready to seal and open one subject's fields."""

    subject_id: uuid.UUID
    version: int
    aead: Aead

    def __repr__(self) -> str:
        return f"DataKey(subject_id={self.subject_id}, version={self.version}, key=***)"


def wrap_aad(subject_id: uuid.UUID, version: int, kek_version: int) -> bytes:
    return b"cdv:dek:v1\x00%s\x00%d\x00%d" % (str(subject_id).encode(), version, kek_version)


def new_data_key(provider: KeyProvider, subject_id: uuid.UUID) -> tuple[DataKey, WrappedKey]:
    """A fresh DEK for a new subject, and its wrapped form to store."""
    version = 1
    dek = SecretKey.generate()
    kek_version = provider.primary_kek_version()
    used, wrapped = provider.wrap(dek, wrap_aad(subject_id, version, kek_version))
    if used != kek_version:  # the provider rotated between the two calls: bind to what it used
        used, wrapped = provider.wrap(dek, wrap_aad(subject_id, version, used))
    return (
        DataKey(subject_id=subject_id, version=version, aead=Aead(dek)),
        WrappedKey(subject_id=subject_id, version=version, kek_version=used, wrapped=wrapped),
    )


def open_data_key(provider: KeyProvider, stored: WrappedKey) -> DataKey:
    """Unwrap a stored DEK; raises IntegrityError if it was tampered with or moved."""
    dek = provider.unwrap(
        stored.kek_version,
        stored.wrapped,
        wrap_aad(stored.subject_id, stored.version, stored.kek_version),
    )
    return DataKey(subject_id=stored.subject_id, version=stored.version, aead=Aead(dek))


def rewrap(provider: KeyProvider, stored: WrappedKey) -> WrappedKey:
    """The same DEK wrapped under the provider's primary KEK (KEK rotation; no field changes)."""
    dek = provider.unwrap(
        stored.kek_version,
        stored.wrapped,
        wrap_aad(stored.subject_id, stored.version, stored.kek_version),
    )
    kek_version = provider.primary_kek_version()
    used, wrapped = provider.wrap(dek, wrap_aad(stored.subject_id, stored.version, kek_version))
    if used != kek_version:  # the primary moved between the two calls: bind to what was used
        used, wrapped = provider.wrap(dek, wrap_aad(stored.subject_id, stored.version, used))
    return WrappedKey(stored.subject_id, stored.version, used, wrapped)
