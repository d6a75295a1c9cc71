"""Key lifecycle use cases: status, KEK rotation (online, resumable), retirement.

KEK rotation never re-encrypts a field: it re-wraps each customer's data key
(a few dozen bytes) under the new KEK, in batches, one transaction per batch.
Its steps are all idempotent and each leaves the vault fully readable, which
is what makes ``kill -9`` at any point harmless:

1. *add* a KEK version and *promote* it to primary (two atomic keyring edits,
   :mod:`vault.keyring_edits`); from here on every process wraps new data keys
   under it and unwraps re-wrapped ones (:mod:`vault.live_keyring`);
2. *re-wrap* every DEK not under the primary: unwrap, wrap, and write it back
   with a compare-and-swap on the old wrapped bytes, so a concurrent rotation or
   erasure is never overwritten with stale data; a batch commits or not at all;
3. *sweep* again until no DEK is left under an old version (a worker that had not
   yet noticed the new primary may have wrapped a few under the old one).

Starting again after a crash finds where the last run stopped: a version added
but not promoted is promoted; DEKs still under an old version are re-wrapped;
only when neither is left does ``rotate`` add a new version.  Retiring a KEK
version deletes its key material from the keyring, and is refused while any
DEK still uses it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from vault.audit import AuditLog, signer_from_keyring
from vault.audit.checkpoints import public_key_from_seed
from vault.envelope import WrappedKey, rewrap
from vault.errors import ConflictError, KeyringError
from vault.keyring import (
    FAMILIES,
    KeyProvider,
    Keyring,
    RetiredVersion,
    load_keyring,
    read_keyring_document,
)
from vault.keyring_edits import (
    add_version,
    mark_reindexed,
    promote,
    reindexed_version,
    retire,
)
from vault.live_keyring import LiveKeyProvider
from vault.logs import get_logger
from vault.progress import NullProgress, Progress
from vault.services.reindexing import reindex
from vault.services.runtime import Vault
from vault.storage.tables import DataKeyRow, columns

CRYPTOPERIOD = dt.timedelta(days=730)
"""NIST SP 800-57 Part 1: up to two years of use for data-encryption and key-wrapping keys.

Applied to every family here (blind-index and pseudonym keys are HMAC keys with
a similar period of protection; the audit signing key's recommended period is
one to three years)."""

MAX_SWEEPS = 5

RETIRE_GRACE = dt.timedelta(minutes=15)
"""How long a KEK version must have been replaced before it may be retired.

Every process checks the keyring file before it wraps a data key, so once a
new primary is in the file no *new* wrap uses the old version; the grace covers
a wrap that began just before and whose transaction commits late.  Retirement
is normally done days after a rotation; this only stops an immediate one."""

_log = get_logger("vault.keys")


@dataclass(frozen=True, slots=True)
class VersionStatus:
    family: str
    version: int
    state: str
    """``primary``, ``active`` (readable, not primary) or ``retired`` (material destroyed)."""
    created_at: dt.datetime
    age_days: int
    past_cryptoperiod: bool
    data_keys: int | None
    """KEK versions only: how many data keys this version wraps."""
    retired_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class RotationResult:
    family: str
    from_versions: tuple[int, ...]
    to_version: int
    rewrapped: int
    resumed: bool
    remaining: int
    seconds: float


@dataclass(frozen=True, slots=True)
class _Keks:
    """The KEK versions, wherever the keys are (keyring file or PKCS#11 token)."""

    primary: int
    created: dict[int, dt.datetime]
    retired: Mapping[int, RetiredVersion]
    in_token: bool


def _keks(keyring: Keyring) -> _Keks:
    if keyring.kek_token is not None:
        token = keyring.kek_token
        created = {v: kv.created_at for v, kv in token.versions.items()}
        return _Keks(token.primary, created, token.retired, True)
    family = keyring.kek
    created = {v: kv.created_at for v, kv in family.versions.items()}
    return _Keks(family.primary, created, family.retired, False)


def kek_usage(vault: Vault) -> dict[int, int]:
    """How many data keys each KEK version wraps (versions wrapping none are absent)."""
    key = columns(DataKeyRow)
    with vault.reader.connect() as conn:
        rows = conn.execute(
            sa.select(key.kek_version, sa.func.count()).group_by(key.kek_version)
        ).all()
    return {int(version): int(count) for version, count in rows}


def status(vault: Vault, now: dt.datetime | None = None) -> list[VersionStatus]:
    """Every key version of every family, with its age; KEK versions with their DEK counts."""
    now = now or vault.clock()
    keyring = load_keyring(vault.settings.keys_path)
    usage = kek_usage(vault)
    out: list[VersionStatus] = []
    for name in FAMILIES:
        family = keyring.families.get(name)
        if name == "kek":
            keks = _keks(keyring)
            primary, created, retired = keks.primary, keks.created, keks.retired
        elif family is None:  # an optional family this keyring predates
            continue
        else:
            primary, retired = family.primary, family.retired
            created = {v: kv.created_at for v, kv in family.versions.items()}
        for version, created_at in sorted(created.items()):
            age = now - created_at
            out.append(
                VersionStatus(
                    family=name,
                    version=version,
                    state="primary" if version == primary else "active",
                    created_at=created_at,
                    age_days=age.days,
                    past_cryptoperiod=age > CRYPTOPERIOD,
                    data_keys=usage.get(version, 0) if name == "kek" else None,
                )
            )
        for version, rv in sorted(retired.items()):
            out.append(
                VersionStatus(
                    family=name,
                    version=version,
                    state="retired",
                    created_at=rv.created_at,
                    age_days=(now - rv.created_at).days,
                    past_cryptoperiod=False,
                    data_keys=usage.get(version, 0) if name == "kek" else None,
                    retired_at=rv.retired_at,
                )
            )
    return sorted(out, key=lambda s: (FAMILIES.index(s.family), s.version))


def rotate_kek(
    vault: Vault,
    *,
    batch_size: int = 1000,
    progress: Progress | None = None,
    pause: float = 0.0,
    on_batch: Callable[[int], None] | None = None,
) -> RotationResult:
    """Rotate the KEK, or finish a rotation that was interrupted (module docstring)."""
    if batch_size < 1:
        raise KeyringError("the batch size must be at least 1")
    progress = progress or NullProgress()
    started = time.monotonic()
    path = vault.settings.keys_path
    keks = _keks(load_keyring(path))
    usage = kek_usage(vault)
    pending = sorted(v for v in keks.created if v > keks.primary)
    if pending:
        target, resumed = pending[-1], True
        promote(path, "kek", target)
    elif any(v != keks.primary for v in usage):
        target, resumed = keks.primary, True
    else:
        target = _add_kek_version(vault, keks)
        promote(path, "kek", target)
        resumed = False
    _refresh(vault)
    old = tuple(sorted(v for v in usage if v != target))
    _log.info("keys.rotation_started", family="kek", target=target, resumed=resumed, old=old)
    rewrapped = 0
    remaining = _count_not_under(vault, target)
    progress.start(f"re-wrapping data keys under KEK v{target}", remaining)
    try:
        for _ in range(MAX_SWEEPS):
            rewrapped += _sweep(vault, target, batch_size, progress, pause, on_batch)
            remaining = _count_not_under(vault, target)
            if remaining == 0:
                break
    finally:
        progress.finish()
    seconds = time.monotonic() - started
    _log.info(
        "keys.rotation_finished",
        family="kek",
        target=target,
        rewrapped=rewrapped,
        remaining=remaining,
        seconds=round(seconds, 3),
    )
    return RotationResult("kek", old, target, rewrapped, resumed, remaining, seconds)


def _add_kek_version(vault: Vault, keks: _Keks) -> int:
    """A new KEK version: random bytes in the keyring file, or a key generated in the token."""
    path = vault.settings.keys_path
    if not keks.in_token:
        return add_version(path, "kek", now=vault.clock())
    provider = _pinned(vault)
    create = getattr(provider, "create_kek_version", None)
    if not callable(create):
        raise KeyringError("the key provider cannot create KEK versions")

    def entry(version: int, created_at: dt.datetime) -> dict[str, Any]:
        created = create(version, created_at)  # non-extractable, inside the token
        return {"label": created.label, "created_at": created_at}

    return add_version(path, "kek", now=vault.clock(), new_entry=entry)


def _refresh(vault: Vault) -> None:
    if isinstance(vault.provider, LiveKeyProvider):
        vault.provider.refresh()


def _pinned(vault: Vault) -> KeyProvider:
    """The provider re-checked once per batch (a live provider would check once per key)."""
    if isinstance(vault.provider, LiveKeyProvider):
        return vault.provider.pinned()
    return vault.provider


def _count_not_under(vault: Vault, target: int) -> int:
    key = columns(DataKeyRow)
    with vault.engine.connect() as conn:
        count = conn.execute(
            sa.select(sa.func.count()).select_from(DataKeyRow).where(key.kek_version != target)
        ).scalar_one()
    return int(count)


def _sweep(
    vault: Vault,
    target: int,
    batch_size: int,
    progress: Progress,
    pause: float,
    on_batch: Callable[[int], None] | None,
) -> int:
    """One pass over the DEKs not under ``target``, in subject order, batch by batch."""
    key = columns(DataKeyRow)
    update = (
        sa.update(DataKeyRow)
        .where(
            key.subject_id == sa.bindparam("b_subject"),
            key.version == sa.bindparam("b_version"),
            key.kek_version == sa.bindparam("b_old_kek"),
            key.wrapped == sa.bindparam("b_old_wrapped"),
        )
        .values(kek_version=sa.bindparam("b_kek"), wrapped=sa.bindparam("b_wrapped"))
    )
    done = 0
    after = None
    while True:
        query = (
            sa.select(key.subject_id, key.version, key.kek_version, key.wrapped)
            .where(key.kek_version != target)
            .order_by(key.subject_id)
            .limit(batch_size)
        )
        if after is not None:
            query = query.where(key.subject_id > after)
        with vault.engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return done
        provider = _pinned(vault)
        params = []
        for subject_id, version, kek_version, wrapped in rows:
            stored = WrappedKey(subject_id, version, kek_version, wrapped)
            new = rewrap(provider, stored)
            params.append(
                {
                    "b_subject": subject_id,
                    "b_version": version,
                    "b_old_kek": kek_version,
                    "b_old_wrapped": wrapped,
                    "b_kek": new.kek_version,
                    "b_wrapped": new.wrapped,
                }
            )
        with vault.engine.begin() as conn:
            conn.execute(update, params)
        after = rows[-1][0]
        done += len(rows)
        progress.advance(len(rows))
        if on_batch is not None:
            on_batch(done)
        if pause:
            time.sleep(pause)


def retire_kek(vault: Vault, version: int, *, grace: dt.timedelta = RETIRE_GRACE) -> None:
    """Destroy a KEK version's material; refused while any data key is wrapped under it."""
    keks = _keks(load_keyring(vault.settings.keys_path))
    if version not in keks.created:
        raise KeyringError(f"the keyring has no live kek version {version}")
    if version == keks.primary:
        raise ConflictError(f"kek version {version} is primary: rotate first, then retire it")
    successors = [created for v, created in keks.created.items() if v > version]
    replaced_at = min(successors) if successors else vault.clock()
    if vault.clock() - replaced_at < grace:
        raise ConflictError(
            f"kek version {version} was replaced less than {int(grace.total_seconds())} s ago; "
            "retire it later, once every running process has certainly stopped using it"
        )
    in_use = kek_usage(vault).get(version, 0)
    if in_use:
        raise ConflictError(
            f"kek version {version} still wraps {in_use} data keys: "
            "run `customer-vault keys rotate` to finish re-wrapping them first"
        )
    holder = _pinned(vault)  # knows the version still: the token key is destroyed after
    retire(vault.settings.keys_path, "kek", version, now=vault.clock())
    if keks.in_token:
        destroy = getattr(holder, "destroy_kek_version", None)
        if callable(destroy):
            destroy(version)
    _log.info("keys.retired", family="kek", version=version)


def rotate_audit_key(vault: Vault) -> RotationResult:
    """A new audit signing key; the chain stays verifiable across it.

    The old key signs a last checkpoint of the head, the new key becomes primary
    and signs one of the same head, so the hand-over is itself on record.  The
    verifier trusts every audit key version the keyring holds, and the public
    half of retired ones (:func:`vault.audit.public_keys_from_keyring`).
    """
    started = time.monotonic()
    path = vault.settings.keys_path
    before = load_keyring(path)
    AuditLog(vault.engine, signer_from_keyring(before), clock=vault.clock).checkpoint()
    version = add_version(path, "audit", now=vault.clock())
    promote(path, "audit", version)
    after = load_keyring(path)
    AuditLog(vault.engine, signer_from_keyring(after), clock=vault.clock).checkpoint()
    _log.info("keys.rotation_finished", family="audit", target=version)
    old = (before.families["audit"].primary,)
    return RotationResult("audit", old, version, 0, False, 0, time.monotonic() - started)


def rotate_index_key(
    vault: Vault, *, batch_size: int = 500, progress: Progress | None = None
) -> RotationResult:
    """A new blind-index key, then every digest re-computed under it (or finish doing so).

    Searches and the importer keep matching under every index version throughout;
    when the re-index completes it is recorded in the keyring, after which the old
    version can be retired.
    """
    started = time.monotonic()
    path = vault.settings.keys_path
    document = read_keyring_document(path)
    family = load_keyring(path).index
    pending = sorted(v for v in family.versions if v > family.primary)
    if pending:
        target, resumed = pending[-1], True
        promote(path, "index", target)
    elif len(family.versions) > 1 and reindexed_version(document) != family.primary:
        target, resumed = family.primary, True
    else:
        target = add_version(path, "index", now=vault.clock())
        promote(path, "index", target)
        resumed = False
    old = tuple(sorted(v for v in family.versions if v != target))
    _log.info("keys.rotation_started", family="index", target=target, resumed=resumed, old=old)
    changed = reindex(vault, batch_size=batch_size, progress=progress)
    mark_reindexed(path, target)
    seconds = time.monotonic() - started
    _log.info("keys.rotation_finished", family="index", target=target, reindexed=changed)
    return RotationResult("index", old, target, changed, resumed, 0, seconds)


def retire_version(
    vault: Vault, family: str, version: int, *, grace: dt.timedelta = RETIRE_GRACE
) -> None:
    """Retire a key version of any family, after the checks that family needs."""
    if family == "kek":
        retire_kek(vault, version, grace=grace)
        return
    if family == "index":
        _check_index_retirable(vault, version, grace)
    elif family != "audit":
        raise KeyringError(
            f"retiring {family} keys is not supported: only kek, index and audit versions"
        )
    retire(
        vault.settings.keys_path,
        family,
        version,
        now=vault.clock(),
        public_key=public_key_from_seed,
    )
    _log.info("keys.retired", family=family, version=version)


def _check_index_retirable(vault: Vault, version: int, grace: dt.timedelta) -> None:
    path = vault.settings.keys_path
    family = load_keyring(path).index
    if version == family.primary:
        raise ConflictError(f"index version {version} is primary: rotate first, then retire it")
    if reindexed_version(read_keyring_document(path)) != family.primary:
        raise ConflictError(
            f"blind indexes are not all under index version {family.primary} yet: "
            "run `customer-vault keys rotate --family index` to finish the re-index first"
        )
    successors = [kv.created_at for v, kv in family.versions.items() if v > version]
    if successors and vault.clock() - min(successors) < grace:
        raise ConflictError(
            f"index version {version} was replaced less than {int(grace.total_seconds())} s ago; "
            "retire it later, once every running process has certainly stopped using it"
        )
