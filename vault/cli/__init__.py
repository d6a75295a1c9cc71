"""``customer-vault``: the command line (Typer). ``app`` is the root command."""

from vault.cli.app import app, main

__all__ = ["app", "main"]
