"""Stage-1 throughput, with ratios measured in the same run (issue 16, goals 1, 4 and 5).

    .venv/bin/python benchmarks/stage1.py [--models 10000] [--images 1000] [--skip-images]
        [--skip-workers] [--postgres URL] [--repeat 3]

1. models/s without images: ``model-migrate legacy`` as a whole CLI process on ``--models``
   rows without previews (wall time and peak RSS), against the floor: one plain ``executemany``
   of the same number of rows into a fresh SQLite file.
2. rows whose first ``--images`` rows have one 1024×1536 JPEG: the migration's wall time
   against the image floor (benchmarks/image_tiers: decode + three resizes + three WebP).
3. ``--workers auto`` (every usable CPU) against ``--workers 1`` on that library.
4. with ``--postgres URL`` (a server where databases may be created): the image-less run on
   PostgreSQL with one worker against the SQLite run, and two workers against one.

The in-process runs compared in goal 5 (SQLite, PostgreSQL with one and two workers) are each
the best of ``--repeat`` runs, each into a fresh library: on a 2-core machine one stray
process moves a single 2-second run by a tenth of a second.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit import run_cli
from goals import V2_REFERENCE, goal, machine
from image_tiers import floor
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from backend.bootstrap import build_service
from backend.cli.commands import run_forked_worker
from backend.cli.workers import usable_cpus
from backend.config import Settings
from backend.database.migration.workers import early_workers
from backend.sample.legacy_factory import LegacyLibrary, make_sample_library

Meter = Callable[[], float | None]
"""A reading (e.g. CPU seconds used so far) taken where a run's timing starts and ends."""


def migrate(
    library: LegacyLibrary,
    data_dir: Path,
    workers: int,
    url: str | None = None,
    meters: Sequence[Meter] = (),
) -> tuple[float, dict[str, int], list[float | None]]:
    """Wall time of a whole stage-1 run (in this process, extra workers as processes) into a
    fresh library, its counts, and what each of ``meters`` rose by meanwhile (None when one
    could not read). The library is created first and not timed (the v2 app's usually
    exists); opening it is."""
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = Settings(data_dir=data_dir, database_url=url)
    build_service(settings).close()
    before = [meter() for meter in meters]
    start = time.perf_counter()
    # As `model-migrate legacy --workers N` does: the extra workers are started (forked where
    # that is safe) before the library is opened, and wait while the run is created.
    with early_workers(settings, workers - 1, run_forked_worker) as early:
        service = build_service(settings)
        try:
            run = service.start_legacy_run(library.db_path, library.images_dir)
            status = service.run_until_done(run.id, workers=workers, early=early)
        finally:
            service.close()
    elapsed = time.perf_counter() - start
    used = [
        None if first is None or last is None else last - first
        for first, last in zip(before, (meter() for meter in meters), strict=True)
    ]
    return elapsed, {k: v for k, v in status.counts.items() if v}, used


def migrate_cli(library: LegacyLibrary, data_dir: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of ``model-migrate legacy --workers 1`` as its own process."""
    shutil.rmtree(data_dir, ignore_errors=True)
    args = ["legacy", str(library.db_path), str(library.images_dir), "--workers", "1", "--json"]
    wall, rss, code = run_cli(args, data_dir)
    if code not in (0, 3):  # 3: conflicts left (none expected)
        raise SystemExit(f"model-migrate legacy failed with exit {code}")
    return wall, rss


def executemany_floor(rows: int, path: Path) -> float:
    """Seconds for plain ``sqlite3`` to write what stage 1 writes per image-less model: the
    model row (with a meta JSON like the sample's), its item and its four events, each table
    with one ``executemany`` and one commit: no state machine, no fences, no checks."""
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE models (sha256 TEXT PRIMARY KEY, path TEXT UNIQUE, name TEXT, type TEXT,"
        " size_bytes INTEGER, created_at INTEGER, meta_json TEXT);"
        "CREATE TABLE items (id INTEGER PRIMARY KEY, run_id INTEGER, source_key TEXT,"
        " status TEXT, artifacts TEXT, version INTEGER);"
        "CREATE TABLE events (item_id INTEGER, seq INTEGER, trigger TEXT, from_state TEXT,"
        " to_state TEXT, at REAL, detail TEXT, PRIMARY KEY (item_id, seq));"
    )
    meta = '{"description": "Notes about a model.", "prompts": {"positive": "a photo"}}'
    models = [
        (f"{n:064x}", f"/models/loras/{n}.safetensors", f"{n}.safetensors", "loras", 1 << 20,
         1_600_000_000, meta)
        for n in range(rows)
    ]  # fmt: skip
    items = [(n, 1, str(n), "promoted", '{"image_seqs": []}', 4) for n in range(rows)]
    steps = ("import_model", "process_images", "sync_tags", "promote")
    events = [(n, s, t, "a", "b", 0.0, "{}") for n in range(rows) for s, t in enumerate(steps)]
    start = time.perf_counter()
    conn.executemany("INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, ?)", models)
    conn.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)", items)
    conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", events)
    conn.commit()
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def image_floor(library: LegacyLibrary, out: Path) -> tuple[float, int]:
    """Seconds the plainest pipeline needs for every image of the library, and how many."""
    out.mkdir(parents=True, exist_ok=True)
    images = sorted(p for p in library.images_dir.iterdir() if p.is_file())
    start = time.perf_counter()
    for image in images:
        floor(image, out, 4)
    return time.perf_counter() - start, len(images)


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A fresh database on the server, dropped afterwards; yields its URL."""
    name = f"mm_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def best_of(
    repeat: int,
    plain: LegacyLibrary,
    data_dir: Path,
    workers: int,
    server: str | None = None,
    meters: Sequence[Meter] = (),
) -> tuple[float, dict[str, int], list[float | None]]:
    """The fastest of ``repeat`` runs (:func:`migrate`, with ``meters``), each into a fresh
    library (a fresh database on ``server`` when given)."""
    runs = []
    for _ in range(repeat):
        if server is None:
            runs.append(migrate(plain, data_dir, workers, None, meters))
            continue
        with postgres_database(server) as db:
            runs.append(migrate(plain, data_dir, workers, db, meters))
    return min(runs, key=lambda run: run[0])


def without_images(root: Path, plain: LegacyLibrary, models: int, repeat: int) -> float:
    """Goal 1; returns the in-process SQLite wall time (the reference for PostgreSQL)."""
    floor_s = executemany_floor(models, root / "floor.sqlite3")
    cli_s, rss = migrate_cli(plain, root / "data-cli")
    inproc_s, counts, _ = best_of(repeat, plain, root / "data-plain", 1)
    print(f"no images : {models} models, whole CLI process {cli_s:.2f} s ({rss:.0f} MiB RSS);")
    print(f"            in this process {inproc_s:.2f} s {counts} (best of {repeat})")
    print(f"            executemany floor {floor_s:.3f} s")
    print(f"            reference: {V2_REFERENCE['stage 1, 10k models, no images']}")
    goal("stage 1 without images, CLI process", models / cli_s, 10_000, "models/s", at_least=True)
    goal("stage 1 without images vs executemany floor", cli_s / floor_s, 6, "×", at_least=False)
    if models >= 100_000:
        goal("stage 1 RSS at 100k models", rss, 200, "MiB", at_least=False)
    return inproc_s


def on_postgres(root: Path, plain: LegacyLibrary, sqlite_s: float, url: str, repeat: int) -> None:
    """Goal 5: PostgreSQL against SQLite, and two workers against one."""
    pg1, counts1, _ = best_of(repeat, plain, root / "data-pg1", 1, url)
    pg2, counts2, _ = best_of(repeat, plain, root / "data-pg2", 2, url)
    print(f"postgres  : 1 worker {pg1:.2f} s {counts1}; 2 workers {pg2:.2f} s {counts2}")
    print(f"            (each the best of {repeat})")
    goal("stage 1 PostgreSQL vs SQLite, 1 worker", sqlite_s / pg1, 0.8, "×", at_least=True)
    goal("stage 1 PostgreSQL, 2 workers vs 1", pg1 / pg2, 1.6, "×", at_least=True)


def with_images(root: Path, models: int, images: int, workers: bool) -> None:
    """Goals on image-heavy stage 1: the image floor, and every CPU against one."""
    t0 = time.perf_counter()
    library = make_sample_library(
        root / "images",
        models=models,
        image_size=(1024, 1536),
        images_for_first=images,
        include_cases=False,
        seed=1,
    )
    print(f"built the image library in {time.perf_counter() - t0:.1f} s")
    floor_s, n_images = image_floor(library, root / "floor")
    wall1, counts1, _ = migrate(library, root / "data-w1", 1)
    print(
        f"images    : {n_images} images, floor {floor_s:.1f} s, migration {wall1:.1f} s "
        f"{counts1}; reference: {V2_REFERENCE['stage 1 with images, 1 worker']}"
    )
    goal("stage 1 with images vs image floor", wall1 / floor_s, 1.2, "×", at_least=False)
    if workers:
        cpus = usable_cpus()
        wall_auto, counts_auto, _ = migrate(library, root / "data-auto", cpus)
        print(f"workers   : auto = {cpus}: {wall_auto:.1f} s {counts_auto}")
        goal(f"stage 1 with images, --workers auto ({cpus}) vs 1", wall1 / wall_auto, 1.8, "×",
             at_least=True)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--images", type=int, default=1_000)
    parser.add_argument("--skip-workers", action="store_true")
    parser.add_argument("--skip-images", action="store_true", help="only the image-less part")
    parser.add_argument("--postgres", metavar="URL", help="also measure on this PostgreSQL server")
    parser.add_argument("--repeat", type=int, default=3, help="runs per in-process figure")
    args = parser.parse_args(argv)
    print(machine())
    with tempfile.TemporaryDirectory(prefix="mm-stage1-") as tmp:
        root = Path(tmp)
        plain = make_sample_library(
            root / "plain", models=args.models, image_size=None, include_cases=False
        )
        sqlite_s = without_images(root, plain, args.models, args.repeat)
        if args.postgres:
            on_postgres(root, plain, sqlite_s, args.postgres, args.repeat)
        if not args.skip_images:
            with_images(root, args.models, args.images, not args.skip_workers)
    print(machine())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
