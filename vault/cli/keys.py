"""``customer-vault keys``: key status, rotation and retirement."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import typer
from rich.table import Table

from vault.cli.support import JsonFlag, err_console, guard, out_console, print_json, vault_of
from vault.errors import ValidationError
from vault.progress import for_terminal
from vault.services import keys as key_service

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Keys: status, rotation (online, resumable) and retirement.",
)

Family = Annotated[
    str,
    typer.Option(
        "--family",
        help=(
            "Key family: kek (re-wraps every data key), index (re-computes every blind "
            "index) or audit (checkpoint signing key)."
        ),
    ),
]


@app.command("status")
@guard
def status(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Every key version: state, age, data keys wrapped (KEKs), and keys past their cryptoperiod.

    The cryptoperiod is two years of use (NIST SP 800-57 Part 1) for every family.
    """
    vault = vault_of(ctx)
    try:
        versions = key_service.status(vault)
    finally:
        vault.close()
    rows = [_status_row(v) for v in versions]
    overdue = [r for r in rows if r["past_cryptoperiod"]]
    if json_out:
        print_json(
            {
                "cryptoperiod_days": key_service.CRYPTOPERIOD.days,
                "versions": rows,
                "past_cryptoperiod": len(overdue),
            }
        )
        return
    table = Table("family", "version", "state", "created", "age (days)", "data keys", "note")
    for r in rows:
        note = "PAST CRYPTOPERIOD: rotate" if r["past_cryptoperiod"] else ""
        if r["state"] == "retired":
            note = f"retired {r['retired_at'][:10]}"
        table.add_row(
            r["family"],
            str(r["version"]),
            r["state"],
            r["created_at"][:10],
            str(r["age_days"]),
            "" if r["data_keys"] is None else str(r["data_keys"]),
            note,
        )
    out_console().print(table)
    if overdue:
        err_console().print(f"{len(overdue)} key version(s) past the two-year cryptoperiod")


def _status_row(version: key_service.VersionStatus) -> dict[str, Any]:
    row = dataclasses.asdict(version)
    row["created_at"] = version.created_at.isoformat()
    row["retired_at"] = version.retired_at.isoformat() if version.retired_at else None
    return row


@app.command("rotate")
@guard
def rotate(
    ctx: typer.Context,
    family: Family = "kek",
    batch_size: Annotated[
        int, typer.Option(min=1, max=100_000, help="Data keys re-wrapped per transaction.")
    ] = 1000,
    pause: Annotated[
        float,
        typer.Option(min=0.0, max=60.0, help="Seconds to rest between batches (eases load)."),
    ] = 0.0,
    json_out: JsonFlag = False,
) -> None:
    """Rotate a key family online; run again after an interruption to finish the rotation.

    For the KEK: adds a version, makes it primary and re-wraps every data key under
    it in batches (no field is re-encrypted); running API workers pick up the new
    keyring by themselves.  Back up the keyring file again afterwards.
    """
    vault = vault_of(ctx)
    try:
        if family == "kek":
            result = key_service.rotate_kek(
                vault, batch_size=batch_size, pause=pause, progress=for_terminal()
            )
        elif family == "index":
            result = key_service.rotate_index_key(
                vault, batch_size=batch_size, progress=for_terminal()
            )
        elif family == "audit":
            result = key_service.rotate_audit_key(vault)
        else:
            raise ValidationError("--family", "must be kek, index or audit")
    finally:
        vault.close()
    summary = dataclasses.asdict(result) | {"seconds": round(result.seconds, 3)}
    if json_out:
        print_json(summary)
        return
    verb = "resumed and finished" if result.resumed else "rotated"
    work = {"kek": "data keys re-wrapped", "index": "rows re-indexed"}.get(family, "rows changed")
    out_console().print(
        f"{family} {verb}: primary is now version {result.to_version}; "
        f"{result.rewrapped} {work} in {result.seconds:.1f}s"
    )
    if result.remaining:
        err_console().print(
            f"{result.remaining} data keys are still under an old version: run this again"
        )
        raise typer.Exit(1)


@app.command("retire")
@guard
def retire(
    ctx: typer.Context,
    version: Annotated[int, typer.Option("--version", min=1, help="The version to retire.")],
    family: Family = "kek",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Destroy an old key version's material (refused while anything still uses it).

    A retired KEK can no longer unwrap anything: backups taken before the rotation
    need the keyring file backed up with them.  A retired audit key keeps its
    public half so the checkpoints it signed stay verifiable.
    """
    if not yes:
        if not typer.get_text_stream("stdin").isatty():
            raise ValidationError("--yes", "is required when not asking on a terminal")
        typer.confirm(f"Destroy {family} key version {version} for good?", abort=True)
    vault = vault_of(ctx)
    try:
        key_service.retire_version(vault, family, version)
    finally:
        vault.close()
    if json_out:
        print_json({"family": family, "version": version, "state": "retired"})
    else:
        out_console().print(f"{family} version {version} retired; its key material is destroyed")
