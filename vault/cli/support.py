"""What every ``customer-vault`` command shares: error mapping, consoles, settings, JSON output.

Errors are mapped to messages and exit codes in one place (:func:`guard`), and
tracebacks are never printed: their frames could hold plaintext.

Exit codes: 0 ok, 1 unexpected failure, 2 bad input or configuration,
3 not found, 4 integrity failure (a ciphertext or key did not authenticate).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from vault import errors
from vault.logs import get_logger
from vault.services.runtime import Vault, open_vault
from vault.settings import Settings

EXIT_CODES: list[tuple[type[errors.VaultError], int]] = [
    (errors.IntegrityError, 4),
    (errors.NotFoundError, 3),
    (errors.ValidationError, 2),
    (errors.ConfigurationError, 2),
    (errors.ConflictError, 2),
]


P = ParamSpec("P")
R = TypeVar("R")


def guard(command: Callable[P, R]) -> Callable[P, R]:
    """Turns vault errors into one clear line on stderr and an exit code; never a traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except errors.VaultError as exc:
            err_console().print(f"error: {exc}", markup=False, highlight=False)
            raise typer.Exit(exit_code(exc)) from None
        except Exception as exc:  # last resort: the frames could hold plaintext
            get_logger("vault.cli").error("cli.unexpected_error", error_type=type(exc).__name__)
            err_console().print(
                f"error: unexpected {type(exc).__name__}; nothing more is shown because "
                "details could contain customer data",
                markup=False,
                highlight=False,
            )
            raise typer.Exit(1) from None

    return run


def exit_code(exc: errors.VaultError) -> int:
    """The CLI's exit status for a vault error (``EXIT_CODES``; 1 for the rest)."""
    return next((c for t, c in EXIT_CODES if isinstance(exc, t)), 1)


def err_console() -> Console:
    return Console(stderr=True, soft_wrap=True)


def out_console() -> Console:
    return Console(soft_wrap=True)


def settings_of(ctx: typer.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


def vault_of(ctx: typer.Context) -> Vault:
    return open_vault(settings_of(ctx))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str, indent=2) + "\n")


JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
