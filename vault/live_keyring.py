"""The keyring as it is *now*: re-read when another process has rotated a key.

API workers load the keyring once at start-up, but a rotation (``customer-vault
keys rotate``, or another worker serving ``POST /v1/admin/keys/rotate``) edits
the file while they run.  A worker must then

* unwrap data keys re-wrapped under a KEK version it has never seen, and
* wrap new data keys under the new primary, not the old one that is about to be
  retired and deleted.

:class:`LiveKeyProvider` does both: before every *wrap* it compares the file's
identity (inode, size, mtime: one ``stat``) with what it loaded and re-reads
it if it changed; on an *unwrap* that fails because the version is unknown, it
re-reads the file and tries once more.  Reads of known versions cost nothing
extra.  A file that fails to load (mid-edit by hand, permissions opened up)
is refused with the loader's error; the keys already in memory stay in use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from vault.crypto import SecretKey
from vault.errors import KeyringError
from vault.keyring import KeyProvider, Keyring, load_keyring

ProviderFactory = Callable[[Keyring], KeyProvider]
_Stamp = tuple[int, int, int, int]


def _stamp(path: Path) -> _Stamp | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class LiveKeyring:
    """One keyring file and the provider built from its latest good contents."""

    def __init__(self, path: Path, keyring: Keyring, factory: ProviderFactory) -> None:
        self.path = path
        self._factory = factory
        self._lock = threading.Lock()
        self._stamp = _stamp(path)
        self._keyring = keyring
        self._provider = factory(keyring)

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    def provider(self, *, check: bool) -> KeyProvider:
        """The current provider; with ``check``, re-read the file first if it changed."""
        if check:
            self.refresh()
        return self._provider

    def refresh(self) -> bool:
        """Re-read the file if it changed since it was loaded; True if anything was reloaded."""
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return False
        with self._lock:
            if stamp == self._stamp:
                return False
            keyring = load_keyring(self.path)
            self._provider = self._factory(keyring)
            self._keyring = keyring
            self._stamp = stamp
            return True


class LiveKeyProvider:
    """A :class:`~vault.keyring.KeyProvider` that follows rotations made by other processes."""

    def __init__(self, live: LiveKeyring) -> None:
        self._live = live

    def primary_kek_version(self) -> int:
        return self._live.provider(check=True).primary_kek_version()

    def wrap(self, dek: SecretKey, aad: bytes) -> tuple[int, bytes]:
        return self._live.provider(check=True).wrap(dek, aad)

    def unwrap(self, kek_version: int, wrapped: bytes, aad: bytes) -> SecretKey:
        tried = self._live.provider(check=False)
        try:
            return tried.unwrap(kek_version, wrapped, aad)
        except KeyringError:
            self._live.refresh()
            current = self._live.provider(check=False)
            # Retry when the provider is newer than the one that failed, whoever reloaded
            # it: another thread may have re-read the file between the failure and our
            # refresh, which then finds nothing changed (seen: a 500 during a rotation).
            if current is tried:
                raise
        return current.unwrap(kek_version, wrapped, aad)

    def refresh(self) -> bool:
        return self._live.refresh()

    def close(self) -> None:
        """Close the current provider (an HSM provider logs out of its token)."""
        close = getattr(self._live.provider(check=False), "close", None)
        if callable(close):
            close()

    def pinned(self) -> KeyProvider:
        """The provider as of now, without further checks: for batch work (a re-wrap batch)
        that re-checks the file once per batch instead of once per key."""
        return self._live.provider(check=True)

    def __repr__(self) -> str:
        return f"LiveKeyProvider({self._live.provider(check=False)!r})"
