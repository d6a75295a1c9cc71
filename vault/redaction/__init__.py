"""Offline free-text PII redaction for CRM notes, claim descriptions and other free text.

presidio-analyzer runs on blank spaCy pipelines (no model, no download) with
the vault's own recognizers: PRC resident IDs, Chinese mobiles and
landlines, bank cards (19-digit UnionPay included), e-mails, passports,
licence plates, dates of birth, Chinese and English addresses, policy and
claim numbers, and names (Chinese by surname and context, Latin by
capitalisation and context).  When the caller says whose text it is, the
values the vault holds for that customer are found too, however written.
Nothing here makes a network call; see ``docs/redaction.md``.

Public API::

    redactor = Redactor()                       # cheap; engines built on first use
    result = redactor.redact(text, lang=None, known={"mobile": "+8613812345678"})
    result.text, result.entities                # "<MOBILE>", [Entity(...)]
    redact_jsonl(inp, out, redactor)            # streaming, one line per record

A building block: imports nothing from ``api`` or ``vault.services``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vault.redaction.entities import Entity, EntityType, Redaction
    from vault.redaction.jsonl import JsonlStats, redact_jsonl
    from vault.redaction.recognizers.known import KnownValues
    from vault.redaction.redactor import Redactor
    from vault.redaction.text import detect_language

_HOMES = {
    "Entity": "entities",
    "EntityType": "entities",
    "Redaction": "entities",
    "JsonlStats": "jsonl",
    "redact_jsonl": "jsonl",
    "KnownValues": "recognizers.known",
    "Redactor": "redactor",
    "detect_language": "text",
}


def __getattr__(name: str) -> Any:
    """The public names, imported on first use: presidio and spaCy take a second to import,
    and importing :mod:`vault.redaction.stored` (which the read path does) must not pay it."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = [
    "Entity",
    "EntityType",
    "JsonlStats",
    "KnownValues",
    "Redaction",
    "Redactor",
    "detect_language",
    "redact_jsonl",
]
