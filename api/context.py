"""Everything a request needs, built once in the app's lifespan and closed with it."""

from __future__ import annotations

import gc
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from vault.audit import AuditLog, signer_from_keyring
from vault.audit.group import GroupCommitLog
from vault.crypto import Signer
from vault.policy import Policies, load_policies
from vault.policy.export_profiles import FILE_NAME as EXPORTS_FILE
from vault.policy.export_profiles import ExportProfiles, load_export_profiles
from vault.redaction.stored import StoredRedactions, text_of
from vault.services.access import AccessService, Redact
from vault.services.redactions import RefreshQueue
from vault.services.runtime import Vault, open_vault
from vault.settings import Settings
from vault.storage.engine import create_vault_engine, is_sqlite
from vault.storage.wal import WalCheckpointer, WalSyncer


@dataclass
class AppContext:
    settings: Settings
    vault: Vault
    policies: Policies
    audit: GroupCommitLog
    access: AccessService
    export_profiles: ExportProfiles
    inline_reads: bool = False
    """Run the 360 read on the event loop instead of a worker thread (SQLite; see below)."""
    refresh_queue: RefreshQueue = None  # type: ignore[assignment]
    """Redacts written customers' free text in the background (set by :meth:`open`)."""
    _redactor: Any = None
    _stored: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop_engine: Engine | None = None
    _checkpointer: WalCheckpointer | None = None
    _syncer: WalSyncer | None = None

    @classmethod
    def open(cls, settings: Settings) -> AppContext:
        """Refuses to start on a bad keyring, schema or policy file, with a clear error."""
        policies = load_policies(settings.policies_dir / "roles.yaml")
        export_profiles = load_export_profiles(settings.policies_dir / EXPORTS_FILE)
        vault = open_vault(settings)

        def signer() -> Signer:  # the current audit key: follows rotations
            return signer_from_keyring(vault.current_keyring())

        def audit_log(engine: Engine) -> AuditLog:
            return AuditLog(engine, signer, clock=vault.clock)

        # SQLite: the 360 read's audit events are committed on the event loop, through a
        # connection that never waits for the write lock (vault/audit/group.py), never
        # checkpoints the WAL and never flushes it: threads of their own do those, and the
        # batch is answered after the flush (vault/storage/wal.py).
        loop_engine = checkpointer = syncer = None
        if is_sqlite(vault.engine):
            loop_engine = create_vault_engine(
                settings.database_url,
                lock_timeout=0,
                auto_checkpoint=False,
                durable_commits=False,
                pool_size=1,
            )
            checkpointer = WalCheckpointer(vault.engine)
            checkpointer.start()
            syncer = WalSyncer(loop_engine)
        audit = GroupCommitLog(
            audit_log(vault.engine),
            on_loop=audit_log(loop_engine) if loop_engine is not None else None,
            on_loop_sync=syncer,
        )
        context = cls(
            settings,
            vault,
            policies,
            audit,
            access=None,  # type: ignore[arg-type]
            export_profiles=export_profiles,
            # An SQLite read is in-process work that holds the GIL but for microseconds
            # at a time; in a worker thread every one of those releases hands the GIL
            # to another thread and back (measured: 170 futex calls per read at 16
            # concurrent requests, a third of the server's CPU).  On the event loop
            # the same read runs in about a millisecond with nobody to hand over to.
            # PostgreSQL reads wait on the network, so they keep their worker thread.
            inline_reads=is_sqlite(vault.reader),
            _loop_engine=loop_engine,
            _checkpointer=checkpointer,
            _syncer=syncer,
        )
        context.refresh_queue = RefreshQueue(vault, context.stored_redactions)
        context.access = AccessService(
            vault,
            policies,
            audit,
            redact=context.redact_function,
            stored_redactions=context.stored_redactions,
            after_write=context.refresh_queue.submit,
        )
        return context

    def redactor(self) -> Any:
        """The presidio-based redactor, built once (it takes about a second to load).

        Wrapped in a cache of recent answers (``VAULT_REDACTION_CACHE`` entries):
        a customer's notes are read again and again while a case is open.
        """
        with self._lock:
            if self._redactor is None:
                from vault.redaction import Redactor
                from vault.redaction.cache import CachedRedactor

                engine = Redactor()
                engine.warm()
                # presidio, spaCy and tldextract leave a few hundred thousand objects that
                # live as long as the process; without this, every full collection walks
                # them all (measured: 90-100 ms stalls, the read benchmark's p99).
                gc.collect()  # what loading left as garbage is not kept for ever
                gc.freeze()
                entries = self.settings.redaction_cache
                self._redactor = CachedRedactor(engine, max_entries=entries)
            return self._redactor

    def redact_function(self) -> Redact:
        return text_of(self.redactor())

    def stored_redactions(self) -> StoredRedactions:
        """Answers from redactions stored at write time, when they still hold (built once)."""
        redactor = self.redactor()
        with self._lock:
            if self._stored is None:
                self._stored = StoredRedactions(redactor.redactor, text_of(redactor))
            return self._stored  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.refresh_queue is not None:
            self.refresh_queue.close()
        self.audit.close()
        if self._syncer is not None:  # answers the batches committed but not yet flushed
            self._syncer.close()
        if self._checkpointer is not None:
            self._checkpointer.close()
        if self._loop_engine is not None:
            self._loop_engine.dispose()
        self.vault.close()
