"""The ``customer-vault`` command line, run as a real process: help, errors, exit codes, JSON."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import customer, resident_id, write_csv

from vault.cli import app
from vault.import_format import CUSTOMER_COLUMNS

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "vault"]


def run(
    args: list[str], env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def _no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout
    assert 'File "' not in result.stderr


def _commands() -> list[list[str]]:
    import typer.main

    group = typer.main.get_command(app)
    found: list[list[str]] = [[]]

    def walk(command: object, path: list[str]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            found.append([*path, name])
            walk(sub, [*path, name])

    walk(group, [])
    return found


def test_the_cli_has_the_commands_the_docs_promise() -> None:
    names = {" ".join(c) for c in _commands()}
    assert {"init", "db", "db upgrade", "import", "find", "stats", "demo-data", "demo"} <= names


@pytest.mark.parametrize("command", _commands(), ids=lambda c: " ".join(c) or "root")
def test_every_command_has_help(command: list[str], tmp_path: Path) -> None:
    result = run([*command, "--help"], env=dict(os.environ), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


@pytest.fixture
def home_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env["VAULT_HOME"] = str(tmp_path / "home")
    return env


def test_init_creates_a_private_keyring_and_keeps_it_on_rerun(
    home_env: dict[str, str], tmp_path: Path
) -> None:
    first = run(["init", "--json"], home_env)
    assert first.returncode == 0, first.stderr
    keys = tmp_path / "home" / "keys.toml"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "home" / "vault.db").stat().st_mode) == 0o600
    assert json.loads(first.stdout)["keyring_created"] is True
    content = keys.read_bytes()
    second = run(["init", "--json"], home_env)
    assert json.loads(second.stdout)["keyring_created"] is False
    assert keys.read_bytes() == content


def test_the_example_keyring_is_refused_with_a_clear_message(
    home_env: dict[str, str], tmp_path: Path
) -> None:
    keys = tmp_path / "keys.toml"
    shutil.copy(REPO / "keys.example", keys)
    keys.chmod(0o600)
    result = run(["--keys", str(keys), "init"], home_env)
    assert result.returncode == 2
    assert "placeholder" in result.stderr
    _no_traceback(result)


def test_a_world_readable_keyring_is_refused(home_env: dict[str, str], tmp_path: Path) -> None:
    assert run(["init"], home_env).returncode == 0
    keys = tmp_path / "home" / "keys.toml"
    keys.chmod(0o644)
    result = run(["stats"], home_env)
    assert result.returncode == 2
    assert "chmod 600" in result.stderr
    _no_traceback(result)


@pytest.mark.parametrize("suffix", ["", "-wal"])
def test_a_database_file_readable_by_others_is_refused(
    home_env: dict[str, str], tmp_path: Path, suffix: str
) -> None:
    assert run(["init"], home_env).returncode == 0
    database = tmp_path / "home" / "vault.db"
    assert database.stat().st_mode & 0o777 == 0o600
    target = database.with_name(database.name + suffix)
    target.touch(mode=0o600)
    target.chmod(0o644)
    result = run(["stats"], home_env)
    assert result.returncode == 2
    assert f"chmod 600 {target}" in result.stderr
    _no_traceback(result)
    target.chmod(0o600)
    assert run(["stats"], home_env).returncode == 0


def test_commands_refuse_an_unmigrated_database(home_env: dict[str, str], tmp_path: Path) -> None:
    assert run(["init"], home_env).returncode == 0
    env = home_env | {"VAULT_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    result = run(["stats"], env)
    assert result.returncode == 2
    assert "db upgrade" in result.stderr


def test_an_unsupported_database_url_is_a_clear_error(home_env: dict[str, str]) -> None:
    result = run(["--database-url", "mysql://x/y", "stats"], home_env)
    assert result.returncode == 2
    assert "unsupported database" in result.stderr
    _no_traceback(result)


def test_import_find_and_stats_through_the_cli(cli_env: dict[str, str], tmp_path: Path) -> None:
    zhang = resident_id("11010519900307001")
    rows = [
        customer(
            source_system="crm",
            source_id="C1",
            full_name="张伟",
            id_type="resident_id",
            id_number=zhang,
            mobile="138-1234-5678",
            email="Zhang@163.com",
        ),
        customer(source_system="crm", source_id="C2", full_name="李娜", mobile="12345"),
    ]
    path = write_csv(tmp_path / "customers.csv", rows, CUSTOMER_COLUMNS)
    result = run(
        ["import", "--customers", str(path), "--rejects", str(tmp_path / "r.csv"), "--json"],
        cli_env,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["totals"]["imported"] == 1
    assert json.loads(result.stdout)["totals"]["rejected"] == 1

    found = {}
    for flag, value in (
        ("--mobile", "+86 138 1234 5678"),
        ("--id-number", zhang),
        ("--email", "ZHANG@163.com"),
    ):
        out = run(["find", flag, value, "--json"], cli_env)
        assert out.returncode == 0, out.stderr
        found[flag] = json.loads(out.stdout)
        assert value not in out.stdout + out.stderr
    assert len({tuple(v) for v in found.values()}) == 1
    assert len(found["--mobile"]) == 1

    # "-" takes the identifier from stdin: it never shows in ps or the shell history.
    piped = subprocess.run(
        [*CLI, "find", "--id-number", "-", "--json"],
        env=cli_env,
        input=zhang + "\n",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout) == found["--id-number"]
    empty = subprocess.run(
        [*CLI, "find", "--mobile", "-"],
        env=cli_env,
        input="",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert empty.returncode == 2
    assert "no value on standard input" in empty.stderr

    stats = json.loads(run(["stats", "--json"], cli_env).stdout)
    assert stats["customers"] == 1
    assert stats["source_links"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import"], "name at least one file"),
        (["import", "--customers", "/no/such.csv"], "does not exist"),
        (["find", "--mobile", "1", "--email", "a@b.cn"], "exactly one"),
        (["find", "--mobile", "12"], "mobile:"),
    ],
)
def test_bad_input_gets_a_clear_error_and_exit_code_2_or_3(
    cli_env: dict[str, str], args: list[str], message: str
) -> None:
    result = run(args, cli_env)
    assert result.returncode in (2, 3)
    assert message in result.stderr
    _no_traceback(result)


def test_a_csv_with_a_missing_column_is_refused_whole(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "c.csv"
    path.write_text("source_system,source_id\ncrm,1\n", encoding="utf-8")
    result = run(["import", "--customers", str(path)], cli_env)
    assert result.returncode == 2
    assert "missing column(s) full_name" in result.stderr
    assert json.loads(run(["stats", "--json"], cli_env).stdout)["customers"] == 0


def test_a_binary_file_is_refused_without_a_traceback(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(b"\xff\xfe\x00garbage\x00\x81")
    result = run(["import", "--customers", str(path)], cli_env)
    assert result.returncode == 2
    assert "not UTF-8" in result.stderr
    _no_traceback(result)


def test_the_main_job_runs_on_a_fresh_directory(home_env: dict[str, str], tmp_path: Path) -> None:
    result = run(["demo", "--customers", "80", "--json", "--no-serve"], home_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["stats"]["customers"] == 80
    totals = report["import"]["totals"]
    assert totals["merged"] > 0  # the agency system's copies attached to existing customers
    assert totals["rejected"] == 1  # the one deliberately invalid row
    again = run(["demo", "--customers", "80", "--json", "--no-serve"], home_env, cwd=tmp_path)
    assert json.loads(again.stdout)["stats"]["customers"] == 80  # idempotent re-run


def test_audit_verify_exits_non_zero_when_the_chain_is_broken(
    cli_env: dict[str, str], vault: object, tmp_path: Path
) -> None:
    from vault.audit import Action, AuditEvent, AuditLog, Outcome, signer_from_keyring

    log = AuditLog(vault.engine, signer_from_keyring(vault.keyring))  # type: ignore[attr-defined]
    for n in range(5):
        log.append(
            AuditEvent(
                principal="svc",
                role="admin",
                purpose="administration",
                action=Action.READ,
                outcome=Outcome.ALLOWED,
                request_id=f"r{n}",
            )
        )
    exported = tmp_path / "checkpoint.json"
    assert run(["audit", "checkpoint", "--out", str(exported)], cli_env).returncode == 0
    ok = run(["audit", "verify", "--checkpoint", str(exported), "--json"], cli_env)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["events_checked"] == 5
    with vault.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.exec_driver_sql("UPDATE audit_events SET purpose = 'marketing' WHERE seq = 3")
    broken = run(["audit", "verify"], cli_env)
    assert broken.returncode == 1
    assert "event 3" in broken.stderr
    _no_traceback(broken)


@pytest.mark.parametrize("command", _commands(), ids=lambda c: " ".join(c) or "root")
def test_every_command_that_prints_data_offers_json(command: list[str]) -> None:
    """Groups print only help, redact speaks JSON lines, serve prints nothing of its own."""
    import typer.main

    node = typer.main.get_command(app)
    for name in command:
        node = node.commands[name]  # type: ignore[attr-defined]
    if hasattr(node, "commands") or command in (["redact"], ["serve"]):
        return
    assert "json_out" in {p.name for p in node.params}, command
