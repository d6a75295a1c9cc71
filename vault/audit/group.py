"""Group commit for the audit log: many requests' events, one transaction, one flush.

Every request that reads customer data must wait until its audit event is
durable.  Committed one by one, those waits queue behind each other's fsync;
here a single writer thread takes whatever has queued up (up to ``max_batch``
submissions), appends it in one transaction and wakes each waiting request
with its own recorded events.  Durability is unchanged: nobody is answered
before the commit that holds their event is on the disk.

A failed commit fails every request in it (fail closed); a submission of
several events (a search) stays all-or-nothing because it is never split.

Under load the writer also *waits* a little for company, as PostgreSQL's
``commit_delay`` does when ``commit_siblings`` transactions are active.  A
request that will submit soon takes a :class:`Ticket`
(:meth:`GroupCommitLog.expect`) when it starts; when a ticket is outstanding
as a batch begins, the writer keeps collecting for up to ``gather`` seconds
before it commits.  A commit's cost is almost all fixed (the transaction, the
chain head, the fsync: measured at 0.55 ms of CPU for one event and 0.09 ms
per event for sixteen), so on a busy server a few milliseconds of waiting buys
several times fewer commits and frees CPU for the requests themselves.  With
no ticket outstanding (one client, one request at a time) a submission is
committed at once.

On SQLite, a submission that its caller will *await* on an event loop (the
360 read, whose use case runs on the loop) is committed on that loop instead,
by a callback scheduled when the loop's first such submission arrives.  The
batch waits for company here too, counted in passes of the loop rather than
milliseconds: while a pass adds submissions, the callback waits one more pass
(at most ``gather_passes``).  One client's request costs an extra pass of an
idle loop (measured with one client: p50 2.6 vs 2.4 ms, within the noise);
under load each pass holds other requests' reads,
and at sixteen concurrent reads the batches grew from 5 to 16 events, and the
read benchmark's throughput by 9-17% (the commit is mostly fixed cost, as
above).  In the writer thread the
commit's few statements each release the GIL and must win it back from the
busy loop, which made a commit of 0.75 ms take 6-7 ms under load, and the
spread of that wait was the read benchmark's p99; on the loop nobody is
handed the GIL.  The loop must not block on SQLite's write lock, so those
commits use a connection that does not wait for it (``on_loop``, an
:class:`AuditLog` on an engine with ``lock_timeout=0``): when another
connection holds it, the batch goes to the writer thread, which waits.

Nor does the loop wait for the disk.  The on-loop engine's commits return
once they are in the WAL file, unflushed (``durable_commits=False``), and
a :class:`~vault.storage.wal.WalSyncer` thread flushes the WAL and only then
answers the batch (``on_loop_sync``).  A request is answered after the same
``fdatasync`` a ``FULL`` commit would have run, but a disk that stalls
(measured: one 75 ms ``fdatasync`` in fifteen seconds of the read benchmark)
delays only the requests waiting for that flush, which fail closed at their
timeout if it never ends, while the loop keeps answering everything else.
Two differences remain.  Other connections can read a batch's events in the
milliseconds before its flush, events that a power cut then would erase (an
audit export taken in that window would later show a truncated log, a false
alarm rather than a missed one).  And SQLite itself still flushes the WAL's
header in the first commit after each restart of the WAL, so the loop waits
for the disk once per restart (at most one per checkpoint round, half a
second) rather than once per commit.  (WAL checkpoints, which commits would
otherwise run, are moved off the loop too: :mod:`vault.storage.wal`.)
"""

from __future__ import annotations

import asyncio
import functools
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future

from vault.audit.events import AuditEvent
from vault.audit.log import WAIT_SECONDS, AuditLog
from vault.audit.records import RecordedEvent
from vault.errors import AuditUnavailable
from vault.storage.wal import WalSyncer

_STOP = object()
GATHER_SECONDS = 0.005
"""How long a busy writer collects submissions before committing (see the module docstring)."""
GATHER_PASSES = 4
"""At most how many passes of its loop an on-loop batch waits for company (the module docstring)."""


def wait_durable(
    recorded: Future[tuple[RecordedEvent, ...]], timeout: float = WAIT_SECONDS
) -> tuple[RecordedEvent, ...]:
    """Block until a submission is committed; AuditUnavailable if it failed or timed out."""
    try:
        return recorded.result(timeout=timeout)
    except AuditUnavailable:
        raise
    except Exception:  # a timeout, or anything the writer did not classify
        raise AuditUnavailable("the audit log could not record the event") from None


async def await_durable(
    recorded: Future[tuple[RecordedEvent, ...]], timeout: float = WAIT_SECONDS
) -> tuple[RecordedEvent, ...]:
    """:func:`wait_durable` for a coroutine: the event loop is not blocked while waiting."""
    try:
        return await asyncio.wait_for(asyncio.wrap_future(recorded), timeout)
    except AuditUnavailable:
        raise
    except Exception:
        raise AuditUnavailable("the audit log could not record the event") from None


class GroupCommitLog:
    """``append``/``append_all`` with the same contract as :class:`AuditLog`, batched."""

    def __init__(
        self,
        log: AuditLog,
        *,
        max_batch: int = 256,
        timeout: float = WAIT_SECONDS,
        gather: float = GATHER_SECONDS,
        on_loop: AuditLog | None = None,
        on_loop_sync: WalSyncer | None = None,
        gather_passes: int = GATHER_PASSES,
    ) -> None:
        """``on_loop_sync``: the flusher of ``on_loop``'s WAL, if its commits are not durable
        when they return; without one, an on-loop batch is answered as soon as it commits.
        ``gather_passes``: at most how many passes of the loop an on-loop batch waits for
        company (0: committed in the pass after its first submission)."""
        self._log = log
        self._on_loop = on_loop
        self._on_loop_sync = on_loop_sync
        self._loop_batches: dict[asyncio.AbstractEventLoop, _LoopBatch] = {}
        self._gather_passes = gather_passes
        self._closed = False
        self._max_batch = max_batch
        self._timeout = timeout
        self._gather = gather
        self._expected = 0
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def public_key(self) -> bytes:
        return self._log.public_key

    @property
    def wait_seconds(self) -> float:
        """How long a holder of data should wait for a submission's commit (``timeout``)."""
        return self._timeout

    def append(self, event: AuditEvent) -> RecordedEvent:
        return self.append_all([event])[0]

    def append_all(self, events: Sequence[AuditEvent]) -> tuple[RecordedEvent, ...]:
        """Block until these events are durably recorded; AuditUnavailable otherwise."""
        return wait_durable(self.submit(events), self._timeout)

    def expect(self) -> Ticket:
        """Announce a submission to come, so that a busy writer waits for it (see the module)."""
        with self._lock:
            self._expected += 1
        return Ticket(self)

    def _settle(self) -> None:
        with self._lock:
            self._expected -= 1

    def submit(
        self, events: Sequence[AuditEvent], ticket: Ticket | None = None, *, awaited: bool = False
    ) -> Future[tuple[RecordedEvent, ...]]:
        """Queue these events for the next commit, without waiting for it.

        The future resolves once they are durable, or fails with
        :class:`~vault.errors.AuditUnavailable`.  Whoever holds data that the
        events cover must not release it before then (:func:`wait_durable`,
        :func:`await_durable`).  ``awaited``: the caller is on an event loop and
        will *await* the future there, never block on it, so the commit may run
        on that loop (see the module docstring).
        """
        if ticket is not None:
            ticket.close()  # before the put: the writer must not wait for this one
        future: Future[tuple[RecordedEvent, ...]] = Future()
        submission = (tuple(events), future)
        loop = _running_loop() if awaited and self._on_loop is not None else None
        # While batches wait in the writer's queue (the lock was taken), new ones join them
        # there: committing on the loop, which never waits, would keep overtaking them.
        if loop is not None and not self._closed and self._queue.empty():
            batch = self._loop_batches.get(loop)
            if batch is None:
                self._loop_batches[loop] = batch = _LoopBatch()
                loop.call_soon(self._loop_pass, loop)
            batch.submissions.append(submission)
            return future
        self._start()
        self._queue.put(submission)
        return future

    def _loop_pass(self, loop: asyncio.AbstractEventLoop) -> None:
        """Once per pass of the loop: wait one more pass while the batch grows, else commit.

        A pass that added a submission suggests more requests are on their
        way; one that added none (one client, or everyone already in) ends the
        wait.  ``gather_passes`` bounds it.
        """
        batch = self._loop_batches.get(loop)
        if batch is None:
            return  # failed by close() already
        size = len(batch.submissions)
        if batch.passes < self._gather_passes and size > batch.seen and size < self._max_batch:
            batch.passes += 1
            batch.seen = size
            loop.call_soon(self._loop_pass, loop)
            return
        del self._loop_batches[loop]
        self._commit_on_loop(batch.submissions)

    def _commit_on_loop(self, batch: list[_Submission]) -> None:
        """Commit a loop's batch there, or hand it to the writer if the lock is taken."""
        assert self._on_loop is not None
        events = [event for submitted, _ in batch for event in submitted]
        try:
            if self._closed:
                raise AuditUnavailable("the audit log is closed")
            recorded = self._on_loop.try_append_all(events)
            if recorded is None:  # the write lock is held elsewhere: the writer waits for it
                self._start()
                for submission in batch:
                    self._queue.put(submission)
                return
        except BaseException as exc:  # whatever it was, nobody waits for an answer in vain
            _fail(batch, _as_unavailable(exc))
            if not isinstance(exc, Exception):
                raise
            return
        if self._on_loop_sync is None:
            _answer(batch, recorded)
            return
        try:
            self._on_loop_sync.after_sync(functools.partial(_answer_flushed, batch, recorded))
        except Exception as exc:  # no syncer thread: committed, but nobody will flush it
            _fail(batch, _as_unavailable(exc))

    def close(self) -> None:
        """Stop: batches still waiting for a loop's callback fail (AuditUnavailable)."""
        self._closed = True
        for loop in list(self._loop_batches):
            pending = self._loop_batches.pop(loop, None)
            if pending is not None:
                _fail(pending.submissions, AuditUnavailable("the audit log is closed"))
        with self._lock:
            if self._thread is not None:
                self._queue.put(_STOP)
                self._thread.join(timeout=self._timeout)
                self._thread = None

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:  # set once it runs: a thread that failed to start is retried
                thread = threading.Thread(target=self._run, name="audit-group-commit", daemon=True)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            busy = self._expected > 0  # someone is on the way (an int read needs no lock)
            self._commit(self._batch(first, time.monotonic() + (self._gather if busy else 0.0)))

    def _batch(self, first: object, until: float) -> list[object]:
        """``first`` and what else is queued, waiting for more until ``until`` (monotonic)."""
        batch = [first]
        while len(batch) < self._max_batch:
            wait = until - time.monotonic()
            try:
                item = self._queue.get(timeout=max(0.0, wait))
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.put(_STOP)
                break
            batch.append(item)
        return batch

    def _commit(self, batch: list[object]) -> None:
        submissions: list[_Submission] = [item for item in batch if isinstance(item, tuple)]
        events = [event for submitted, _ in submissions for event in submitted]
        try:
            recorded = self._log.append_all(events)
        except Exception as exc:
            _fail(submissions, _as_unavailable(exc))
            return
        _answer(submissions, recorded)


_Submission = tuple[tuple[AuditEvent, ...], Future[tuple[RecordedEvent, ...]]]


class _LoopBatch:
    """Submissions waiting for their loop's commit, and how long they have waited."""

    __slots__ = ("passes", "seen", "submissions")

    def __init__(self) -> None:
        self.submissions: list[_Submission] = []
        self.passes = 0
        """Passes of the loop waited so far."""
        self.seen = 0
        """How many submissions the batch had at the last pass."""


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # not on an event loop's thread
        return None


def _as_unavailable(exc: BaseException) -> AuditUnavailable:
    """What the waiters of a failed commit are told (never the driver's message)."""
    if isinstance(exc, AuditUnavailable):
        return exc
    return AuditUnavailable("the audit log could not record the event")


def _fail(submissions: Sequence[_Submission], failure: AuditUnavailable) -> None:
    for _, future in submissions:
        if future.set_running_or_notify_cancel():
            future.set_exception(failure)


def _answer_flushed(
    submissions: Sequence[_Submission],
    recorded: Sequence[RecordedEvent],
    failure: BaseException | None,
) -> None:
    """Answer a committed batch once its WAL flush is done (or failed: then it is not durable)."""
    if failure is None:
        _answer(submissions, recorded)
    else:
        _fail(submissions, _as_unavailable(failure))


def _answer(submissions: Sequence[_Submission], recorded: Sequence[RecordedEvent]) -> None:
    """Each submission its own recorded events, in the order they were submitted."""
    offset = 0
    for submitted, future in submissions:
        # A waiter that gave up (a timed-out or disconnected request cancels its future)
        # is not answered; its event stays recorded, which errs on the side of the audit.
        if future.set_running_or_notify_cancel():
            future.set_result(tuple(recorded[offset : offset + len(submitted)]))
        offset += len(submitted)


class Ticket:
    """A request's promise to submit soon; settled by that submission or by :meth:`close`.

    Close it in a ``finally`` (or use it as a context manager): a request that
    fails before it submits anything must not keep the writer waiting.
    """

    __slots__ = ("_log", "_open")

    def __init__(self, log: GroupCommitLog) -> None:
        self._log = log
        self._open = True

    def close(self) -> None:
        if self._open:
            self._open = False
            self._log._settle()

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
