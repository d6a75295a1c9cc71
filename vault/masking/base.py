"""What every masking operator is: a named class, configured once, applied many times.

Operators are built from parameters (a policy file, an export request) and
then applied to thousands of values.  Checking the parameters belongs to
building, never to applying: a bad ``level`` or an empty ``scope`` must stop an
export before the first row is read, not half-way through it, and the hot
path then carries no checks it does not need.  Hence the split every operator
follows (after presidio's ``validate``/``operate``):

* the constructor takes typed arguments and validates them;
* :meth:`Operator.from_params` reads an untyped mapping into those arguments,
  rejecting unknown keys so a misspelt parameter is not silently ignored;
* :meth:`Operator.apply` transforms one value and never raises for a bad parameter.

Errors are :class:`~vault.errors.ValidationError` naming ``operator.parameter``,
never the parameter's value (it may be a key).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar, Generic, Self, TypeVar, overload

from vault.errors import ValidationError

REDACTED = "<REDACTED>"
"""What a value becomes when nothing of it may be shown (and what unknown types get)."""

MASK_CHAR = "*"

In = TypeVar("In", contravariant=True)
Out = TypeVar("Out", covariant=True)
T = TypeVar("T")


class Operator(ABC, Generic[In, Out]):
    """One way of hiding a value, registered under :attr:`name`."""

    __slots__ = ()
    name: ClassVar[str]
    """The name policies and export requests use to ask for this operator."""

    @classmethod
    @abstractmethod
    def from_params(cls, params: Mapping[str, object]) -> Self:
        """Check untyped parameters and build a ready operator (raises ``ValidationError``)."""

    @abstractmethod
    def apply(self, value: In) -> Out:
        """Hide one value.  Parameters were checked when the operator was built."""


class _Missing:
    """Marks a parameter without a default (``None`` is a legitimate default)."""


_MISSING = _Missing()


class Params:
    """Typed, consuming access to an operator's untyped parameters.

    Each :meth:`take` removes a key; :meth:`finish` then rejects whatever is
    left, which is how a misspelt parameter (``levle: 2``) fails loudly instead
    of leaving the default in place.
    """

    def __init__(self, operator: str, params: Mapping[str, object]) -> None:
        self._operator = operator
        self._left = dict(params)

    def field(self, name: str) -> str:
        """The name a ``ValidationError`` about parameter ``name`` carries."""
        return f"{self._operator}.{name}"

    @overload
    def take(self, name: str, kind: type[T]) -> T: ...
    @overload
    def take(self, name: str, kind: type[T], default: None) -> T | None: ...
    @overload
    def take(self, name: str, kind: type[T], default: T) -> T: ...

    def take(self, name: str, kind: type[T], default: T | _Missing | None = _MISSING) -> T | None:
        if name not in self._left:
            if isinstance(default, _Missing):
                raise ValidationError(self.field(name), "is required")
            return default
        value = self._left.pop(name)
        if value is None and default is None:
            return None
        # bool is an int to isinstance, but never a meaningful count of days or levels.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValidationError(self.field(name), f"must be of type {kind.__name__}")
        return value

    def take_raw(self, name: str) -> object:
        """A required parameter whose type the operator checks itself (keys)."""
        if name not in self._left:
            raise ValidationError(self.field(name), "is required")
        return self._left.pop(name)

    def rest(self) -> dict[str, object]:
        """Hand the parameters not taken yet to someone else (who then finishes them)."""
        left, self._left = self._left, {}
        return left

    def finish(self) -> None:
        if self._left:
            unknown = sorted(self._left)[0]
            raise ValidationError(self.field(unknown), "is not a parameter of this operator")


def check_text(field: str, value: str, *, max_length: int = 200) -> None:
    """Shared rule for short textual parameters (scopes, replacements, domains)."""
    if not value:
        raise ValidationError(field, "must not be empty")
    if len(value) > max_length:
        raise ValidationError(field, f"longer than {max_length} characters")
    if not value.isprintable():
        raise ValidationError(field, "has characters that are not printable")
