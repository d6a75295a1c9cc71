"""KEKs in a PKCS#11 token: a real SoftHSM2 token, created for this test session.

The token lives in a temporary directory (``SOFTHSM2_CONF`` points at a config with
its own ``directories.tokendir``), initialised with ``softhsm2-util``.  Without
SoftHSM2 these tests are skipped locally but **fail** when ``CI=true``.

In this module the ``keys_path`` fixture makes an HSM keyring, so the shared
``vault``, ``settings`` and ``cli_env`` fixtures run on HSM keys, on SQLite and
on PostgreSQL.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import multiprocessing
import os
import secrets
import shutil
import subprocess
import sys
import threading
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from api_support import client, running_api
from helpers import customer, read_csv, write_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vault.crypto import KEY_BYTES, SecretKey
from vault.envelope import WrappedKey, new_data_key, open_data_key, wrap_aad
from vault.errors import IntegrityError, KeyringError
from vault.import_format import CUSTOMER_COLUMNS
from vault.keyring import Pkcs11Config, TokenKekFamily, load_keyring, write_keyring
from vault.services.customers import find_customers
from vault.services.principals import add_principal
from vault.services.runtime import Vault, open_vault
from vault.settings import PACKAGED_POLICIES, Settings

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
if not IN_CI:  # under CI a missing python-pkcs11 is an import error, not a skip
    pytest.importorskip("pkcs11", reason="python-pkcs11 is not installed (the hsm extra)")
import pkcs11  # noqa: E402

from vault.hsm import Pkcs11KeyProvider, create_hsm_keyring, open_provider  # noqa: E402

MODULE = Path(os.environ.get("VAULT_TEST_PKCS11_MODULE", "/usr/lib/softhsm/libsofthsm2.so"))
PIN_ENV = "VAULT_HSM_PIN"
CLI = [sys.executable, "-m", "vault"]


@dataclasses.dataclass(frozen=True)
class SoftHsm:
    module: Path
    token_label: str
    pin: str
    conf: Path

    @property
    def config(self) -> Pkcs11Config:
        return Pkcs11Config(self.module, self.token_label, PIN_ENV)

    def env(self) -> dict[str, str]:
        return {PIN_ENV: self.pin, "SOFTHSM2_CONF": str(self.conf)}


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    """A fresh SoftHSM2 token for this session; the process's env points the module at it."""
    util = shutil.which("softhsm2-util")
    if util is None or not MODULE.is_file():
        message = f"SoftHSM2 is not installed (softhsm2-util, {MODULE}): apt-get install softhsm2"
        if IN_CI:
            pytest.fail(message + " (CI=true: the HSM tests are mandatory)")
        pytest.skip(message)
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n"
        "log.level = ERROR\nslots.removable = false\n",
        encoding="utf-8",
    )
    hsm = SoftHsm(MODULE, f"cdv-test-{secrets.token_hex(3)}", secrets.token_hex(8), conf)
    pins = ["--pin", hsm.pin, "--so-pin", secrets.token_hex(8)]
    subprocess.run(
        [util, "--init-token", "--free", "--label", hsm.token_label, *pins],
        env=os.environ | {"SOFTHSM2_CONF": str(conf)},
        check=True,
        capture_output=True,
        timeout=60,
    )
    saved = {k: os.environ.get(k) for k in hsm.env()}
    os.environ.update(hsm.env())  # before this process loads the module: it reads the conf once
    try:
        yield hsm
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def keys_path(tmp_path: Path, softhsm: SoftHsm) -> Path:
    """Overrides conftest's: in this module every vault keeps its KEKs in the token."""
    path = tmp_path / "keys" / "keys.toml"
    create_hsm_keyring(path, softhsm.config)
    return path


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory, softhsm: SoftHsm) -> TokenKekFamily:
    path = tmp_path_factory.mktemp("hsm-keys") / "keys.toml"
    create_hsm_keyring(path, softhsm.config)
    token = load_keyring(path).kek_token
    assert token is not None
    return token


@pytest.fixture(scope="module")
def provider(family: TokenKekFamily) -> Iterator[Pkcs11KeyProvider]:
    p = open_provider(family)
    yield p
    p.close()


def _token_session(hsm: SoftHsm) -> pkcs11.Session:
    """A session of our own beside the provider's (which keeps the token logged in)."""
    lib = pkcs11.lib(str(hsm.module.resolve()))  # the name vault.hsm loads it under
    return lib.get_token(token_label=hsm.token_label).open()


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout
    assert 'File "' not in result.stderr


# --- the key in the token -------------------------------------------------------------


def test_the_kek_is_generated_in_the_token_non_extractable_and_sensitive(
    provider: Pkcs11KeyProvider, family: TokenKekFamily, softhsm: SoftHsm
) -> None:
    with _token_session(softhsm) as session:
        key = session.get_key(label=family.versions[family.primary].label)
        A = pkcs11.Attribute
        assert key.key_type == pkcs11.KeyType.AES
        assert key[A.VALUE_LEN] == KEY_BYTES
        assert key[A.TOKEN] is True
        assert key[A.PRIVATE] is True
        assert key[A.LOCAL] is True  # generated inside the token, never imported
        assert key[A.EXTRACTABLE] is False
        assert key[A.NEVER_EXTRACTABLE] is True
        assert key[A.SENSITIVE] is True
        assert key[A.ALWAYS_SENSITIVE] is True
        assert key[A.WRAP] is False
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            key[A.VALUE]


def test_the_kek_cannot_be_wrapped_out_of_the_token(
    provider: Pkcs11KeyProvider, family: TokenKekFamily, softhsm: SoftHsm
) -> None:
    with _token_session(softhsm) as session:
        kek = session.get_key(label=family.versions[family.primary].label)
        wrapper = session.generate_key(pkcs11.KeyType.AES, 256)  # a session key that may wrap
        with pytest.raises(pkcs11.exceptions.PKCS11Error):
            wrapper.wrap_key(kek, mechanism=pkcs11.Mechanism.AES_KEY_WRAP_PAD)


def test_a_new_kek_version_is_created_in_the_token_and_wraps_while_old_ones_unwrap(
    family: TokenKekFamily, softhsm: SoftHsm
) -> None:
    first = open_provider(family)
    try:
        subject = uuid.uuid4()
        _, old = new_data_key(first, subject)
        v2 = first.create_kek_version(2)
        assert v2.version == 2
        assert v2.label.endswith("-v2")
        with _token_session(softhsm) as session:
            key = session.get_key(label=v2.label)
            assert key[pkcs11.Attribute.EXTRACTABLE] is False
            assert key[pkcs11.Attribute.SENSITIVE] is True
        rotated = TokenKekFamily(family.config, 2, {**family.versions, 2: v2})
        second = open_provider(rotated)
        try:
            assert open_data_key(second, old).subject_id == subject  # old KEK still unwraps
            _, new = new_data_key(second, subject)
            assert new.kek_version == 2
            assert open_data_key(first, new).subject_id == subject  # the creator can unwrap too
            with pytest.raises(KeyringError, match="already exists"):
                second.create_kek_version(2)
        finally:
            second.close()
    finally:
        first.close()


# --- wrap and unwrap --------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dek=st.binary(min_size=KEY_BYTES, max_size=KEY_BYTES), aad=st.binary(max_size=200))
def test_wrap_unwrap_round_trips_any_key_and_associated_data(
    provider: Pkcs11KeyProvider, dek: bytes, aad: bytes
) -> None:
    version, wrapped = provider.wrap(SecretKey(dek), aad)
    assert version == provider.primary_kek_version()
    assert dek not in wrapped
    assert provider.unwrap(version, wrapped, aad) == SecretKey(dek)


def test_every_wrap_uses_a_fresh_iv(provider: Pkcs11KeyProvider) -> None:
    dek = SecretKey.generate()
    blobs = {provider.wrap(dek, b"aad")[1] for _ in range(50)}
    assert len(blobs) == 50
    assert len({b[:12] for b in blobs}) == 50


def _tampered(blob: bytes, where: str) -> bytes:
    if where == "truncated":
        return blob[:-1]
    if where == "extended":
        return blob + b"\x00"
    at = {"iv": 0, "ciphertext": 20, "tag": len(blob) - 1}[where]
    return blob[:at] + bytes([blob[at] ^ 0x01]) + blob[at + 1 :]


@pytest.mark.parametrize("where", ["iv", "ciphertext", "tag", "truncated", "extended"])
def test_tampered_wrapped_keys_fail_with_one_integrity_error(
    provider: Pkcs11KeyProvider, where: str
) -> None:
    _, stored = new_data_key(provider, uuid.uuid4())
    forged = dataclasses.replace(stored, wrapped=_tampered(stored.wrapped, where))
    with pytest.raises(
        IntegrityError, match=r"^decryption failed: the ciphertext is not authentic$"
    ):
        open_data_key(provider, forged)


def test_a_wrapped_key_moved_to_another_subject_or_version_does_not_unwrap(
    provider: Pkcs11KeyProvider,
) -> None:
    _, stored = new_data_key(provider, uuid.uuid4())
    for moved in (
        dataclasses.replace(stored, subject_id=uuid.uuid4()),
        dataclasses.replace(stored, version=2),
    ):
        with pytest.raises(IntegrityError):
            open_data_key(provider, moved)
    v = stored.kek_version
    with pytest.raises(IntegrityError):
        provider.unwrap(v, stored.wrapped, wrap_aad(stored.subject_id, 1, v) + b"x")
    with pytest.raises(KeyringError, match="no KEK version 9"):
        open_data_key(provider, WrappedKey(stored.subject_id, 1, 9, stored.wrapped))


def test_the_provider_is_thread_safe(provider: Pkcs11KeyProvider) -> None:
    failures: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(40):
                subject = uuid.uuid4()
                _, stored = new_data_key(provider, subject)
                assert open_data_key(provider, stored).subject_id == subject
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert failures == []


def _unwrap_in_child(provider: Pkcs11KeyProvider, stored: WrappedKey, out: object) -> None:
    key = provider.unwrap(
        stored.kek_version,
        stored.wrapped,
        wrap_aad(stored.subject_id, stored.version, stored.kek_version),
    )
    out.put(base64.b64encode(key.reveal()).decode())  # type: ignore[attr-defined]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork with threads (3.12+)
def test_a_forked_child_logs_in_again_and_unwraps(provider: Pkcs11KeyProvider) -> None:
    dek = SecretKey.generate()
    subject = uuid.uuid4()
    aad = wrap_aad(subject, 1, provider.primary_kek_version())
    version, wrapped = provider.wrap(dek, aad)
    stored = WrappedKey(subject, 1, version, wrapped)
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_unwrap_in_child, args=(provider, stored, out))
    child.start()
    received = out.get(timeout=60)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert base64.b64decode(received) == dek.reveal()
    assert provider.unwrap(version, wrapped, aad) == dek  # the parent's session still works


def test_the_provider_repr_shows_no_pin(provider: Pkcs11KeyProvider, softhsm: SoftHsm) -> None:
    assert softhsm.pin not in repr(provider)
    assert "pin=***" in repr(provider)


# --- the keyring file ---------------------------------------------------------------------


def test_the_hsm_keyring_file_holds_no_kek_material_and_no_pin(
    keys_path: Path, softhsm: SoftHsm
) -> None:
    text = keys_path.read_text(encoding="utf-8")
    doc = tomllib.loads(text)
    kek = doc["kek"]
    assert kek["provider"] == "pkcs11"
    assert kek["pin_env"] == PIN_ENV
    assert all(set(v) == {"label", "created_at"} for v in kek["versions"].values())
    assert softhsm.pin not in text
    assert text.count("key = ") == 4  # index, pseudonym, audit, backup: no KEK
    keyring = load_keyring(keys_path)
    assert "kek" not in keyring.families
    with pytest.raises(KeyringError, match="PKCS#11 token"):
        _ = keyring.kek


def _edited(keys_path: Path, tmp_path: Path, edit: dict[str, object]) -> Path:
    doc = tomllib.loads(keys_path.read_text(encoding="utf-8"))
    for dotted, value in edit.items():
        *parents, leaf = dotted.split(".")
        table = doc
        for p in parents:
            table = table[p]
        table[leaf] = value
    out = tmp_path / f"edited-{secrets.token_hex(3)}.toml"
    write_keyring(out, doc)
    return out


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"kek.pin": "1234"}, "never store it in the keyring"),
        ({"kek.versions.1.key": base64.b64encode(os.urandom(32)).decode()}, "live in the HSM"),
        ({"kek.provider": "kms"}, "provider must be"),
        ({"kek.pin_env": "not a name"}, "pin_env must be"),
        ({"kek.token_label": ""}, "needs token_label"),
        ({"kek.versions.1.label": ""}, "needs label"),
    ],
)
def test_a_malformed_hsm_keyring_is_refused_with_a_clear_message(
    keys_path: Path, tmp_path: Path, edit: dict[str, object], message: str
) -> None:
    with pytest.raises(KeyringError, match=message):
        load_keyring(_edited(keys_path, tmp_path, edit))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"kek.module": "/nonexistent/libpkcs11.so"}, "no PKCS#11 module at"),
        ({"kek.token_label": "no-such-token"}, "no PKCS#11 token labelled 'no-such-token'"),
        ({"kek.versions.1.label": "cdv-kek-missing-v1"}, "has no key labelled 'cdv-kek-missing"),
        ({"kek.pin_env": "VAULT_TEST_UNSET_PIN"}, "set VAULT_TEST_UNSET_PIN"),
    ],
)
def test_a_keyring_naming_what_the_token_lacks_fails_at_open(
    keys_path: Path, tmp_path: Path, edit: dict[str, object], message: str
) -> None:
    family = load_keyring(_edited(keys_path, tmp_path, edit)).kek_token
    assert family is not None
    with pytest.raises(KeyringError, match=message):
        open_provider(family).close()


def test_a_wrong_pin_fails_at_open(keys_path: Path, softhsm: SoftHsm) -> None:
    family = load_keyring(keys_path).kek_token
    assert family is not None
    with pytest.raises(KeyringError, match=f"refused the PIN in {PIN_ENV}"):
        open_provider(family, env={PIN_ENV: softhsm.pin + "0"}).close()


# --- a whole vault on HSM keys ------------------------------------------------------------


@pytest.fixture
def hsm_cli_env(cli_env: dict[str, str], softhsm: SoftHsm) -> dict[str, str]:
    return cli_env | softhsm.env()


def test_commands_with_a_wrong_pin_exit_2_with_one_clear_line(
    hsm_cli_env: dict[str, str], softhsm: SoftHsm
) -> None:
    result = run(["stats"], hsm_cli_env | {PIN_ENV: "wrong-" + softhsm.pin})
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"error: the token {softhsm.token_label!r} refused the PIN in {PIN_ENV}"
    )
    _no_traceback(result)
    missing = run(["stats"], {k: v for k, v in hsm_cli_env.items() if k != PIN_ENV})
    assert missing.returncode == 2
    assert f"set {PIN_ENV}" in missing.stderr
    _no_traceback(missing)


def test_init_with_half_the_hsm_options_is_refused(tmp_path: Path, softhsm: SoftHsm) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env |= softhsm.env() | {"VAULT_HOME": str(tmp_path / "home")}
    result = run(["init", "--hsm-module", str(softhsm.module)], env)
    assert result.returncode == 2
    assert "--hsm-token" in result.stderr
    assert not (tmp_path / "home" / "keys.toml").exists()


def test_a_vault_on_hsm_keys_imports_and_reads_back_through_cli_and_api(
    database_url: str, tmp_path: Path, softhsm: SoftHsm
) -> None:
    keys = tmp_path / "vault" / "keys.toml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env |= softhsm.env() | {"VAULT_DATABASE_URL": database_url, "VAULT_KEYS": str(keys)}

    hsm_flags = ["--hsm-module", str(softhsm.module), "--hsm-token", softhsm.token_label]
    init = run(["init", *hsm_flags, "--json"], env)
    assert init.returncode == 0, init.stderr
    assert json.loads(init.stdout)["kek_provider"] == "pkcs11"
    assert "key = " not in tomllib.loads(keys.read_text(encoding="utf-8"))["kek"]

    demo = tmp_path / "demo"
    made = run(["demo-data", "--customers", "25", "--out", str(demo), "--json"], env)
    assert made.returncode == 0, made.stderr
    files = json.loads(made.stdout)
    imported = run(
        ["import", "--rejects", str(tmp_path / "rejects.csv"), "--json"]
        + [
            a
            for kind in ("customers", "policies", "claims", "interactions", "consents")
            for a in (f"--{kind}", files[kind])
        ],
        env,
    )
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["totals"]["imported"] > 0

    # A second source system's copy of a known customer attaches to it: the import has
    # to unwrap that customer's DEK in the token to seal the new e-mail under it.
    known = next(r for r in read_csv(Path(files["customers"])) if r["id_type"] == "resident_id")
    copy = customer(**known) | {
        "source_system": "agency_hsm",
        "source_id": "A1",
        "email": "hsm.check@example.com",
    }
    second = write_csv(tmp_path / "a.csv", [copy], CUSTOMER_COLUMNS)
    rejects = tmp_path / "rejects-a.csv"
    merged = run(["import", "--customers", str(second), "--rejects", str(rejects), "--json"], env)
    assert merged.returncode == 0, merged.stderr
    assert json.loads(merged.stdout)["totals"]["merged"] == 1, read_csv(rejects)

    found = run(["find", "--id-number", known["id_number"], "--json"], env)
    assert found.returncode == 0, found.stderr
    (customer_id,) = json.loads(found.stdout)

    settings_ = Settings.resolve(database_url=database_url, keys_path=keys, env={})
    vault = open_vault(settings_)
    try:
        _, key = add_principal(
            vault, "p-adjuster", "claims_adjuster", known_roles=_roles(), org_unit=None
        )
        expected = _expected_views(vault, Path(files["customers"]))
    finally:
        vault.close()
    assert len(expected) >= 5
    with running_api(settings_) as url, client(url, key, "claims_processing") as http:
        for cid, (name, id_number) in expected.items():
            response = http.get(f"/v1/customers/{cid}")
            assert response.status_code == 200, response.text
            body = response.json()
            assert (body["full_name"], body["id_number"]) == (name, id_number)
        view = http.get(f"/v1/customers/{customer_id}").json()
        assert view["email"] == "h***@example.com"  # the merged e-mail, masked for this role
        assert view["id_number"] == known["id_number"]


def _roles() -> frozenset[str]:
    from vault.policy import load_policies

    return frozenset(load_policies(PACKAGED_POLICIES / "roles.yaml").roles)


def _expected_views(vault: Vault, customers_csv: Path) -> dict[uuid.UUID, tuple[str, str]]:
    """Customer id -> (name, ID number) for resident-ID rows of the demo extract."""
    expected: dict[uuid.UUID, tuple[str, str]] = {}
    for row in read_csv(customers_csv):
        if row["id_type"] != "resident_id" or not row["id_number"]:
            continue
        ids = find_customers(vault, "id_number", row["id_number"])
        if len(ids) == 1 and ids[0] not in expected:
            expected[ids[0]] = (row["full_name"], row["id_number"])
    return dict(list(expected.items())[:10])


def test_the_shared_vault_fixture_runs_on_hsm_keys(vault: Vault) -> None:
    from vault.live_keyring import LiveKeyProvider

    assert isinstance(vault.provider, LiveKeyProvider)  # follows rotations by other processes
    assert isinstance(vault.provider.pinned(), Pkcs11KeyProvider)
    subject = uuid.uuid4()
    _, stored = new_data_key(vault.provider, subject)
    assert open_data_key(vault.provider, stored).subject_id == subject


def test_a_keyring_that_cannot_be_written_leaves_no_orphan_key_in_the_token(
    provider: Pkcs11KeyProvider, tmp_path: Path, softhsm: SoftHsm
) -> None:
    def token_keys() -> set[str]:
        with _token_session(softhsm) as session:
            found = session.get_objects({pkcs11.Attribute.CLASS: pkcs11.ObjectClass.SECRET_KEY})
            return {obj.label for obj in found}

    before = token_keys()
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("", encoding="utf-8")
    with pytest.raises(OSError):  # noqa: PT011 - whichever error the OS gives
        create_hsm_keyring(not_a_directory / "keys.toml", softhsm.config)
    assert token_keys() == before


@pytest.mark.parametrize(("ci", "outcome"), [("true", "error"), ("", "skipped")])
def test_without_softhsm_the_hsm_tests_fail_under_ci_and_skip_otherwise(
    ci: str, outcome: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("SOFTHSM2_CONF", PIN_ENV)}
    env |= {"CI": ci, "VAULT_TEST_PKCS11_MODULE": str(tmp_path / "missing.so")}
    select = ["-k", "provider_repr", "-o", "addopts="]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, *select],
        env=env,
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert f"1 {outcome}" in result.stdout, result.stdout[-2000:]
    assert "CI=true: the HSM tests are mandatory" in result.stdout or outcome == "skipped"
    assert (result.returncode != 0) is (outcome == "error")  # a failing fixture fails the run


# --- rotation with KEKs in the token ----------------------------------------------------


def test_kek_rotation_and_retirement_with_keks_in_the_token(
    vault: Vault, settings: object, keys_path: Path, softhsm: SoftHsm, tmp_path: Path
) -> None:
    """Rotate: a new non-extractable key in the token, every DEK re-wrapped there; retire:
    the old token key is destroyed and the vault still opens and reads everyone."""
    import datetime as dt

    from vault.demo_data import generate_demo_data
    from vault.services import keys as key_service
    from vault.services.customers import read_customer
    from vault.services.importing import ImportSources, import_files
    from vault.services.runtime import open_vault
    from vault.storage.tables import Customer, columns

    demo = generate_demo_data(tmp_path / "demo", 20, seed=4)
    import_files(vault, ImportSources(customers=demo.customers))
    with vault.engine.connect() as conn:
        ids = list(conn.execute(sa.select(columns(Customer).id)).scalars())
    before = {cid: read_customer(vault, cid) for cid in ids}
    old_label = load_keyring(keys_path).kek_token.versions[1].label  # type: ignore[union-attr]

    result = key_service.rotate_kek(vault, batch_size=6)
    assert (result.to_version, result.rewrapped) == (2, len(ids))
    token = load_keyring(keys_path).kek_token
    assert token is not None
    assert token.primary == 2
    assert "key" not in tomllib.loads(keys_path.read_text(encoding="utf-8"))["kek"]["versions"]["2"]
    with _token_session(softhsm) as session:
        new_key = session.get_key(label=token.versions[2].label)
        assert new_key[pkcs11.Attribute.EXTRACTABLE] is False
        assert new_key[pkcs11.Attribute.SENSITIVE] is True
    assert key_service.kek_usage(vault) == {2: len(ids)}

    key_service.retire_kek(vault, 1, grace=dt.timedelta(0))
    with _token_session(softhsm) as session, pytest.raises(pkcs11.exceptions.NoSuchKey):
        session.get_key(label=old_label)
    reopened = open_vault(settings)  # type: ignore[arg-type]
    try:
        assert {cid: read_customer(reopened, cid) for cid in ids} == before
        states = {(s.family, s.version): s.state for s in key_service.status(reopened)}
        assert states[("kek", 1)] == "retired"
        assert states[("kek", 2)] == "primary"
    finally:
        reopened.close()
