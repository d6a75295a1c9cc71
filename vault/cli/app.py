"""``customer-vault``: the root command, its options, and the everyday commands.

Every command builds what it needs in its own entry (settings, engine,
keyring) and passes it to a service; nothing is built at import time.  Errors
are mapped to messages and exit codes once, in :func:`vault.cli.support.guard`.
Larger command groups live in their own modules beside this one and are
registered at the end of this file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from vault import errors
from vault.cli import exports as export_commands
from vault.cli import keys as keys_commands
from vault.cli import lifecycle
from vault.cli.support import (
    JsonFlag,
    err_console,
    exit_code,
    guard,
    out_console,
    print_json,
    settings_of,
    vault_of,
)
from vault.keyring import Pkcs11Config, create_keyring, load_keyring
from vault.keyring_edits import add_missing_families_to_file
from vault.logs import configure_logging, get_logger
from vault.progress import for_terminal
from vault.services import customers as customer_service
from vault.services.importing import CountingRejects, CsvRejects, ImportSources, import_files
from vault.services.runtime import Vault, close_provider, key_provider, open_vault
from vault.settings import Settings
from vault.storage import migrate
from vault.storage.engine import create_vault_engine

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    help="Customer Data Vault: encrypted customer 360 store for an insurer.",
)
db_app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, help="Database schema.")
app.add_typer(db_app, name="db")
principals_app = typer.Typer(
    no_args_is_help=True, pretty_exceptions_enable=False, help="API principals and their keys."
)
app.add_typer(principals_app, name="principals")
audit_app = typer.Typer(
    no_args_is_help=True, pretty_exceptions_enable=False, help="The tamper-evident audit log."
)
app.add_typer(audit_app, name="audit")
redactions_app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Stored redactions of free text (worked out at write time, used by reads).",
)
app.add_typer(redactions_app, name="redactions")


@app.callback()
@guard
def _root(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="VAULT_DATABASE_URL",
            help="sqlite:///PATH or postgresql://... (default: ./vault-data/vault.db).",
            show_envvar=True,
        ),
    ] = None,
    keys: Annotated[
        Path | None,
        typer.Option(
            "--keys",
            envvar="VAULT_KEYS",
            help="Keyring file (default: ./vault-data/keys.toml).",
            show_envvar=True,
        ),
    ] = None,
    policies: Annotated[
        Path | None,
        typer.Option(
            "--policies",
            envvar="VAULT_POLICIES",
            help="Policy directory (default: this checkout's policies/).",
            show_envvar=True,
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="Log level for the JSON logs on stderr.")] = "INFO",
) -> None:
    configure_logging(log_level.upper())
    ctx.obj = Settings.resolve(database_url=database_url, keys_path=keys, policies_dir=policies)


@app.command()
@guard
def init(
    ctx: typer.Context,
    hsm_module: Annotated[
        Path | None,
        typer.Option(
            "--hsm-module",
            help="Keep the KEKs in a PKCS#11 token: path of the module "
            "(e.g. /usr/lib/softhsm/libsofthsm2.so). KEK v1 is generated in the token.",
        ),
    ] = None,
    hsm_token: Annotated[
        str | None, typer.Option("--hsm-token", help="Label of the PKCS#11 token to use.")
    ] = None,
    hsm_pin_env: Annotated[
        str,
        typer.Option("--hsm-pin-env", help="Environment variable holding the token's user PIN."),
    ] = "VAULT_HSM_PIN",
    json_out: JsonFlag = False,
) -> None:
    """Create a keyring (mode 0600) if there is none, and bring the database schema up to date.

    With --hsm-module and --hsm-token the key-encryption key is generated inside the
    PKCS#11 token (non-extractable) and the keyring file only names it; the PIN is read
    from the variable --hsm-pin-env names, never stored.
    """
    hsm = _hsm_config(hsm_module, hsm_token, hsm_pin_env)
    result = _initialise(settings_of(ctx), hsm)
    if json_out:
        print_json(result)
        return
    verb = "created" if result["keyring_created"] else "kept existing"
    where = " (KEKs in the PKCS#11 token)" if result["kek_provider"] == "pkcs11" else ""
    out_console().print(f"keyring {verb}: {result['keyring']}{where}")
    if result["keyring_families_added"]:
        added = ", ".join(result["keyring_families_added"])
        out_console().print(f"keyring upgraded: added {added} keys (back the keyring up again)")
    out_console().print(
        f"database ready: {result['database']} (schema {result['schema_revision']})"
    )


def _hsm_config(module: Path | None, token: str | None, pin_env: str) -> Pkcs11Config | None:
    if module is None and token is None:
        return None
    if module is None or token is None:
        raise errors.ValidationError("init", "give both --hsm-module and --hsm-token")
    return Pkcs11Config(module.absolute(), token, pin_env)


def _initialise(settings: Settings, hsm: Pkcs11Config | None = None) -> dict[str, Any]:
    created = not settings.keys_path.exists()
    added: list[str] = []
    if created and hsm is not None:
        from vault.hsm import create_hsm_keyring

        create_hsm_keyring(settings.keys_path, hsm)
        keyring = load_keyring(settings.keys_path)
    elif created:
        keyring = create_keyring(settings.keys_path)
    else:
        load_keyring(settings.keys_path)
        added = add_missing_families_to_file(settings.keys_path)
        keyring = load_keyring(settings.keys_path)
    if keyring.kek_token is not None:  # prove the token, PIN and key labels work now
        close_provider(key_provider(keyring))
    engine = create_vault_engine(settings.database_url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    return {
        "keyring": str(settings.keys_path),
        "keyring_created": created,
        "keyring_families_added": added,
        "kek_provider": "file" if keyring.kek_token is None else "pkcs11",
        "database": settings.display_database,
        "schema_revision": ",".join(sorted(migrate.head_revisions())),
    }


@db_app.command("upgrade")
@guard
def db_upgrade(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Apply pending schema migrations (Alembic)."""
    settings = settings_of(ctx)
    engine = create_vault_engine(settings.database_url)
    try:
        migrate.upgrade(engine)
        revisions = sorted(migrate.current_revisions(engine))
    finally:
        engine.dispose()
    if json_out:
        print_json({"database": settings.display_database, "schema_revisions": revisions})
    else:
        out_console().print(f"schema at {', '.join(revisions)}")


@app.command("import")
@guard
def import_command(
    ctx: typer.Context,
    customers: Annotated[Path | None, typer.Option(help="customers.csv")] = None,
    policies: Annotated[Path | None, typer.Option(help="policies.csv")] = None,
    claims: Annotated[Path | None, typer.Option(help="claims.csv")] = None,
    interactions: Annotated[Path | None, typer.Option(help="interactions.csv")] = None,
    consents: Annotated[Path | None, typer.Option(help="consents.csv")] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(help="Write rejected rows (row number and reason, no values) here."),
    ] = None,
    redact: Annotated[
        bool,
        typer.Option(
            "--redact/--no-redact",
            help="Then redact the new free text and store it sealed, so reads need not.",
        ),
    ] = True,
    json_out: JsonFlag = False,
) -> None:
    """Import CRM extracts (formats: docs/import-formats.md); invalid rows go to --rejects."""
    sources = ImportSources(customers, policies, claims, interactions, consents)
    if not sources.items():
        raise errors.ValidationError("import", "name at least one file, e.g. --customers F.csv")
    vault = vault_of(ctx)
    failed: errors.VaultError | None = None
    try:
        summary = _run_import(vault, sources, rejects)
        if redact:
            # The import has committed: a failure from here on must not hide its summary.
            try:
                summary["redactions"] = _refresh_redactions(vault, every=False)
            except errors.VaultError as exc:
                failed = exc
                summary["redactions"] = {"error": str(exc)}
            except Exception as exc:  # e.g. the database stayed locked: still say what committed
                get_logger("vault.cli").error("import.redactions_failed", error=type(exc).__name__)
                failed = errors.VaultError(f"unexpected {type(exc).__name__}")
                summary["redactions"] = {"error": str(failed)}
    finally:
        vault.close()
    if json_out:
        print_json(summary)
    else:
        _print_summary(summary)
    if failed is not None:
        err_console().print(
            f"error: the import committed, but storing redactions failed: {failed}; reads "
            "redact live until `customer-vault redactions refresh` succeeds",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(exit_code(failed))


def _run_import(vault: Vault, sources: ImportSources, rejects: Path | None) -> dict[str, Any]:
    if rejects is None:
        return import_files(vault, sources, CountingRejects(), for_terminal()).as_dict()
    rejects.parent.mkdir(parents=True, exist_ok=True)
    with rejects.open("w", encoding="utf-8", newline="") as fh:
        return import_files(vault, sources, CsvRejects(fh), for_terminal()).as_dict()


def _refresh_redactions(vault: Vault, *, every: bool) -> dict[str, int]:
    from vault.redaction import Redactor
    from vault.redaction.stored import StoredRedactions
    from vault.services.redactions import refresh_redactions

    stored = StoredRedactions(Redactor())
    return refresh_redactions(vault, stored, every=every, progress=for_terminal()).as_dict()


@redactions_app.command("refresh")
@guard
def redactions_refresh(
    ctx: typer.Context,
    every: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Check every customer (after an upgrade, or changed names and contact details), "
            "not only texts with no stored redaction.",
        ),
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Redact free text ahead of reads and store it sealed; reads redact live what is missing."""
    vault = vault_of(ctx)
    try:
        summary = _refresh_redactions(vault, every=every)
    finally:
        vault.close()
    if json_out:
        print_json(summary)
    else:
        out_console().print(
            f"{summary['customers']} customers: {summary['redacted']} texts redacted and "
            f"stored, {summary['current']} already current"
        )


def _print_summary(summary: dict[str, Any]) -> None:
    table = Table(title="import summary")
    columns = ("file", "read", "imported", "merged", "updated", "unchanged", "rejected")
    for column in columns:
        if column == "file":
            table.add_column(column, no_wrap=True)
        else:
            table.add_column(column, justify="right")
    for f in summary["files"]:
        table.add_row(*(str(f[c]) for c in columns))
    totals = summary["totals"]
    table.add_row("total", *(str(totals[c]) for c in columns[1:]))
    out_console().print(table)
    redactions = summary.get("redactions")
    if redactions is not None and "error" not in redactions:
        out_console().print(
            f"free text redacted ahead of reads: {redactions['redacted']} texts of "
            f"{redactions['customers']} customers, stored sealed"
        )


@app.command()
@guard
def find(
    ctx: typer.Context,
    id_number: Annotated[
        str | None,
        typer.Option("--id-number", help="ID number to look up (- reads it from stdin)."),
    ] = None,
    mobile: Annotated[
        str | None, typer.Option(help="Mobile number, any spelling (- reads it from stdin).")
    ] = None,
    email: Annotated[
        str | None, typer.Option(help="Email address, any case (- reads it from stdin).")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Find customer ids by ID number, mobile or email through the blind index (prints no PII).

    A value of ``-`` is read from the first line of standard input, so the identifier
    never appears in the process list or the shell history.
    """
    given = {
        k: v for k, v in {"id_number": id_number, "mobile": mobile, "email": email}.items() if v
    }
    if len(given) != 1:
        raise errors.ValidationError("find", "give exactly one of --id-number, --mobile, --email")
    ((field, value),) = given.items()
    if value == "-":
        value = sys.stdin.readline().strip()
        if not value:
            raise errors.ValidationError(field, "no value on standard input")
    vault = vault_of(ctx)
    try:
        ids = [str(i) for i in customer_service.find_customers(vault, field, value)]
    finally:
        vault.close()
    if json_out:
        print_json(ids)
    else:
        for i in ids:
            out_console().print(i)
        if not ids:
            err_console().print("no matching customer")


@app.command()
@guard
def stats(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Row counts of the store (customers, source links, policies, claims, ...)."""
    vault = vault_of(ctx)
    try:
        counts = customer_service.store_counts(vault)
    finally:
        vault.close()
    if json_out:
        print_json(counts)
        return
    table = Table(title="vault contents")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in counts.items():
        table.add_row(name, str(count))
    out_console().print(table)


@app.command("demo-data")
@guard
def demo_data(
    out: Annotated[Path, typer.Option(help="Directory for the CSV files.")] = Path(
        "vault-data/demo"
    ),
    customers: Annotated[
        int, typer.Option(min=1, max=2_000_000, help="How many customers.")
    ] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 0,
    invalid: Annotated[
        int, typer.Option(min=0, help="Deliberately invalid customer rows to add.")
    ] = 0,
    json_out: JsonFlag = False,
) -> None:
    """Write realistic synthetic CRM extracts (zh_CN and en_US customers) in the import format."""
    files = _generate(out, customers, seed, invalid)
    if json_out:
        print_json(files)
        return
    for kind in ("customers", "policies", "claims", "interactions", "consents"):
        out_console().print(f"{files['counts'][kind]:>8} rows  {files[kind]}")


def _generate(out: Path, customers: int, seed: int, invalid: int) -> dict[str, Any]:
    from vault.demo_data import generate_demo_data

    progress = for_terminal()
    progress.start("generating demo data", customers)
    try:
        files = generate_demo_data(
            out, customers, seed=seed, invalid_rows=invalid, on_progress=progress.advance
        )
    finally:
        progress.finish()
    result: dict[str, Any] = {
        kind: str(getattr(files, kind))
        for kind in ("customers", "policies", "claims", "interactions", "consents")
    }
    result["counts"] = dict(files.counts)
    return result


@app.command()
@guard
def demo(
    ctx: typer.Context,
    customers: Annotated[
        int, typer.Option(min=1, max=200_000, help="Demo customers to generate.")
    ] = 2000,
    serve_api: Annotated[
        bool, typer.Option("--serve/--no-serve", help="End in a running API over the demo data.")
    ] = True,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port for the API.")] = 8000,
    json_out: JsonFlag = False,
) -> None:
    """The main job: init, generate demo data, import it, then serve the API with demo keys."""
    settings = settings_of(ctx)
    setup = _initialise(settings)
    if not json_out:
        out_console().print(
            f"vault ready: keyring {setup['keyring']}, database {setup['database']}"
        )
    demo_dir = settings.keys_path.parent / "demo"
    files = _generate(demo_dir, customers, seed=0, invalid=max(customers // 100, 1))
    sources = ImportSources(**{k: Path(files[k]) for k in ImportSources.__dataclass_fields__})
    vault = vault_of(ctx)
    try:
        summary = _run_import(vault, sources, demo_dir / "rejects.csv")
        summary["redactions"] = _refresh_redactions(vault, every=False)
        counts = customer_service.store_counts(vault)
    finally:
        vault.close()
    if json_out:
        print_json({"setup": setup, "import": summary, "stats": counts})
    else:
        _print_summary(summary)
        out_console().print(f"rejected rows and reasons: {demo_dir / 'rejects.csv'}")
        out_console().print(
            f"{counts['customers']} customers stored, every personal field sealed with AES-256-GCM."
        )
    if serve_api:
        _demo_api(ctx, settings, port)


def _demo_api(ctx: typer.Context, settings: Settings, port: int) -> None:
    from vault.policy import load_policies
    from vault.services.demo import demo_customer, demo_principals

    policies = load_policies(settings.policies_dir / "roles.yaml")
    scoped = {r for r in policies.roles if policies.role(r).scope.value == "org_unit"}
    vault = vault_of(ctx)
    try:
        customer_id, org_unit = demo_customer(vault)
        keys = demo_principals(vault, policies.roles, org_unit, scoped)
    finally:
        vault.close()
    out = out_console()
    out.print("\nDemo API keys, one per role (shown only now; a new run revokes them):")
    for role, key in keys.items():
        out.print(f"  export {role.upper()}_KEY={key}", markup=False, highlight=False)
    base = f"http://127.0.0.1:{port}/v1/customers/{customer_id}"
    out.print("\nThe same customer through three roles (paste into another terminal):")
    for role, purpose in (
        ("customer_service", "customer_support"),
        ("claims_adjuster", "claims_processing"),
        ("notification_service", "marketing"),
    ):
        out.print(
            f'  curl -s {base} -H "Authorization: Bearer ${role.upper()}_KEY" '
            f'-H "X-Purpose: {purpose}"',
            markup=False,
            highlight=False,
        )
    out.print(
        f'  curl -s http://127.0.0.1:{port}/v1/audit/events -H "Authorization: Bearer '
        '$COMPLIANCE_OFFICER_KEY" -H "X-Purpose: audit_review"',
        markup=False,
        highlight=False,
    )
    out.print(f"\nAPI on http://127.0.0.1:{port} (docs: /docs); Ctrl-C to stop.")
    ctx.invoke(serve, ctx=ctx, host="127.0.0.1", port=port, workers=1)


@app.command()
@guard
def redact(
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="Read JSON lines on stdin, write JSON lines on stdout.")
    ] = False,
) -> None:
    """Strip PII from free text, offline (presidio with the vault's recognizers).

    Input lines: {"id", "text", "lang"?: "en"|"zh", "known"?: {"name", "phone", ...}}.
    Output lines: {"id", "text": <redacted>, "entities": [{"type", "start", "end", "score"}]}.
    Streams line by line; a bad line gets {"id", "line", "error"} and the stream goes on.
    """
    if not jsonl:
        raise errors.ValidationError("redact", "only --jsonl is supported: pipe JSON lines in")
    from vault.redaction import Redactor, redact_jsonl

    stats = redact_jsonl(sys.stdin, sys.stdout, Redactor())
    if stats.errors:
        err_console().print(f"{stats.redacted} lines redacted, {stats.errors} lines with errors")
        raise typer.Exit(2)


@audit_app.command("verify")
@guard
def audit_verify(
    ctx: typer.Context,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="An exported checkpoint to hold the database to (catches rewrites)."),
    ] = None,
    public_key: Annotated[
        str | None,
        typer.Option(help="Trust only this base64 Ed25519 public key (default: the keyring's)."),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Verify the hash chain and checkpoints; exit status 1 names the first break."""
    from vault.audit import (
        public_key_from_b64,
        public_keys_from_keyring,
        verify_exported_checkpoint,
        verify_log,
    )

    vault = vault_of(ctx)
    try:
        keys = (
            (public_key_from_b64(public_key),)
            if public_key
            else tuple(public_keys_from_keyring(vault.current_keyring()))
        )
        if checkpoint is not None:
            report = verify_exported_checkpoint(vault.reader, checkpoint.read_bytes(), keys)
        else:
            report = verify_log(vault.reader, keys)
    finally:
        vault.close()
    breaks = [{"seq": b.seq, "kind": str(b.kind), "detail": b.detail} for b in report.breaks]
    result = {"ok": report.ok, "events_checked": report.events_checked, "breaks": breaks}
    if json_out:
        print_json(result)
    elif report.ok:
        out_console().print(f"audit chain intact: {report.events_checked} events verified")
    else:
        for b in breaks:
            err_console().print(
                f"audit chain broken at event {b['seq']}: {b['kind']} ({b['detail']})"
            )
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
@guard
def audit_checkpoint(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Write the signed checkpoint (JSON) here.")],
    json_out: JsonFlag = False,
) -> None:
    """Sign a checkpoint of the chain's head now and export it: keep it outside the database."""
    from vault.audit import AuditLog, signer_from_keyring

    vault = vault_of(ctx)
    try:
        checkpoint = AuditLog(
            vault.engine, signer_from_keyring(vault.keyring), clock=vault.clock
        ).checkpoint()
    finally:
        vault.close()
    out.write_text(checkpoint.to_json(), encoding="utf-8")
    if json_out:
        print_json({"seq": checkpoint.seq, "file": str(out)})
    else:
        out_console().print(f"checkpoint of event {checkpoint.seq} written to {out}")


def _known_roles(settings: Settings) -> frozenset[str]:
    from vault.policy import load_policies

    return frozenset(load_policies(settings.policies_dir / "roles.yaml").roles)


@principals_app.command("add")
@guard
def principals_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="An identifier such as cs-shanghai-app.")],
    role: Annotated[str, typer.Option(help="A role from policies/roles.yaml.")],
    org_unit: Annotated[
        str | None, typer.Option("--org-unit", help="Org-unit code (required for employees).")
    ] = None,
    kind: Annotated[str, typer.Option(help="service or employee.")] = "service",
    json_out: JsonFlag = False,
) -> None:
    """Create a principal and print its API key once (only a hash is stored)."""
    from vault.services.principals import add_principal

    settings = settings_of(ctx)
    vault = vault_of(ctx)
    try:
        info, key = add_principal(
            vault, name, role, known_roles=_known_roles(settings), org_unit=org_unit, kind=kind
        )
    finally:
        vault.close()
    if json_out:
        print_json(
            {
                "name": info.name,
                "role": info.role,
                "org_unit": info.org_unit,
                "kind": info.kind,
                "api_key": key,
            }
        )
        return
    out_console().print(f"principal {info.name} ({info.role}) created. API key, shown only now:")
    out_console().print(key, markup=False, highlight=False)


@principals_app.command("list")
@guard
def principals_list(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """List principals (never their keys)."""
    from vault.services.principals import list_principals

    vault = vault_of(ctx)
    try:
        found = list_principals(vault)
    finally:
        vault.close()
    rows = [
        {
            "name": p.name,
            "kind": p.kind,
            "role": p.role,
            "org_unit": p.org_unit,
            "revoked": p.revoked,
        }
        for p in found
    ]
    if json_out:
        print_json(rows)
        return
    table = Table(title="principals")
    for column in ("name", "kind", "role", "org_unit", "revoked"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c] if row[c] is not None else "") for c in row))
    out_console().print(table)


@principals_app.command("revoke")
@guard
def principals_revoke(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The principal to revoke.")],
    json_out: JsonFlag = False,
) -> None:
    """Revoke a principal's API key at once."""
    from vault.services.principals import revoke_principal

    vault = vault_of(ctx)
    try:
        revoke_principal(vault, name)
    finally:
        vault.close()
    if json_out:
        print_json({"name": name, "revoked": True})
    else:
        out_console().print(f"principal {name} revoked")


@app.command()
@guard
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
) -> None:
    """Run the HTTP API (uvicorn); OpenAPI docs at /docs."""
    import os

    import uvicorn

    settings = settings_of(ctx)
    open_vault(settings).close()  # refuse to start on a bad keyring or schema, with a clear error
    os.environ["VAULT_DATABASE_URL"] = settings.database_url
    os.environ["VAULT_KEYS"] = str(settings.keys_path)
    os.environ["VAULT_POLICIES"] = str(settings.policies_dir)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        server_header=False,
        log_level="warning",
    )


app.add_typer(keys_commands.app, name="keys")
lifecycle.register(app)  # erase, retention, backup, restore (vault/cli/lifecycle.py)
export_commands.register(app)  # export (vault/cli/exports.py)


def main() -> None:
    app()
