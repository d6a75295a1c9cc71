"""Redact a stream of JSON lines, one line in, one line out, never the whole file in memory.

Input lines are ``{"id", "text", "lang"?: "en"|"zh", "known"?: {key: str | [str]}}``.
Each produces one output line, in order:

* ``{"id": ..., "text": <redacted>, "entities": [{"type", "start", "end", "score"}]}``;
* or, for a line that is not valid JSON or breaks the schema,
  ``{"id": <id if readable, else null>, "line": <n>, "error": <what is wrong>}``.
  The message names the field and the rule, never a value: a malformed line
  may still hold personal data, and error lines end up in logs.

Blank lines are skipped without output.  Bad lines do not stop the stream
(a million-line export should not die on line 800 000); the caller gets the
counts back and decides.  Offsets are in code points of the input text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

from vault.errors import ValidationError
from vault.redaction.redactor import Redactor

_LANGS = ("en", "zh")


@dataclass(frozen=True, slots=True)
class JsonlStats:
    """What :func:`redact_jsonl` did: lines redacted and lines answered with an error."""

    redacted: int
    errors: int

    @property
    def written(self) -> int:
        return self.redacted + self.errors


class _BadLine(Exception):
    def __init__(self, reason: str, record_id: object = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.record_id = record_id


def _parse(line: str) -> tuple[object, str, str | None, dict[str, str | list[str]] | None]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise _BadLine(f"not valid JSON (column {exc.colno})") from None
    except RecursionError:
        raise _BadLine("not valid JSON (nested too deep)") from None
    if not isinstance(record, dict):
        raise _BadLine("a line must be a JSON object")
    record_id = record.get("id")
    if not isinstance(record_id, str | int) or isinstance(record_id, bool):
        raise _BadLine("'id' must be a string or an integer")
    text = record.get("text")
    if not isinstance(text, str):
        raise _BadLine("'text' must be a string", record_id)
    lang = record.get("lang")
    if lang is not None and lang not in _LANGS:
        raise _BadLine("'lang' must be 'en' or 'zh'", record_id)
    known = record.get("known")
    if known is not None:
        known = _known(known, record_id)
    return record_id, text, lang, known


def _known(value: object, record_id: object) -> dict[str, str | list[str]]:
    if not isinstance(value, Mapping):
        raise _BadLine("'known' must be an object", record_id)
    out: dict[str, str | list[str]] = {}
    for key, item in value.items():
        if isinstance(item, str):
            out[str(key)] = item
        elif isinstance(item, Sequence) and all(isinstance(v, str) for v in item):
            out[str(key)] = list(item)
        elif item is None:
            continue
        else:
            raise _BadLine("'known' values must be strings or lists of strings", record_id)
    return out


def redact_jsonl(
    inp: TextIO, out: TextIO, redactor: Redactor, *, flush_every: int = 1000
) -> JsonlStats:
    """Read JSON lines from ``inp``, write one redacted (or error) line per record to ``out``."""
    redacted = errors = 0
    for number, line in enumerate(inp, start=1):
        if not line.strip():
            continue
        try:
            record_id, text, lang, known = _parse(line)
            try:
                result = redactor.redact(text, lang=lang, known=known)
            except ValidationError as exc:
                raise _BadLine(str(exc), record_id) from None
        except _BadLine as bad:
            errors += 1
            payload: dict[str, object] = {"id": bad.record_id, "line": number, "error": bad.reason}
        else:
            redacted += 1
            payload = {
                "id": record_id,
                "text": result.text,
                "entities": [e.to_dict() for e in result.entities],
            }
        out.write(json.dumps(payload, ensure_ascii=False) + "\n")
        if (redacted + errors) % flush_every == 0:
            out.flush()
    out.flush()
    return JsonlStats(redacted=redacted, errors=errors)
