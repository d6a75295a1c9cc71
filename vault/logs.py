"""Operational logging: structlog, JSON lines, with a processor that keeps PII out.

The processor is the last line of defence, not the first: code should never
put a PII value into an event.  It drops any key that the schema registry names
as an encrypted field (``mobile=...`` never reaches a log) and scrubs values
that look like identifiers (long digit runs, email addresses) from every string.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from vault.schema import pii_fields

_DIGITS = re.compile(r"(?<![0-9A-Za-z])(?:\+?\d[\d\s-]{5,}\d[Xx]?)(?![0-9A-Za-z])")
_EMAIL = re.compile(r"[^\s@<>()\"',;:]+@[^\s@<>()\"',;:]+\.[A-Za-z]{2,}")
REDACTED = "[REDACTED]"


class PiiScrubber:
    """A structlog processor: removes registry PII keys and identifier-looking substrings."""

    TRUSTED = frozenset({"timestamp", "level", "logger"})
    """Keys the logging pipeline itself fills in (the ISO timestamp looks like digits)."""

    def __init__(self, extra_keys: frozenset[str] = frozenset()) -> None:
        self._keys = frozenset(f.name for f in pii_fields()) | extra_keys

    def __call__(
        self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            if key in self.TRUSTED:
                continue
            if key in self._keys:
                event_dict[key] = REDACTED
            else:
                event_dict[key] = self._scrub(event_dict[key])
        return event_dict

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return _EMAIL.sub(REDACTED, _DIGITS.sub(REDACTED, value))
        if isinstance(value, dict):
            return {k: REDACTED if k in self._keys else self._scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._scrub(v) for v in value]
        return value


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """JSON lines on stderr (or ``stream``), with the PII scrubber before rendering."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            PiiScrubber(),
            structlog.processors.format_exc_info,
            PiiScrubber(),
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
