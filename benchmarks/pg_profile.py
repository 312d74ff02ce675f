"""Where stage 1's time goes on PostgreSQL (issue 16, goal 5): CPU by side, time by statement.

    .venv/bin/python benchmarks/pg_profile.py --postgres URL [--models 10000] [--repeat 3]

For the image-less library of ``stage1.py``, in this process as ``stage1.py`` measures goal 5:

1. SQLite, then PostgreSQL with one worker and with two: wall time and CPU seconds of the
   client (this process and its worker processes) and of the server (every ``postgres``
   process, read from ``/proc``: only when the server runs on this machine).
2. With the ``pg_stat_statements`` extension loaded (``shared_preload_libraries``), the
   server's execution time by statement for one run with one worker, per row written;
   otherwise how to load it.

Goal 5 asks for PostgreSQL ≥ 0.8× SQLite with one worker and two workers ≥ 1.6× one. On a
machine whose cores the server shares, two workers can take at most the cores' CPU, so the
second goal needs one worker to leave a core idle, while the first needs it to be fast: the
lines printed at the end say how the measured CPU meets both.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from goals import machine
from sqlalchemy import create_engine, text
from stage1 import best_of, migrate, postgres_database

from backend.sample.legacy_factory import LegacyLibrary, make_sample_library

TOP_STATEMENTS = 12


def server_cpu() -> float | None:
    """CPU seconds of every ``postgres`` process on this machine (None without ``/proc``)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended meanwhile
            continue
        name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        if name.startswith("postgres"):
            values = fields.split()
            total += sum(int(v) for v in values[11:15])  # utime stime cutime cstime
    return total / ticks


def client_cpu() -> float:
    """CPU seconds of this process and of its waited-for children so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def best(
    repeat: int, library: LegacyLibrary, data_dir: Path, workers: int, server: str | None
) -> tuple[float, float, float | None]:
    """(wall, client CPU, server CPU or None) of the fastest of ``repeat`` runs, timed as
    ``stage1.py`` times them (:func:`stage1.best_of`)."""
    wall, _counts, (client, used) = best_of(
        repeat, library, data_dir, workers, server, (client_cpu, server_cpu)
    )
    assert client is not None
    return wall, client, used


def statements(library: LegacyLibrary, root: Path, server: str) -> None:
    """Server execution time by statement for one run with one worker."""
    with postgres_database(server) as url:
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
                conn.execute(text("SELECT pg_stat_statements_reset()"))
        except Exception as exc:  # the extension is not loaded on this server
            engine.dispose()
            print(f"statements: pg_stat_statements unavailable ({type(exc).__name__}):")
            print("            shared_preload_libraries = 'pg_stat_statements' loads it")
            return
        wall, _counts, _ = migrate(library, root / "data-statements", 1, url)
        query = text(
            "SELECT calls, rows, total_exec_time, query FROM pg_stat_statements"
            " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND toplevel ORDER BY total_exec_time DESC LIMIT :n"
        )
        with engine.connect() as conn:
            rows = conn.execute(query, {"n": TOP_STATEMENTS}).all()
            total = conn.execute(
                text(
                    "SELECT sum(total_exec_time) FROM pg_stat_statements WHERE toplevel AND"
                    " dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            ).scalar()
        engine.dispose()
    print(f"statements: one worker, {wall:.2f} s wall; server execution {float(total or 0):.0f} ms")
    print("     ms   calls    rows  µs/row  statement")
    for calls, count, ms, sql in rows:
        per_row = 1000 * ms / max(count, 1)
        words = " ".join(sql.split())[:80]
        print(f"{ms:7.1f} {calls:7d} {count:7d} {per_row:7.1f}  {words}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", metavar="URL", required=True, help="a PostgreSQL server")
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (best wall)")
    args = parser.parse_args(argv)
    print(machine())
    with tempfile.TemporaryDirectory(prefix="mm-pgprof-") as tmp:
        root = Path(tmp)
        library = make_sample_library(
            root / "plain", models=args.models, image_size=None, include_cases=False
        )
        sqlite = best(args.repeat, library, root / "data-sqlite", 1, None)
        one = best(args.repeat, library, root / "data-pg1", 1, args.postgres)
        two = best(args.repeat, library, root / "data-pg2", 2, args.postgres)
        for label, (wall, client, server) in (
            ("SQLite, 1 worker", sqlite),
            ("PostgreSQL, 1 worker", one),
            ("PostgreSQL, 2 workers", two),
        ):
            shown = "n/a" if server is None or label.startswith("SQLite") else f"{server:.2f} s"
            print(f"{label:22s} wall {wall:.2f} s  client CPU {client:.2f} s  server CPU {shown}")
        if one[2] is not None and two[2] is not None:
            cpu1, cpu2 = one[1] + one[2], two[1] + two[2]
            print(f"one worker keeps {cpu1 / one[0]:.2f} cores busy; two keep {cpu2 / two[0]:.2f}")
            print(
                f"two workers need {cpu2 - cpu1:+.2f} s of CPU more than one; at best (both cores"
                f" busy throughout) they take {cpu2 / 2:.2f} s: 2 vs 1 ≤ {one[0] / (cpu2 / 2):.2f}×"
            )
            print(
                f"PostgreSQL's CPU with one worker is {cpu1 / sqlite[1]:.2f}× SQLite's; goal 5"
                f" needs one worker ≤ {sqlite[0] / 0.8:.2f} s and two ≤ {one[0] / 1.6:.2f} s"
            )
        statements(library, root, args.postgres)
    print(machine())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
