"""``customer-vault export``: a k-anonymous analytics extract into a new directory.

The profile comes from ``policies/exports.yaml`` (or ``--profiles FILE``) and
is validated before anything is read.  The export is audited as the operator
(intent, then result with row counts).  Output names counts, levels and the
data file's digest, never a value.  docs/exports.md explains the extract.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from vault import errors
from vault.audit import AuditLog, signer_from_keyring
from vault.cli.support import JsonFlag, guard, out_console, print_json, settings_of, vault_of
from vault.extracts.output import Format
from vault.policy.export_profiles import DEFAULT_PROFILE, FILE_NAME, load_export_profiles
from vault.progress import for_terminal
from vault.services.exports import ExportRequest, export_as_operator


def register(app: typer.Typer) -> None:
    """Add ``export`` to the root ``customer-vault`` command."""
    app.command("export")(export)


@guard
def export(
    ctx: typer.Context,
    out: Annotated[
        Path,
        typer.Option("--out", help="New (or empty) directory for the data file and manifest.json."),
    ],
    profile: Annotated[
        str, typer.Option("--profile", help="Profile name in the profiles file.")
    ] = DEFAULT_PROFILE,
    profiles: Annotated[
        Path | None,
        typer.Option(
            "--profiles", help=f"Profiles file (default: the policy directory's {FILE_NAME})."
        ),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Data file format.")] = Format.PARQUET,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="Day ages, tenure and recency refer to (YYYY-MM-DD; default today)."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Reader processes (default: one per core)."),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Write a de-identified, k-anonymous extract of every customer (docs/exports.md)."""
    settings = settings_of(ctx)
    source = profiles if profiles is not None else settings.policies_dir / FILE_NAME
    chosen = load_export_profiles(source).get(profile)
    day = None
    if as_of is not None:
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError:
            raise errors.ValidationError("--as-of", "is not a date (YYYY-MM-DD)") from None
    request = ExportRequest(profile=chosen, out=out, fmt=fmt, as_of=day, workers=workers)
    vault = vault_of(ctx)
    try:
        audit = AuditLog(vault.engine, signer_from_keyring(vault.keyring), clock=vault.clock)
        result = export_as_operator(vault, audit, request, for_terminal())
    finally:
        vault.close()
    m = result.manifest
    if json_out:
        print_json(m)
        return
    levels = ", ".join(f"{c}={v['level_name']}" for c, v in m["generalisation"].items())
    console = out_console()
    console.print(
        f"exported {m['rows']} rows ({m['suppressed_rows']} suppressed) to {result.data_file}",
        markup=False,
        highlight=False,
    )
    console.print(
        f"k={m['k']} (achieved {m['k_achieved']}); levels: {levels}", markup=False, highlight=False
    )
    for note in m["notes"]:
        console.print(f"note: {note}", markup=False, highlight=False)
