"""The keyring file: created safely, refused when unsafe, never printed."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from vault.errors import KeyringError
from vault.keyring import create_keyring, load_keyring, read_keyring_document, write_keyring

REPO = Path(__file__).resolve().parent.parent


def test_init_writes_a_keyring_only_its_owner_can_read(tmp_path: Path) -> None:
    path = tmp_path / "k" / "keys.toml"
    keyring = create_keyring(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(keyring.families) == {"kek", "index", "pseudonym", "audit", "backup"}
    assert keyring.kek.primary == 1


def test_two_keyrings_never_share_a_key(tmp_path: Path) -> None:
    a = create_keyring(tmp_path / "a.toml")
    b = create_keyring(tmp_path / "b.toml")
    assert a.kek.primary_key != b.kek.primary_key
    assert a.index.primary_key != b.index.primary_key


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_a_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "keys.toml"
    create_keyring(path)
    os.chmod(path, mode)
    with pytest.raises(KeyringError, match=r"readable or writable by group or others.*chmod 600"):
        load_keyring(path)


def test_the_example_keyring_is_refused_as_placeholders(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    shutil.copy(REPO / "keys.example", path)
    os.chmod(path, 0o600)
    with pytest.raises(KeyringError, match=r"placeholder.*customer-vault init"):
        load_keyring(path)


def test_a_missing_keyring_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="customer-vault init"):
        load_keyring(tmp_path / "nope.toml")


def test_an_existing_keyring_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    first = create_keyring(path)
    with pytest.raises(KeyringError, match="refusing to overwrite"):
        create_keyring(path)
    assert load_keyring(path).kek.primary_key == first.kek.primary_key


def test_a_key_reused_across_families_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    create_keyring(path)
    doc = read_keyring_document(path)
    doc["index"]["versions"]["1"]["key"] = doc["kek"]["versions"]["1"]["key"]
    write_keyring(path, doc, overwrite=True)
    with pytest.raises(KeyringError, match="used twice"):
        load_keyring(path)


def test_a_low_entropy_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    create_keyring(path)
    doc = read_keyring_document(path)
    doc["kek"]["versions"]["1"]["key"] = "A" * 43 + "="
    write_keyring(path, doc, overwrite=True)
    with pytest.raises(KeyringError, match="not random"):
        load_keyring(path)


def test_primary_must_name_an_existing_version(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    create_keyring(path)
    doc = read_keyring_document(path)
    doc["kek"]["primary"] = 7
    write_keyring(path, doc, overwrite=True)
    with pytest.raises(KeyringError, match=r"\[kek\] primary"):
        load_keyring(path)


def test_keyring_repr_shows_no_key_material(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    keyring = create_keyring(path)
    text = repr(keyring) + repr(keyring.kek) + repr(keyring.families)
    raw = read_keyring_document(path)
    for family in ("kek", "index", "pseudonym", "audit"):
        assert raw[family]["versions"]["1"]["key"] not in text
