"""``policies/retention.yaml``: how long an inactive customer is kept, validated when loaded.

A building block like the role policy: reads one small file, checks it
completely (unknown keys, wrong types, duplicate keys, out-of-range values are
a :class:`~vault.errors.ConfigurationError` naming the file and key), and
decides nothing about the database.  :mod:`vault.services.retention` applies it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pydantic
import yaml

from vault.errors import ConfigurationError
from vault.policy.loading import _Loader

FILE_NAME = "retention.yaml"
MIN_DAYS = 365
"""A floor, so that a typo (``inactive_after_days: 3``) cannot erase the whole book."""
MAX_DAYS = 36_500


class _RetentionModel(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", strict=True, frozen=True)

    version: Literal[1]
    inactive_after_days: int = pydantic.Field(ge=MIN_DAYS, le=MAX_DAYS)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    inactive_after_days: int

    def cutoff(self, now: dt.datetime) -> dt.datetime:
        """Activity before this instant is too old to keep a customer for."""
        return now - dt.timedelta(days=self.inactive_after_days)


def load_retention(path: Path) -> RetentionPolicy:
    """Read and validate a retention policy file (``ConfigurationError`` names every problem)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise ConfigurationError(f"cannot read retention policy {path}") from None
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigurationError(f"invalid retention policy {path}{line}: {problem}") from None
    finally:
        loader.dispose()
    try:
        model = _RetentionModel.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(f"invalid retention policy {path}: {problems}") from None
    return RetentionPolicy(inactive_after_days=model.inactive_after_days)
