"""E-mail addresses, including those glued to Chinese text (``邮箱zhang@163.com谢谢``)."""

from __future__ import annotations

import re
from typing import ClassVar

import tldextract

from vault.redaction.entities import EntityType
from vault.redaction.recognizers.base import Pattern, RegexRecognizer

_LOCAL = "[A-Za-z0-9](?:[A-Za-z0-9._%+\\-]{0,62}[A-Za-z0-9_%+\\-])?"
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9\\-]{0,61}[A-Za-z0-9])?"


def offline_tld_extractor() -> tldextract.TLDExtract:
    """A tldextract that uses only the public suffix list snapshot bundled with it.

    The default extractor downloads the list from publicsuffix.org on first
    use (and caches it under ``~/.cache``): a network call from inside a
    privacy vault.  No URLs means no fetch; no cache dir means no disk write.
    """
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


class EmailAddressRecognizer(RegexRecognizer):
    """``local@domain.tld`` with ASCII character classes and a suffix from the PSL snapshot.

    presidio's pattern is wrapped in ``\\b`` and uses ``\\w``, which matches
    Chinese characters: ``邮箱zhang@163.com谢谢`` comes out whole, or not at
    all.  Here every class is ASCII and the boundaries are explicit.  The
    domain must end in a real public suffix, which discards ``file@v1.2``
    and similar.
    """

    ENTITY = EntityType.EMAIL
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern(
            "email",
            "(?<![A-Za-z0-9._%+\\-])"
            + f"{_LOCAL}@(?P<domain>(?:{_LABEL}\\.)+[A-Za-z]{{2,24}})"
            + "(?![A-Za-z0-9\\-])",
            1.0,
        ),
    )

    def load(self) -> None:
        super().load()
        self._tld = offline_tld_extractor()

    def validate(self, match: re.Match[str]) -> bool:
        parts = self._tld(match.group("domain").lower())
        return bool(parts.suffix) and bool(parts.domain)
