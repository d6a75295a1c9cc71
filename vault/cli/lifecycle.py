"""Data lifecycle commands: ``erase``, ``retention run``, ``backup``, ``restore``.

Destructive commands ask before they act: on a terminal they prompt, and when
stdin is not a terminal (a script, cron) they refuse with exit code 2 unless
``--yes`` says the caller means it.  Output names customer ids, dates, counts
and digests, never a personal value.  docs/lifecycle.md explains the semantics.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from vault import errors
from vault.audit import AuditLog, signer_from_keyring
from vault.cli.support import JsonFlag, err_console, guard, out_console, print_json, settings_of
from vault.cli.support import vault_of as _vault_of
from vault.policy.retention import FILE_NAME as RETENTION_FILE
from vault.policy.retention import load_retention
from vault.progress import for_terminal
from vault.services import backup as backup_service
from vault.services.erasure import ERASURE_REQUEST, Operator, erase_as_operator
from vault.services.retention import run_retention

YesFlag = Annotated[
    bool,
    typer.Option("--yes", "-y", help="Do not ask for confirmation (needed without a terminal)."),
]

retention_app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Retention: erase customers kept longer than policies/retention.yaml allows.",
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root ``customer-vault`` command."""
    app.command("erase")(erase)
    app.command("backup")(backup)
    app.command("restore")(restore)
    app.add_typer(retention_app, name="retention")


def _confirmed(question: str, yes: bool) -> bool:
    """``--yes``, or a yes on a terminal; without a terminal and ``--yes``: exit 2."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise errors.ValidationError(
            "--yes", "stdin is not a terminal: pass --yes to confirm this destructive command"
        )
    return typer.confirm(question, default=False, err=True)


@guard
def erase(
    ctx: typer.Context,
    customer_id: Annotated[str, typer.Argument(help="The vault's customer id (a UUID).")],
    yes: YesFlag = False,
    json_out: JsonFlag = False,
) -> None:
    """Erase a customer for good: destroy its data key, delete its rows; audited, tombstoned."""
    try:
        cid = uuid.UUID(customer_id)
    except ValueError:
        raise errors.ValidationError("CUSTOMER_ID", "is not a UUID") from None
    if not _confirmed(f"erase customer {cid} and all its data for good?", yes):
        err_console().print("not erased")
        raise typer.Exit(1)
    vault = _vault_of(ctx)
    try:
        audit = AuditLog(vault.engine, signer_from_keyring(vault.keyring), clock=vault.clock)
        result = erase_as_operator(vault, audit, Operator(purpose=ERASURE_REQUEST), cid)
    finally:
        vault.close()
    if json_out:
        print_json(result.as_dict())
    elif result.outcome == "already_erased":
        out_console().print(f"customer {cid} was already erased on {result.erased_at:%Y-%m-%d}")
    else:
        rows = sum(result.rows_deleted.values())
        out_console().print(f"erased customer {cid}: data key destroyed, {rows} rows deleted")


@retention_app.command("run")
@guard
def retention_run(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list who would be erased; change nothing.")
    ] = False,
    yes: YesFlag = False,
    json_out: JsonFlag = False,
) -> None:
    """Erase every customer past the retention period (ids and last-activity dates shown only)."""
    settings = settings_of(ctx)
    policy = load_retention(settings.policies_dir / RETENTION_FILE)
    vault = _vault_of(ctx)
    try:
        if not dry_run:
            preview = run_retention(vault, policy, dry_run=True)
            if preview["due"] and not _confirmed(
                f"erase {len(preview['due'])} customers past retention for good?", yes
            ):
                err_console().print("nothing erased")
                raise typer.Exit(1)
        report = run_retention(vault, policy, dry_run=dry_run, progress=for_terminal())
    finally:
        vault.close()
    if json_out:
        print_json(report)
        return
    for entry in report["due"]:
        out_console().print(f"{entry['customer_id']}  last activity {entry['last_activity']}")
    verb = "would be erased" if dry_run else "erased"
    count = len(report["due"]) if dry_run else report["erased"]
    out_console().print(
        f"{count} customers {verb} (no activity since before {report['cutoff']}, "
        f"policy: {report['inactive_after_days']} days)"
    )


@guard
def backup(
    ctx: typer.Context,
    out: Annotated[Path, typer.Argument(help="The archive to write (must not exist).")],
    json_out: JsonFlag = False,
) -> None:
    """Write an encrypted, authenticated snapshot of the whole database (mode 0600)."""
    vault = _vault_of(ctx)
    try:
        result = backup_service.backup(vault, out, for_terminal())
    finally:
        vault.close()
    if json_out:
        print_json(result)
        return
    _print_manifest("backup written", result)


@guard
def restore(
    ctx: typer.Context,
    archive: Annotated[Path, typer.Argument(help="A backup archive written by `backup`.")],
    yes: YesFlag = False,
    json_out: JsonFlag = False,
) -> None:
    """Verify a backup completely, then restore it into the configured database."""
    result = backup_service.restore(
        settings_of(ctx),
        archive,
        confirm=lambda question: _confirmed(question, yes),
        progress=for_terminal(),
    )
    if json_out:
        print_json(result)
        return
    _print_manifest("restored", {"archive": result["archive"], **result["manifest"]})
    out_console().print(
        f"erasures re-applied: {result['tombstones_reapplied']}; "
        f"schema at {', '.join(result['schema_revisions'])}"
    )


def _print_manifest(title: str, manifest: dict[str, Any]) -> None:
    console = out_console()
    console.print(f"{title}: {manifest['archive']}")
    console.print(
        f"  {manifest['backend']} snapshot of {manifest['created_at']}, schema "
        f"{', '.join(manifest['schema_revisions'])}, {manifest['plaintext_bytes']} bytes, "
        f"sha256 {manifest['plaintext_sha256']}"
    )
    counts = manifest["row_counts"]
    console.print(
        "  rows: " + ", ".join(f"{name} {counts[name]}" for name in sorted(counts) if counts[name])
    )
