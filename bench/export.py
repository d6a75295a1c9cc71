"""Export benchmark: ``customer-vault export`` against a read-and-decrypt baseline, in one run.

    .venv/bin/python bench/export.py [--customers 1000000] [--backend sqlite|postgresql]
                                     [--workdir DIR] [--workers N]

1. Seeds a vault with N synthetic customers and their policies, claims and
   interactions (``generate_demo_data`` + the normal importer: sealed fields, one
   DEK each).  Seeding a million takes about 35 minutes on 2 cores, so with
   ``--workdir`` the seeded vault is kept there and reused by the next run with
   the same N.
2. **Baseline**: a process that only reads the same customer rows in the same
   pages, unwraps each customer's DEK and opens the sealed fields the default
   ``analytics`` profile needs, forked into the same number of workers.  No
   features, no k-anonymity, no output.
3. **Export**: ``customer-vault export --profile analytics`` as its own process,
   as an operator runs it: both passes, parquet and manifest.

Both are timed from process start to exit.  Peak memory is the largest sum of
proportional set sizes (PSS: pages shared by forked workers counted once) over
the process and all its children, sampled every 50 ms from ``/proc``.

Targets (issue): >= 10,000 rows/s and peak memory under 1 GiB for 1,000,000
customers.  The run fails if the extract does not hold every customer the
baseline read (minus the rows the manifest says were suppressed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2026-12-01"
"""A fixed day, so two runs on the same seed export the same rows."""


# --------------------------------------------------------------------------- memory


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from /proc/*/stat's parent field)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        for child in parents.get(current, []):
            found.append(child)
            todo.append(child)
    return found


def _pss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@contextmanager
def peak_memory(proc: subprocess.Popen[bytes]) -> Iterator[list[int]]:
    """Samples the process tree's PSS until the block ends; yields ``[peak_bytes]``."""
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            total = sum(_pss(p) for p in [proc.pid, *_children(proc.pid)])
            peak[0] = max(peak[0], total)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()


# --------------------------------------------------------------------------- seeding


def _database(backend: str, workdir: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'vault.db'}"
    import sqlalchemy as sa

    name = "cdv_bench_export"
    admin = sa.create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        exists = conn.exec_driver_sql(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).first()
        if not exists:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def seed(workdir: Path, backend: str, customers: int) -> tuple[str, Path]:
    """A vault with ``customers`` people in ``workdir``, reused if it is already there."""
    from vault.demo_data import generate_demo_data
    from vault.keyring import create_keyring
    from vault.progress import for_terminal
    from vault.services.importing import ImportSources, import_files
    from vault.services.runtime import open_vault
    from vault.settings import Settings
    from vault.storage import migrate
    from vault.storage.engine import create_vault_engine

    url = _database(backend, workdir)
    keys = workdir / "keys.toml"
    marker = workdir / f"seeded-{backend}.json"
    if marker.exists() and json.loads(marker.read_text()).get("customers") == customers:
        print(f"reusing the vault seeded in {workdir} ({customers:,} customers)")
        return url, keys
    started = time.monotonic()
    engine = create_vault_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    if not keys.exists():
        create_keyring(keys)
    files = generate_demo_data(workdir / "data", customers, seed=11)
    print(f"generated {files.counts} in {time.monotonic() - started:.0f}s")
    settings = Settings.resolve(database_url=url, keys_path=keys, env={})
    vault = open_vault(settings)
    try:
        summary = import_files(
            vault,
            ImportSources(
                customers=files.customers,
                policies=files.policies,
                claims=files.claims,
                interactions=files.interactions,
            ),  # consents are not read by an export: not imported, to save seeding time
            progress=for_terminal(),
        )
    finally:
        vault.close()
    for path in (workdir / "data").iterdir():  # the CSVs hold PII in clear
        path.unlink()
    marker.write_text(json.dumps({"customers": customers}))
    print(f"seeded in {time.monotonic() - started:.0f}s: {summary.totals()}")
    return url, keys


# --------------------------------------------------------------------------- baseline


def _baseline_slice(url: str, keys: str, low: object, high: object) -> int:
    """Read and decrypt one slice of customers; returns how many were read.

    The same page query as the export's first pass (customers joined to their
    wrapped keys, in id order), so the two differ only by what the export adds.
    """
    from vault.envelope import WrappedKey, open_data_key
    from vault.policy.export_profiles import load_export_profiles
    from vault.sealing import open_sealed, record_aad
    from vault.services.exports import PAGE_SIZE, customer_page_query, customer_pages
    from vault.services.runtime import open_vault
    from vault.settings import Settings

    settings = Settings.resolve(database_url=url, keys_path=Path(keys), env={})
    profile = load_export_profiles(settings.policies_dir / "exports.yaml").get("analytics")
    sealed = profile.sealed_fields
    vault = open_vault(settings)
    query = customer_page_query(sealed)
    read = 0
    try:
        with vault.reader.connect() as conn:
            for page in customer_pages(conn, query, low, high, PAGE_SIZE):  # type: ignore[arg-type]
                for row in page:
                    cid = row[0]
                    key = open_data_key(vault.provider, WrappedKey(cid, row[2], row[3], row[4]))
                    record_part = record_aad(cid, key)
                    for position, f in enumerate(sealed, start=5):
                        if row[position] is not None:
                            open_sealed(f, cid, key, row[position], record_part=record_part)
                    read += 1
    finally:
        vault.close()
    return read


def baseline_main(url: str, keys: str, workers: int) -> None:
    """The baseline process: ``workers`` forked readers over slices of the id space."""
    import multiprocessing
    import uuid
    from concurrent.futures import ProcessPoolExecutor

    cuts = [uuid.UUID(int=(i * (1 << 128)) // workers) for i in range(1, workers)]
    bounds = list(zip([None, *cuts], [*cuts, None], strict=True))
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(_baseline_slice, url, keys, lo, hi) for lo, hi in bounds]
        counts = [f.result() for f in futures]
    print(json.dumps({"rows": sum(counts)}))


# --------------------------------------------------------------------------- the run


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, int, bytes]:
    started = time.monotonic()
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE)
    with peak_memory(proc) as peak:
        out, _ = proc.communicate()
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{command[3:6]} failed with exit status {proc.returncode}")
    return seconds, peak[0], out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workdir", type=Path, help="keep (and reuse) the seeded vault here")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--baseline-process", nargs=2, metavar=("URL", "KEYS"), help="internal")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from vault.logs import configure_logging

    configure_logging("WARNING" if args.baseline_process else "INFO")  # INFO: seeding progress
    if args.baseline_process:
        url, keys = args.baseline_process
        baseline_main(url, keys, args.workers)
        return
    with tempfile.TemporaryDirectory(prefix="cdv-bench-export-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        url, keys = seed(workdir, args.backend, args.customers)
        env = dict(os.environ, VAULT_DATABASE_URL=url, VAULT_KEYS=str(keys))

        base_cmd = [sys.executable, __file__, "--workers", str(args.workers)]
        base_cmd += ["--baseline-process", url, str(keys)]
        base_s, base_mem, out = _timed(base_cmd, env)
        base_rows = json.loads(out)["rows"]

        extract = Path(tmp) / "extract"
        command = [sys.executable, "-m", "vault", "--log-level", "WARNING", "export"]
        command += ["--profile", "analytics", "--out", str(extract), "--as-of", AS_OF]
        command += ["--workers", str(args.workers), "--json"]
        export_s, export_mem, _ = _timed(command, env)
        manifest = json.loads((extract / "manifest.json").read_text())

    population = manifest["population"]
    base_rate, export_rate = base_rows / base_s, population / export_s
    mib = 1024 * 1024
    print(f"{args.backend}, {args.workers} workers, {population:,} customers")
    print(
        f"baseline (read + decrypt): {base_s:6.1f}s  {base_rate:9,.0f} rows/s  "
        f"peak {base_mem / mib:6.0f} MiB"
    )
    print(
        f"export (analytics):        {export_s:6.1f}s  {export_rate:9,.0f} rows/s  "
        f"peak {export_mem / mib:6.0f} MiB  ratio {export_rate / base_rate:.2f}x"
    )
    print(
        f"extract: {manifest['rows']:,} rows, {manifest['suppressed_rows']:,} suppressed, "
        f"k achieved {manifest['k_achieved']} (k = {manifest['k']}), levels "
        + ", ".join(f"{c}:{v['level_name']}" for c, v in manifest["generalisation"].items())
    )
    print("targets: >= 10,000 rows/s; peak memory < 1,024 MiB (1,000,000 customers)")
    if population != base_rows or manifest["rows"] + manifest["suppressed_rows"] != population:
        raise SystemExit("FAILED: the extract does not account for every customer read")


if __name__ == "__main__":
    main()
