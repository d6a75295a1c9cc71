"""Which recognizers the redactor runs: the one list, in one place.

Every recognizer here runs for every language.  CRM notes mix scripts (a
Chinese note quoting ``Mr Smith``, an English note with ``地址：…``), and a
recognizer that cannot match a script costs next to nothing on it, while a
note that leaks because its language was guessed wrong costs a great deal.
The language chooses the spaCy pipeline, not the recognizers.
"""

from __future__ import annotations

from vault.redaction.recognizers.address_en import EnglishAddressRecognizer
from vault.redaction.recognizers.address_zh import ChineseAddressRecognizer
from vault.redaction.recognizers.bank_card import BankCardRecognizer
from vault.redaction.recognizers.base import VaultRecognizer
from vault.redaction.recognizers.birth_date import BirthDateRecognizer
from vault.redaction.recognizers.email import EmailAddressRecognizer
from vault.redaction.recognizers.names_en import LatinNameRecognizer
from vault.redaction.recognizers.names_zh import ChineseNameRecognizer
from vault.redaction.recognizers.passport import PassportRecognizer
from vault.redaction.recognizers.phones import LandlineRecognizer, MobileRecognizer
from vault.redaction.recognizers.plate import LicensePlateRecognizer
from vault.redaction.recognizers.references import ClaimNumberRecognizer, PolicyNumberRecognizer
from vault.redaction.recognizers.resident_id import ResidentIdRecognizer

RECOGNIZERS: tuple[type[VaultRecognizer], ...] = (
    ResidentIdRecognizer,
    MobileRecognizer,
    LandlineRecognizer,
    BankCardRecognizer,
    EmailAddressRecognizer,
    PassportRecognizer,
    LicensePlateRecognizer,
    BirthDateRecognizer,
    ChineseAddressRecognizer,
    EnglishAddressRecognizer,
    PolicyNumberRecognizer,
    ClaimNumberRecognizer,
    ChineseNameRecognizer,
    LatinNameRecognizer,
)
"""The recognizer classes, instantiated once per language when a Redactor is first used."""


def build_recognizers(languages: tuple[str, ...]) -> list[VaultRecognizer]:
    return [cls(supported_language=lang) for lang in languages for cls in RECOGNIZERS]
