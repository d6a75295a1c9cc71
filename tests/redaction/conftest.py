"""One Redactor for the whole redaction suite: building it loads spaCy and the recognizers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from vault.redaction import Redactor


@pytest.fixture(scope="session")
def redactor() -> Redactor:
    r = Redactor()
    r.load()
    return r


@pytest.fixture(scope="session")
def found(redactor: Redactor) -> Callable[..., list[tuple[str, str]]]:
    """``found(text, **kw)`` → [(type, original text of the span)] in order."""

    def run(text: str, **kwargs: object) -> list[tuple[str, str]]:
        result = redactor.redact(text, **kwargs)  # type: ignore[arg-type]
        return [(e.type.value, text[e.start : e.end]) for e in result.entities]

    return run
