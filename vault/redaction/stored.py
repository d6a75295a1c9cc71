"""Stored redactions: a free-text value's redaction, worked out when it is written.

Redacting a note runs presidio and a dozen recognizers over it (about half a
millisecond for a short note), and a customer 360 is read far more often than
it is written.  So the redaction is worked out once, off the read path
(:mod:`vault.services.redactions`), and kept beside the text, sealed under the
same customer's data key (the schema registry's ``redaction_of`` fields).  A
read uses it only when it is *exactly* the answer live redaction would give
now, and redacts live otherwise:

* Each stored entry carries its **basis**: a SHA-256 over everything the
  answer depends on, namely the text, the customer's known values (sorted), and
  the engine, meaning the vault's redaction code (the source of
  :mod:`vault.redaction`), presidio's and spaCy's versions and the redactor's
  settings.  A read computes the basis of what it holds now and looks the entry
  up by it.  An entry whose note was edited, whose customer's name or mobile
  changed, or that an upgraded recognizer would answer differently, matches
  nothing and is never served; a refresh replaces it.
* The basis is inside the ciphertext, next to the text it vouches for, so it
  reveals nothing (an unkeyed digest of a note in clear would let anyone test
  guesses), and the AEAD's associated data binds the pair to its row and field
  like every other sealed value.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import sys
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from importlib.resources import files
from typing import Any, Protocol

from vault import schema

Redact = Callable[[str, Mapping[str, str]], str]
"""``redact(text, known_values) -> text``, as the policy layer's shaper calls it."""

BASIS = "basis"
TEXT = "text"


class _Configured(Protocol):
    """What the basis needs to know of a redactor: the settings that change its answers."""

    languages: tuple[str, ...]
    min_score: float

    @property
    def spacy_models(self) -> Mapping[str, str]: ...


@cache
def _code_digest() -> bytes:
    """SHA-256 over the redaction package's source, the libraries and interpreter it runs on,
    and the registry's field types (which decide how known values are matched).

    Taken from the installed files rather than a version constant that someone
    must remember to bump: any change to a recognizer, a lexicon or the span
    resolution retires every stored redaction.
    """
    h = hashlib.sha256(b"cdv:redaction-engine:v1")
    _feed(h, sys.version.encode())  # re and the Unicode tables come with the interpreter
    for lib in ("presidio-analyzer", "spacy", "phonenumbers", "tldextract", "python-stdnum"):
        _feed(h, f"{lib}=={importlib.metadata.version(lib)}".encode())
    # Known values are matched by what the registry says they are (pii_type_of).
    kinds = sorted((f.qualified_name, str(f.pii_type)) for f in schema.all_fields())
    _feed(h, json.dumps(kinds).encode())
    root = files("vault.redaction")
    for path in sorted(_sources(root), key=lambda p: p[0]):
        _feed(h, path[0].encode())
        _feed(h, path[1])
    return h.digest()


def _installed(model: str) -> str:
    """A spaCy model as the redactor will run it: ``name==version``, or blank if not installed.

    The version matters: a model upgrade changes the entities it finds.  Read
    from the package metadata, as spaCy decides, without importing spaCy.
    """
    try:
        return f"{model}=={importlib.metadata.version(model)}"
    except Exception:  # not installed, or not a package name: spaCy runs it blank
        return "blank"


def _sources(root: Any, prefix: str = "") -> Iterable[tuple[str, bytes]]:
    for entry in root.iterdir():
        name = f"{prefix}{entry.name}"
        if entry.is_dir():
            if entry.name != "__pycache__":
                yield from _sources(entry, f"{name}/")
        elif entry.name.endswith(".py"):
            yield name, entry.read_bytes()


def _feed(h: Any, data: bytes) -> None:
    h.update(len(data).to_bytes(8, "big"))
    h.update(data)


def text_of(redactor: Any) -> Redact:
    """``redact(text, known) -> str`` over a :class:`~vault.redaction.Redactor` (or its cache).

    The one definition of "the redacted text" that reads and stored entries share.
    """

    def redact(text: str, known: Mapping[str, str]) -> str:
        return str(redactor.redact(text, known=dict(known)).text)

    return redact


class StoredRedactions:
    """Works out entries for storage, and answers reads from the entries that still hold.

    ``redactor`` is the engine, whose settings enter the basis; ``redact`` the
    live redaction over it (default :func:`text_of` the engine; the API passes
    its cached one, which gives the same answers).
    """

    def __init__(self, redactor: _Configured, redact: Redact | None = None) -> None:
        self._redact = redact or text_of(redactor)
        settings = {
            "languages": list(redactor.languages),
            "min_score": redactor.min_score,
            "spacy_models": {
                lang: _installed(name) for lang, name in sorted(redactor.spacy_models.items())
            },
        }
        h = hashlib.sha256(_code_digest())
        _feed(h, json.dumps(settings, sort_keys=True).encode())
        self._engine = h.digest()

    def basis(self, text: str, known: Mapping[str, str]) -> str:
        """The hex digest an entry for ``text`` with these known values must carry."""
        return self._basis(text, _canonical(known))

    def _basis(self, text: str, canonical: bytes) -> str:
        h = hashlib.sha256(self._engine)
        _feed(h, canonical)
        _feed(h, text.encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    def entry(self, text: str, known: Mapping[str, str]) -> dict[str, str]:
        """The value to store (sealed) beside ``text``: its redaction and the basis."""
        return {BASIS: self.basis(text, known), TEXT: self._redact(text, known)}

    def serving(self, found: Mapping[str, str], live: Redact | None = None) -> Redact:
        """A redact callable that answers from ``found`` (basis -> text), else redacts live.

        ``found`` is what a read collected from the stored entries of one
        customer (:func:`vault.services.customers.read_customer`).
        """
        fallback = live or self._redact
        if not found:
            return fallback
        last: list[Any] = [None, b""]  # the shaper passes one known-values mapping per read

        def redact(text: str, known: Mapping[str, str]) -> str:
            if last[0] is not known:
                last[:] = [known, _canonical(known)]
            stored = found.get(self._basis(text, last[1]))
            return stored if stored is not None else fallback(text, known)

        return redact


def collect(entries: Iterable[Any]) -> dict[str, str]:
    """``basis -> text`` from opened stored values; anything malformed is ignored."""
    found: dict[str, str] = {}
    for entry in entries:
        if isinstance(entry, dict):
            basis, text = entry.get(BASIS), entry.get(TEXT)
            if isinstance(basis, str) and isinstance(text, str):
                found[basis] = text
    return found


def _canonical(known: Mapping[str, str]) -> bytes:
    return json.dumps(sorted(known.items()), ensure_ascii=False).encode("utf-8", "surrogatepass")
