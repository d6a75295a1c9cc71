"""Progress of long work: a bar on a terminal, log lines otherwise.

Services take a :class:`Progress` and call ``start``/``advance``/``finish``;
they never decide how progress is shown.  The CLI picks :class:`BarProgress`
when stderr is a terminal and :class:`LogProgress` when it is not (CI, cron,
a pipe), so long imports are never silent.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress

from vault.logs import get_logger


class Progress(Protocol):
    def start(self, label: str, total: int | None) -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    def start(self, label: str, total: int | None) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def finish(self) -> None:
        pass


class BarProgress:
    """A rich progress bar on stderr."""

    def __init__(self) -> None:
        self._bar: RichProgress | None = None
        self._task: Any = None

    def start(self, label: str, total: int | None) -> None:
        self.finish()
        self._bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task(label, total=total)

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


class LogProgress:
    """A structured log line every ``every`` seconds and at the end."""

    def __init__(self, every: float = 5.0) -> None:
        self._log = get_logger("vault.progress")
        self._every = every
        self._label = ""
        self._total: int | None = None
        self._done = 0
        self._last = 0.0
        self._started = 0.0

    def start(self, label: str, total: int | None) -> None:
        self._label, self._total, self._done = label, total, 0
        self._started = self._last = time.monotonic()
        self._log.info("progress.start", task=label, total=total)

    def advance(self, n: int = 1) -> None:
        self._done += n
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            self._log.info("progress", task=self._label, done=self._done, total=self._total)

    def finish(self) -> None:
        if self._label:
            elapsed = round(time.monotonic() - self._started, 3)
            self._log.info("progress.done", task=self._label, done=self._done, seconds=elapsed)
            self._label = ""


def for_terminal() -> Progress:
    """The right progress display for where stderr goes."""
    return BarProgress() if sys.stderr.isatty() else LogProgress()
