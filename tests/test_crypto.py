"""The crypto core: AES-256-GCM with associated data, keyed hashes, key hygiene."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.crypto import NONCE_BYTES, Aead, SecretKey, derive_key, keyed_hash
from vault.errors import IntegrityError


@given(plaintext=st.binary(max_size=4096), aad=st.binary(max_size=256))
def test_sealed_bytes_open_to_the_original(plaintext: bytes, aad: bytes) -> None:
    aead = Aead(SecretKey.generate())
    assert aead.open(aead.seal(plaintext, aad), aad) == plaintext


@given(plaintext=st.binary(min_size=1, max_size=512), aad=st.binary(max_size=64))
def test_any_flipped_bit_fails_to_open(plaintext: bytes, aad: bytes) -> None:
    aead = Aead(SecretKey.generate())
    sealed = bytearray(aead.seal(plaintext, aad))
    for position in (0, NONCE_BYTES, len(sealed) - 1):
        tampered = bytearray(sealed)
        tampered[position] ^= 0x01
        with pytest.raises(IntegrityError):
            aead.open(bytes(tampered), aad)


def test_other_associated_data_fails_to_open() -> None:
    aead = Aead(SecretKey.generate())
    sealed = aead.seal(b"13812345678", b"customers/mobile/1")
    with pytest.raises(IntegrityError, match="not authentic"):
        aead.open(sealed, b"customers/mobile/2")


def test_other_key_fails_to_open_with_the_same_message() -> None:
    sealed = Aead(SecretKey.generate()).seal(b"secret", b"")
    with pytest.raises(IntegrityError) as wrong_key:
        Aead(SecretKey.generate()).open(sealed, b"")
    with pytest.raises(IntegrityError) as truncated:
        Aead(SecretKey.generate()).open(sealed[:5], b"")
    assert str(wrong_key.value) == str(truncated.value)


def test_every_seal_uses_a_fresh_nonce() -> None:
    aead = Aead(SecretKey.generate())
    nonces = {aead.seal(b"same", b"same")[:NONCE_BYTES] for _ in range(1000)}
    assert len(nonces) == 1000


def test_secret_keys_never_show_their_bytes() -> None:
    key = SecretKey(bytes(range(32)))
    assert repr(key) == "SecretKey(***)"
    assert str(key) == "SecretKey(***)"
    assert bytes(range(32)).hex() not in repr(key)
    assert repr(Aead(key)) == "Aead(***)"
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_secret_keys_must_be_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SecretKey(b"short")


def test_keyed_hash_is_hmac_sha256_and_depends_on_the_key() -> None:
    key = SecretKey(bytes(32 * [7]))
    # RFC 2104 HMAC-SHA256, checked against the standard library independently.
    import hashlib
    import hmac

    assert keyed_hash(key, b"msg") == hmac.new(bytes(32 * [7]), b"msg", hashlib.sha256).digest()
    assert keyed_hash(SecretKey.generate(), b"msg") != keyed_hash(key, b"msg")


def test_derived_keys_differ_by_purpose_and_from_their_root() -> None:
    root = SecretKey.generate()
    a, b = derive_key(root, "a"), derive_key(root, "b")
    assert a != b
    assert root not in (a, b)
    assert derive_key(root, "a") == a


def test_signatures_verify_with_the_public_key_alone_and_fail_when_altered() -> None:
    from vault.crypto import Signer, signature_is_valid

    signer = Signer(SecretKey.generate())
    signature = signer.sign(b"checkpoint 42")
    assert signature_is_valid(signer.public_key(), signature, b"checkpoint 42")
    assert not signature_is_valid(signer.public_key(), signature, b"checkpoint 43")
    other = Signer(SecretKey.generate())
    assert not signature_is_valid(other.public_key(), signature, b"checkpoint 42")
    assert not signature_is_valid(b"short", signature, b"checkpoint 42")
    assert repr(signer) == "Signer(***)"
