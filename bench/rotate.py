"""KEK rotation benchmark: re-wrap N customers' data keys while reads go on, in one run.

    .venv/bin/python bench/rotate.py [--customers 100000] [--backend sqlite|postgresql]
                                     [--readers 4] [--baseline-seconds 10]

1. Seeds a vault with N customers through the normal importer (sealed fields, one
   DEK each).
2. Baseline: ``--readers`` threads read random customers (``read_customer``:
   unwrap the DEK, open every field) for ``--baseline-seconds``; reads/s.
3. Rotation: ``customer-vault keys rotate`` runs as its own process (as an operator
   would run it next to live API workers) while the same readers keep reading;
   customers/s of the rotation, and reads/s during it.

Targets (issue): the rotation of 100,000 customers under 60 s; reads during rotation
>= 0.7 x reads without it.  Every read must succeed; the run fails otherwise.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _write_customers(path: Path, n: int) -> None:
    """A customers file in the import format: n distinct, valid people (no Faker: fast)."""
    from stdnum.cn import ric

    from vault.import_format import CUSTOMER_COLUMNS

    rng = random.Random(7)
    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
    given = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(CUSTOMER_COLUMNS) + "\n")
        for i in range(n):
            year, month, day = 60 + rng.randrange(40), 1 + rng.randrange(12), 1 + rng.randrange(28)
            birth = f"19{year:02d}{month:02d}{day:02d}"
            body = f"110105{birth}{i % 1000:03d}"
            id_number = body + ric.calc_check_digit(body + "0")
            values = {
                "source_system": "bench",
                "source_id": f"B{i}",
                "full_name": rng.choice(surnames) + rng.choice(given) + rng.choice(given),
                "id_type": "resident_id",
                "id_number": id_number,
                "mobile": f"13{rng.randrange(10)}{i:08d}",
                "email": f"c{i}@example.com",
                "province": "北京",
                "city": "北京",
            }
            fh.write(",".join(values.get(c, "") for c in CUSTOMER_COLUMNS) + "\n")


def _database(backend: str, workdir: Path) -> tuple[str, str | None]:
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'vault.db'}", None
    import sqlalchemy as sa

    name = f"cdv_bench_rotate_{os.getpid()}"
    admin = sa.create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", name


def _drop(name: str | None) -> None:
    if name is None:
        return
    import sqlalchemy as sa

    admin = sa.create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


class Readers:
    """Threads reading random customers until stopped; counts reads and failures."""

    def __init__(self, settings: object, ids: list[uuid.UUID], threads: int) -> None:
        from vault.services.runtime import open_vault

        self.vault = open_vault(settings)  # type: ignore[arg-type]
        self.ids = ids
        self.count = 0
        self.failures = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)
        ]

    def _run(self, seed: int) -> None:
        from vault.services.customers import read_customer

        rng = random.Random(seed)
        while not self._stop.is_set():
            try:
                read_customer(self.vault, rng.choice(self.ids))
                with self._lock:
                    self.count += 1
            except Exception:  # counted and reported: the run then fails
                with self._lock:
                    self.failures += 1

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def window(
        self, seconds: float | None = None, until: subprocess.Popen[bytes] | None = None
    ) -> tuple[int, float]:
        """Reads done during ``seconds`` (or until the process ends) and the elapsed time."""
        before, started = self.count, time.monotonic()
        if until is not None:
            until.wait()
        else:
            time.sleep(seconds or 0)
        return self.count - before, time.monotonic() - started

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)
        self.vault.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from vault.keyring import create_keyring, load_keyring
    from vault.logs import configure_logging
    from vault.services import keys as key_service
    from vault.services.importing import ImportSources, import_files
    from vault.services.runtime import open_vault
    from vault.settings import Settings
    from vault.storage import migrate
    from vault.storage.engine import create_vault_engine

    configure_logging("WARNING")
    with tempfile.TemporaryDirectory(prefix="cdv-bench-rotate-") as tmp:
        workdir = Path(tmp)
        url, pg_name = _database(args.backend, workdir)
        try:
            engine = create_vault_engine(url)
            migrate.upgrade(engine)
            engine.dispose()
            create_keyring(workdir / "keys.toml")
            settings = Settings.resolve(database_url=url, keys_path=workdir / "keys.toml", env={})
            csv = workdir / "customers.csv"
            t0 = time.monotonic()
            _write_customers(csv, args.customers)
            vault = open_vault(settings)
            import_files(vault, ImportSources(customers=csv))
            with vault.engine.connect() as conn:
                ids = [
                    uuid.UUID(str(r[0])) for r in conn.exec_driver_sql("SELECT id FROM customers")
                ]
            vault.close()
            print(f"seeded {len(ids)} customers on {args.backend} in {time.monotonic() - t0:.1f}s")

            readers = Readers(settings, ids, args.readers)
            readers.start()
            time.sleep(1.0)  # warm up: connections, caches
            base_reads, base_seconds = readers.window(args.baseline_seconds)
            env = dict(os.environ)
            env.update(VAULT_DATABASE_URL=url, VAULT_KEYS=str(workdir / "keys.toml"))
            command = [sys.executable, "-m", "vault", "--log-level", "WARNING"]
            command += ["keys", "rotate", "--batch-size", str(args.batch_size)]
            proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
            rot_reads, rot_seconds = readers.window(until=proc)
            readers.stop()
            if proc.returncode != 0:
                raise SystemExit(f"rotation failed with exit status {proc.returncode}")
            check = open_vault(settings)
            usage = key_service.kek_usage(check)
            check.close()
            primary = load_keyring(workdir / "keys.toml").kek.primary
        finally:
            _drop(pg_name)

    base_rate = base_reads / base_seconds
    rot_rate = rot_reads / rot_seconds
    print(
        f"KEK rotation: {len(ids)} customers in {rot_seconds:.1f}s "
        f"({len(ids) / rot_seconds:,.0f} customers/s, process start included)"
    )
    print(
        f"reads without rotation: {base_rate:,.0f}/s ({args.readers} threads, {base_seconds:.0f}s)"
    )
    print(f"reads during rotation:  {rot_rate:,.0f}/s  ratio {rot_rate / base_rate:.2f}x")
    print(
        f"DEKs per KEK version after: {usage} (primary {primary}); "
        f"read failures: {readers.failures}"
    )
    print("targets: rotation < 60 s for 100,000; ratio >= 0.70")
    if readers.failures or usage != {primary: len(ids)}:
        raise SystemExit("FAILED: a read failed or a DEK was left under an old KEK")


if __name__ == "__main__":
    main()
