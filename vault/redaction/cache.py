"""Recently redacted texts, so that a note read again is not analysed again.

Redacting a note costs milliseconds (presidio, a dozen recognizers, the
customer's known values), and a customer's 360 is read over and over while a
case is open: the same notes with the same known values, the same answer.
:class:`CachedRedactor` remembers the last answers, in this process's memory
only, and never on disk.

* **Keyed by everything the answer depends on**: the text, the language asked
  for and the known values (sorted), hashed with BLAKE2b under a random key made
  when the cache is made.  A customer whose name or mobile changes gets a new
  key, so a stale redaction is never served; the keys are useless outside the
  process (nobody can test a guess of a note against them).
* **Bounded**: at most ``max_entries`` (least recently used go first), and only
  texts up to ``max_text`` characters.
* **Short-lived**: an entry is dropped ``ttl`` seconds after it was made, so
  what an erased customer's notes redacted to does not outlive the erasure by
  more than that, in any worker.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from vault.redaction.entities import Redaction
from vault.redaction.recognizers.known import KnownValues
from vault.redaction.redactor import Redactor

DEFAULT_ENTRIES = 10_000
DEFAULT_TTL = 300.0
MAX_TEXT = 20_000


class CachedRedactor:
    """``redact`` like :class:`~vault.redaction.Redactor`, answering repeats from memory."""

    def __init__(
        self,
        redactor: Redactor,
        *,
        max_entries: int = DEFAULT_ENTRIES,
        ttl: float = DEFAULT_TTL,
        max_text: int = MAX_TEXT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 0 or ttl <= 0:
            raise ValueError("max_entries must be >= 0 and ttl > 0")
        self.redactor = redactor
        self.max_entries = max_entries
        self.ttl = ttl
        self.max_text = max_text
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._entries: OrderedDict[bytes, tuple[float, Redaction]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _digest(self, text: str, lang: str | None, known: KnownValues | None) -> bytes:
        canonical = sorted(
            (k, [v] if isinstance(v, str) else list(v)) for k, v in (known or {}).items()
        )
        h = hashlib.blake2b(key=self._key, digest_size=32)
        for part in (lang or "", json.dumps(canonical, ensure_ascii=False), text):
            data = part.encode("utf-8", "surrogatepass")
            h.update(len(data).to_bytes(8, "big"))
            h.update(data)
        return h.digest()

    def redact(
        self, text: str, lang: str | None = None, known: KnownValues | None = None
    ) -> Redaction:
        if self.max_entries == 0 or len(text) > self.max_text:
            return self.redactor.redact(text, lang=lang, known=known)
        digest = self._digest(text, lang, known)
        now = self._clock()
        with self._lock:
            found = self._entries.get(digest)
            if found is not None and now - found[0] < self.ttl:
                self._entries.move_to_end(digest)
                self.hits += 1
                return dataclasses.replace(found[1], entities=list(found[1].entities))
            self.misses += 1
        result = self.redactor.redact(text, lang=lang, known=known)  # errors are not cached
        with self._lock:
            self._entries[digest] = (now, result)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return result

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
