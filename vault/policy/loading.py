"""Reading ``policies/roles.yaml`` into :class:`~vault.policy.policies.Policies`, or refusing to.

Validation happens once, at start-up, and is complete: every problem in the
file is reported in one :class:`~vault.errors.ConfigurationError`, each with the
file, the line and the key path (``roles.customer_service.fields.customers.mobile``).
Checked are the structure (unknown keys, wrong types: pydantic with
``extra="forbid"`` and strict types), duplicate YAML keys (which YAML would
otherwise let the last one win silently), and the meaning: every action,
purpose and consent channel against the closed sets of
:mod:`vault.policy.vocabulary`, every table and field against the schema
registry, and every view against its field:

* ``masked`` only for personal fields (those with a PII type);
* ``pseudonym`` only for text fields, and not for free text;
* ``clear_if_consent`` only for contact fields (mobile, email, address).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from vault.errors import ConfigurationError
from vault.policy.decision import FieldView
from vault.policy.policies import Policies, RolePolicy
from vault.policy.vocabulary import ACTIONS, CONSENT_CHANNELS, PURPOSES, VIEW_TABLES, Scope, View
from vault.schema import Field, Kind, PiiType, registry

KeyPath = tuple[str | int, ...]

_ROLE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_CONTACT_TYPES = frozenset((PiiType.MOBILE, PiiType.EMAIL, PiiType.ADDRESS))
_CONDITIONAL = "clear_if_consent"
_VIEW_NAMES = ", ".join(v.value for v in View)


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", strict=True, frozen=True)


class _RoleModel(_Strict):
    description: str
    scope: Literal["all", "org_unit"]
    purposes: list[str]
    actions: list[str]
    action_purposes: dict[str, list[str]] = pydantic.Field(default_factory=dict)
    fields: dict[str, dict[str, Any]] = pydantic.Field(default_factory=dict)


class _FileModel(_Strict):
    version: Literal[1]
    roles: dict[str, _RoleModel]


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys instead of keeping the last."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    raise ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"duplicate key {key_node.value!r}",
                        key_node.start_mark,
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


def _lines(
    node: Node, path: KeyPath = (), out: dict[KeyPath, int] | None = None
) -> dict[KeyPath, int]:
    """The 1-based line of every key path in the document."""
    found: dict[KeyPath, int] = {} if out is None else out
    found.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode):
                child = (*path, str(key_node.value))
                found.setdefault(child, key_node.start_mark.line + 1)
                _lines(value_node, child, found)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _lines(item, (*path, index), found)
    return found


class _Problems:
    """Collects every problem of a file, each with its line and key path."""

    def __init__(
        self, source: Path, lines: Mapping[KeyPath, int], what: str = "role policy"
    ) -> None:
        self.source = source
        self.lines = lines
        self.what = what
        self.found: list[str] = []

    def add(self, path: KeyPath, problem: str) -> None:
        line = next(
            (self.lines[path[:n]] for n in range(len(path), -1, -1) if path[:n] in self.lines),
            None,
        )
        where = f"{self.source}:{line}" if line is not None else str(self.source)
        dotted = ".".join(str(p) for p in path) or "(top level)"
        self.found.append(f"{where}: {dotted}: {problem}")

    def raise_if_any(self) -> None:
        if not self.found:
            return
        if len(self.found) == 1:
            raise ConfigurationError(f"invalid {self.what} {self.found[0]}")
        listing = "\n".join(f"  {p}" for p in self.found)
        raise ConfigurationError(
            f"invalid {self.what} {self.source}: {len(self.found)} problems\n{listing}"
        )


def load_policies(path: Path) -> Policies:
    """Read and validate a role policy file; ``ConfigurationError`` lists every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read role policy {path}: {exc}") from None
    return parse_policies(text, path)


def parse_policies(text: str, source: Path) -> Policies:
    """Validate the text of a role policy file; ``source`` names it in error messages."""
    node, data = read_yaml(text, source, "role policy")
    problems = _Problems(source, _lines(node) if node is not None else {})
    if not isinstance(data, dict):
        problems.add((), "the file must be a mapping with 'version' and 'roles'")
        problems.raise_if_any()
    try:
        parsed = _FileModel.model_validate(data)
    except pydantic.ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            problems.add(tuple(error["loc"]), error["msg"])
        problems.raise_if_any()
        raise  # unreachable: a ValidationError has at least one error
    if not parsed.roles:
        problems.add(("roles",), "defines no role")
    roles = {
        name: _role(name, model, problems, ("roles", name)) for name, model in parsed.roles.items()
    }
    problems.raise_if_any()
    return Policies(roles, source=source)


def read_yaml(text: str, source: Path, what: str) -> tuple[Node | None, Any]:
    """The document's node (for line numbers) and data; refuses duplicate keys and bad YAML."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "not valid YAML"
        raise ConfigurationError(f"invalid {what} {source}{line}: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"invalid {what} {source}: {exc}") from None
    finally:
        loader.dispose()
    return node, data


def line_map(node: Node | None) -> dict[KeyPath, int]:
    """The 1-based line of every key path of a document read by :func:`read_yaml`."""
    return _lines(node) if node is not None else {}


Problems = _Problems
"""Collects a file's problems with lines and key paths (shared with the export profiles)."""


def _names(
    values: list[str], known: Mapping[str, object], kind: str, at: KeyPath, problems: _Problems
) -> frozenset[str]:
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value not in known:
            problems.add((*at, index), f"unknown {kind} {value!r}")
        elif value in seen:
            problems.add((*at, index), f"{kind} {value!r} is listed twice")
        seen.add(value)
    return frozenset(v for v in values if v in known)


def _role(name: str, model: _RoleModel, problems: _Problems, at: KeyPath) -> RolePolicy:
    if not _ROLE_NAME.fullmatch(name):
        problems.add(at, "a role name is lower case letters, digits and _ (at most 64)")
    actions = _names(model.actions, ACTIONS, "action", (*at, "actions"), problems)
    purposes = _names(model.purposes, PURPOSES, "purpose", (*at, "purposes"), problems)
    narrowed: dict[str, frozenset[str]] = {}
    for action, allowed in model.action_purposes.items():
        where = (*at, "action_purposes", action)
        if action not in ACTIONS:
            problems.add(where, f"unknown action {action!r}")
            continue
        if action not in actions:
            problems.add(where, f"action {action!r} is not in the role's actions")
            continue
        only = _names(allowed, PURPOSES, "purpose", where, problems)
        for index, purpose in enumerate(allowed):
            if purpose in PURPOSES and purpose not in purposes:
                problems.add((*where, index), f"purpose {purpose!r} is not in the role's purposes")
        if not allowed:
            problems.add(where, "lists no purpose (remove the action instead)")
        narrowed[action] = only & purposes
    views: dict[str, FieldView] = {}
    tables = registry()
    for table_name, fields in model.fields.items():
        where = (*at, "fields", table_name)
        if table_name not in VIEW_TABLES:
            known = "is not in the schema registry" if table_name not in tables else "has no views"
            problems.add(where, f"table {table_name!r} {known} (views: {', '.join(VIEW_TABLES)})")
            continue
        table = tables[table_name]
        for field_name, raw in fields.items():
            field_at = (*where, field_name)
            try:
                field = table.field(field_name)
            except KeyError:
                problems.add(field_at, f"unknown field {table_name}.{field_name}")
                continue
            if field.redaction_of is not None:
                problems.add(
                    field_at,
                    f"{field.qualified_name} is the stored redaction of "
                    f"{table_name}.{field.redaction_of}; it has no view of its own "
                    f"(give one to {table_name}.{field.redaction_of})",
                )
                continue
            view = _view(raw, field, field_at, problems)
            if view is not None:
                views[field.qualified_name] = view
    return RolePolicy(
        name=name,
        description=model.description,
        scope=Scope(model.scope),
        actions=actions,
        purposes=purposes,
        action_purposes=narrowed,
        views=views,
    )


def _view(raw: object, field: Field, at: KeyPath, problems: _Problems) -> FieldView | None:
    """One field's view from the file, checked against what the field is."""
    if isinstance(raw, str):
        try:
            view = FieldView(View(raw))
        except ValueError:
            problems.add(
                at, f"unknown view {raw!r} (expected {_VIEW_NAMES} or {_CONDITIONAL}: {{...}})"
            )
            return None
    elif isinstance(raw, dict):
        conditional = _conditional(raw, at, problems)
        if conditional is None:
            return None
        view = conditional
    else:
        problems.add(at, f"a view is one of {_VIEW_NAMES} or a {_CONDITIONAL} mapping")
        return None
    problem = _misfit(view, field)
    if problem is not None:
        problems.add(at, problem)
        return None
    return view


def _conditional(raw: dict[Any, Any], at: KeyPath, problems: _Problems) -> FieldView | None:
    if set(raw) != {_CONDITIONAL}:
        problems.add(at, f"a conditional view has exactly one key, {_CONDITIONAL}")
        return None
    at = (*at, _CONDITIONAL)
    condition = raw[_CONDITIONAL]
    if not isinstance(condition, dict) or set(condition) != {"channels"}:
        problems.add(at, "expected {channels: [...]}")
        return None
    channels = condition["channels"]
    at = (*at, "channels")
    if not isinstance(channels, list) or not channels:
        problems.add(at, "expected a non-empty list of consent channels")
        return None
    if not all(isinstance(c, str) for c in channels):
        problems.add(at, "consent channels are names")
        return None
    known = _names(channels, dict.fromkeys(CONSENT_CHANNELS), "consent channel", at, problems)
    if len(known) != len(channels):
        return None
    return FieldView(View.CLEAR, consent_channels=known)


def _misfit(view: FieldView, field: Field) -> str | None:
    """Why ``view`` cannot apply to ``field``, or ``None`` if it can."""
    name = field.qualified_name
    if view.conditional and field.pii_type not in _CONTACT_TYPES:
        return f"{_CONDITIONAL} applies only to contact fields (mobile, email, address), not {name}"
    if view.view is View.MASKED and field.pii_type is None:
        return f"masked applies only to personal fields; {name} has no PII type (clear or hidden)"
    if view.view is View.PSEUDONYM and (field.kind is not Kind.TEXT or field.free_text):
        return f"pseudonym applies only to short text fields, not {name} ({field.kind.value})"
    return None
