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

from vault.redaction.entities import Entity, EntityType, Redaction
from vault.redaction.jsonl import JsonlStats, redact_jsonl
from vault.redaction.recognizers.known import KnownValues
from vault.redaction.redactor import Redactor
from vault.redaction.text import detect_language

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
