"""The house rules that a linter can check: ruff clean, mypy strict on vault/, layering."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILDING_BLOCKS = [
    p
    for p in (REPO / "vault").rglob("*.py")
    if "services" not in p.parts
    and "cli" not in p.parts
    and p.name != "__main__.py"
    and "migrations" not in p.parts
]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", "vault", "api", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_finds_nothing_in_vault() -> None:
    result = _run("mypy", "vault", "api")
    assert result.returncode == 0, result.stdout + result.stderr


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_building_blocks_never_import_services_api_or_cli() -> None:
    offenders = {
        str(p.relative_to(REPO)): sorted(
            i for i in _imports(p) if i.startswith(("vault.services", "api", "vault.cli"))
        )
        for p in BUILDING_BLOCKS
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_crypto_module_touches_cryptography_hazmat() -> None:
    users = sorted(
        str(p.relative_to(REPO))
        for p in (REPO / "vault").rglob("*.py")
        if any(i.startswith("cryptography.hazmat") for i in _imports(p))
    )
    assert users == ["vault/crypto.py"]


def test_storage_never_imports_crypto() -> None:
    for path in (REPO / "vault" / "storage").rglob("*.py"):
        assert not any(i.startswith(("vault.crypto", "cryptography")) for i in _imports(path)), path
