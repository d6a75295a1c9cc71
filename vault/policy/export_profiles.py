"""``policies/exports.yaml``: what an analytics extract may contain, validated completely at load.

A profile names the columns of an extract (each from a field of the schema
registry, with an operator), its quasi-identifiers, ``k`` and the suppression
limit, optional l-diversity, the recipient whose pseudonym scope it uses, the
derived features (:data:`vault.extracts.features.FEATURES`) and the custom
(non-PII) attributes passed through by name.  Like the role policy
(:mod:`vault.policy.loading`), every problem of the file is reported at once,
each with file, line and key path; nothing in the file is trusted to be
sensible, so the rules that keep personal data in are checked here:

* a column's field must be a ``customers`` field of the registry (one row per
  customer; child tables reach an extract only through features);
* a direct identifier is exported only as a pseudonym, and so is the vault's
  own ``customers.id`` (a pseudonym scoped to the recipient cannot be joined
  back to the vault or to another recipient's extract);
* a quasi-identifier of the registry is exported only as a declared
  quasi-identifier of the profile (generalised by the k-anonymity search);
* a sensitive field only generalised (level 1 or above: a band, never the value);
* ``clear`` only for non-PII fields; free text never;
* the l-diversity attribute is a column that is not a quasi-identifier.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import pydantic

from vault.errors import ConfigurationError, NotFoundError, ValidationError
from vault.extracts.features import FEATURES
from vault.masking.base import check_text
from vault.masking.hierarchies import BirthDateHierarchy, build_hierarchy, hierarchy_name
from vault.masking.kanonymity import MAX_NODES, lattice_size
from vault.policy.loading import KeyPath, Problems, line_map, read_yaml
from vault.policy.vocabulary import PURPOSES
from vault.schema import Classification, Field, Kind, registry

FILE_NAME = "exports.yaml"
DEFAULT_PROFILE = "analytics"
DEFAULT_K = 5
DEFAULT_MAX_SUPPRESSION = 0.05
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_WHAT = "export profile"
EXPORT_TABLE = "customers"
_ID_FIELD = "customers.id"


class Operator(enum.StrEnum):
    CLEAR = "clear"
    PSEUDONYMISE = "pseudonymise"
    GENERALISE = "generalise"


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", strict=True, frozen=True)


class _ColumnModel(_Strict):
    field: str
    operator: Literal["clear", "pseudonymise", "generalise"] | None = None
    quasi_identifier: bool = False
    hierarchy: str | None = None
    params: dict[str, Any] = pydantic.Field(default_factory=dict)
    level: int | None = None
    min_level: int = 0


class _LDiversityModel(_Strict):
    attribute: str
    l: int = pydantic.Field(ge=2, le=100)  # noqa: E741 - the l of l-diversity


class _ProfileModel(_Strict):
    description: str
    purpose: str
    recipient: str
    k: int = pydantic.Field(default=DEFAULT_K, ge=2, le=10_000)
    max_suppression: float = pydantic.Field(default=DEFAULT_MAX_SUPPRESSION, ge=0.0, le=0.5)
    l_diversity: _LDiversityModel | None = None
    columns: dict[str, _ColumnModel]
    features: list[str] = pydantic.Field(default_factory=list)
    custom_attributes: list[str] = pydantic.Field(default_factory=list)


class _FileModel(_Strict):
    version: Literal[1]
    profiles: dict[str, _ProfileModel]


@dataclass(frozen=True, slots=True)
class Column:
    """One column of an extract taken from a registry field."""

    name: str
    field: Field
    operator: Operator
    quasi_identifier: bool = False
    hierarchy: str | None = None
    """For generalised columns: the hierarchy (:mod:`vault.masking.hierarchies`)."""
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    level: int | None = None
    """A fixed generalisation level (non-QI generalised columns)."""
    min_level: int = 0
    """The lowest level the k-anonymity search may pick (QI columns)."""

    def build_hierarchy(self, as_of: dt.date) -> Any:
        """The column's hierarchy, ``today`` set to the export's as-of date where it needs one."""
        assert self.hierarchy is not None
        params = dict(self.params)
        if self.hierarchy == BirthDateHierarchy.name:
            params["today"] = as_of
        return build_hierarchy(self.hierarchy, params)


@dataclass(frozen=True, slots=True)
class LDiversity:
    attribute: str
    l: int  # noqa: E741


@dataclass(frozen=True)
class ExportProfile:
    """A validated profile: what one kind of extract contains and how it is protected."""

    name: str
    description: str
    purpose: str
    recipient: str
    k: int
    max_suppression: float
    l_diversity: LDiversity | None
    columns: tuple[Column, ...]
    features: tuple[str, ...]
    custom_attributes: tuple[str, ...]

    @property
    def quasi_identifiers(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.quasi_identifier)

    @property
    def column_names(self) -> tuple[str, ...]:
        """Every column of the extract, in file order."""
        return tuple(c.name for c in self.columns) + self.features + self.custom_attributes

    @property
    def sealed_fields(self) -> tuple[Field, ...]:
        """The encrypted registry fields an export must open (nothing else is decrypted)."""
        return tuple(c.field for c in self.columns if c.field.encrypted)


class ExportProfiles:
    """Every profile of one file."""

    def __init__(self, profiles: Mapping[str, ExportProfile], source: Path | None = None) -> None:
        self._profiles = MappingProxyType(dict(profiles))
        self.source = source

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._profiles)

    def get(self, name: str) -> ExportProfile:
        """The profile called ``name``; ``NotFoundError`` names the file, never guesses."""
        profile = self._profiles.get(name)
        if profile is None:
            where = f" in {self.source}" if self.source else ""
            known = ", ".join(self._profiles)
            raise NotFoundError(f"no export profile named that{where} (profiles: {known})")
        return profile


def load_export_profiles(path: Path) -> ExportProfiles:
    """Read and validate an export profile file; ``ConfigurationError`` lists every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read {_WHAT} file {path}: {exc}") from None
    return parse_export_profiles(text, path)


def parse_export_profiles(text: str, source: Path) -> ExportProfiles:
    node, data = read_yaml(text, source, _WHAT)
    problems = Problems(source, line_map(node), _WHAT)
    if not isinstance(data, dict):
        problems.add((), "the file must be a mapping with 'version' and 'profiles'")
        problems.raise_if_any()
    try:
        parsed = _FileModel.model_validate(data)
    except pydantic.ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            problems.add(tuple(error["loc"]), error["msg"])
        problems.raise_if_any()
        raise
    if not parsed.profiles:
        problems.add(("profiles",), "defines no profile")
    profiles = {
        name: _profile(name, model, problems, ("profiles", name))
        for name, model in parsed.profiles.items()
    }
    problems.raise_if_any()
    return ExportProfiles(profiles, source=source)


def _profile(name: str, model: _ProfileModel, problems: Problems, at: KeyPath) -> ExportProfile:
    if not _NAME.fullmatch(name):
        problems.add(at, "a profile name is lower case letters, digits and _ (at most 64)")
    if model.purpose not in PURPOSES:
        problems.add((*at, "purpose"), f"unknown purpose {model.purpose!r}")
    try:
        check_text("recipient", model.recipient, max_length=64)
        if not _NAME.fullmatch(model.recipient.replace("-", "_")):
            raise ValidationError("recipient", "is lower case letters, digits, - and _")
    except ValidationError as exc:
        problems.add((*at, "recipient"), exc.reason)
    if not model.columns:
        problems.add((*at, "columns"), "names no column")
    columns: list[Column] = []
    seen: set[str] = set()
    for column_name, column_model in model.columns.items():
        where = (*at, "columns", column_name)
        if not _NAME.fullmatch(column_name):
            problems.add(where, "a column name is lower case letters, digits and _")
        seen.add(column_name)
        column = _column(column_name, column_model, problems, where)
        if column is not None:
            columns.append(column)
    for index, feature in enumerate(model.features):
        where = (*at, "features", index)
        if feature not in FEATURES:
            problems.add(where, f"unknown feature {feature!r} (known: {', '.join(FEATURES)})")
        elif feature in seen:
            problems.add(where, f"column {feature!r} is named twice")
        seen.add(feature)
    for index, attribute in enumerate(model.custom_attributes):
        where = (*at, "custom_attributes", index)
        if not _NAME.fullmatch(attribute):
            problems.add(where, "a custom attribute name is lower case letters, digits and _")
        elif attribute in seen:
            problems.add(where, f"column {attribute!r} is named twice")
        elif any(attribute == f.name for t in registry().values() for f in t.fields):
            problems.add(where, f"{attribute!r} is a registry field, not a custom attribute")
        seen.add(attribute)
    quasi = [c for c in columns if c.quasi_identifier]
    if not quasi and columns:
        problems.add((*at, "columns"), "declares no quasi-identifier (k-anonymity needs one)")
    levels = [c.build_hierarchy(dt.date(2000, 1, 1)).levels for c in quasi]
    if quasi and lattice_size(levels, [c.min_level for c in quasi]) > MAX_NODES:
        problems.add((*at, "columns"), f"too many quasi-identifiers: over {MAX_NODES} nodes")
    l_div = None
    if model.l_diversity is not None:
        where = (*at, "l_diversity", "attribute")
        attribute = model.l_diversity.attribute
        by_name = {c.name: c for c in columns}
        if attribute in by_name and by_name[attribute].quasi_identifier:
            problems.add(where, "the sensitive attribute cannot be a quasi-identifier")
        elif (attribute not in by_name and attribute not in model.custom_attributes) or (
            attribute in by_name and by_name[attribute].operator is not Operator.GENERALISE
        ):
            problems.add(where, "must be a generalised column or a custom attribute")
        l_div = LDiversity(attribute, model.l_diversity.l)
    return ExportProfile(
        name=name,
        description=model.description,
        purpose=model.purpose,
        recipient=model.recipient,
        k=model.k,
        max_suppression=model.max_suppression,
        l_diversity=l_div,
        columns=tuple(columns),
        features=tuple(model.features),
        custom_attributes=tuple(model.custom_attributes),
    )


def _column(name: str, model: _ColumnModel, problems: Problems, at: KeyPath) -> Column | None:
    table_name, dot, field_name = model.field.partition(".")
    tables = registry()
    if not dot or table_name not in tables:
        problems.add((*at, "field"), f"{model.field!r} is not table.field of the schema registry")
        return None
    if table_name != EXPORT_TABLE:
        problems.add(
            (*at, "field"),
            f"only {EXPORT_TABLE} fields are columns (one row per customer); "
            "other tables reach an extract through features",
        )
        return None
    try:
        reg = tables[table_name].field(field_name)
    except KeyError:
        problems.add((*at, "field"), f"unknown field {model.field}")
        return None
    operator = Operator(model.operator) if model.operator else None
    if model.quasi_identifier:
        if operator not in (None, Operator.GENERALISE):
            problems.add((*at, "operator"), "a quasi-identifier is generalised by the search")
            return None
        operator = Operator.GENERALISE
    if operator is None:
        problems.add((*at, "operator"), "is required: clear, pseudonymise or generalise")
        return None
    problem = _misfit(reg, operator, model)
    if problem is not None:
        problems.add((*at, "operator"), problem)
        return None
    hierarchy = None
    if operator is Operator.GENERALISE:
        hierarchy = model.hierarchy or hierarchy_name(reg.pii_type)
        column = Column(name, reg, operator, model.quasi_identifier, hierarchy, model.params)
        try:
            built = column.build_hierarchy(dt.date(2000, 1, 1))
        except ValidationError as exc:
            problems.add((*at, "params" if model.params else "hierarchy"), str(exc))
            return None
        if model.quasi_identifier:
            if model.level is not None:
                problems.add((*at, "level"), "the search picks a quasi-identifier's level")
                return None
            if not 0 <= model.min_level < built.levels:
                problems.add((*at, "min_level"), f"must be in 0-{built.levels - 1}")
                return None
        else:
            if model.level is None or not 0 <= model.level < built.levels:
                problems.add((*at, "level"), f"is required, in 0-{built.levels - 1}")
                return None
            if reg.classification is Classification.SENSITIVE and model.level == 0:
                problems.add((*at, "level"), f"{reg.qualified_name} is sensitive: level 1 or more")
                return None
    elif model.hierarchy or model.params or model.level is not None or model.min_level:
        problems.add(at, "hierarchy, params, level and min_level apply only to generalise")
        return None
    return Column(
        name=name,
        field=reg,
        operator=operator,
        quasi_identifier=model.quasi_identifier,
        hierarchy=hierarchy,
        params=MappingProxyType(dict(model.params)),
        level=model.level,
        min_level=model.min_level,
    )


def _misfit(reg: Field, operator: Operator, model: _ColumnModel) -> str | None:
    """Why ``operator`` may not export ``reg``, or ``None``."""
    name = reg.qualified_name
    if reg.free_text or reg.kind is Kind.JSON:
        return f"{name} cannot be exported (free text and JSON never leave)"
    if reg.classification is Classification.DIRECT_IDENTIFIER or name == _ID_FIELD:
        if operator is not Operator.PSEUDONYMISE:
            return f"{name} identifies a customer: only pseudonymise"
        return None
    if operator is Operator.PSEUDONYMISE:
        if reg.kind is not Kind.TEXT:
            return f"pseudonymise applies to text fields, not {name} ({reg.kind.value})"
        return None
    if reg.classification is Classification.QUASI_IDENTIFIER and not model.quasi_identifier:
        return f"{name} is a quasi-identifier: declare quasi_identifier: true"
    if reg.classification is Classification.SENSITIVE and operator is not Operator.GENERALISE:
        return f"{name} is sensitive: only generalise (a band, level 1 or more)"
    if operator is Operator.CLEAR and reg.classification is not Classification.NON_PII:
        return f"clear applies only to non-PII fields, not {name}"
    return None
