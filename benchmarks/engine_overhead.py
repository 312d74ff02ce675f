"""Engine overhead: items through four no-op steps on a temp SQLite file, one driver.

Prints item-steps per second with grouped commits (one write transaction per group, a savepoint
per item) and with per-item commits, and the best of 5 ``status()`` queries on the full run.
Goals: >= 5,000 item-steps/s and status <= 50 ms at 100,000 items.

    .venv/bin/python benchmarks/engine_overhead.py [--items 100000] [--batch-size 500]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from backend.database import schema
from backend.database.session import make_engine
from workflows.driver import Driver
from workflows.records import WorkItem
from workflows.steps import ApplyFn, Steps
from workflows.store import WorkflowStore

FLOW = {
    "pending": "import_model",
    "imported": "process_images",
    "images_processed": "sync_tags",
    "tags_synced": "promote",
}


def _noop_step(trigger: str) -> Any:
    def apply(_session: Session, _item: WorkItem) -> str:
        return trigger

    def step(_item: WorkItem) -> ApplyFn:
        return apply

    return step


STEPS: Steps = {"bench": {state: _noop_step(trigger) for state, trigger in FLOW.items()}}


def run_once(
    directory: Path, items: int, batch_size: int, *, grouped: bool, profile: bool
) -> tuple[float, float]:
    """Run ``items`` items to ``promoted``; (item-steps per second, best status seconds)."""
    engine = make_engine(f"sqlite:///{directory / ('grouped' if grouped else 'per_item')}.db")
    schema.upgrade(engine)
    store = WorkflowStore(engine)
    started = time.perf_counter()
    run_id = store.create_run("bench", "fp", {}, ((f"k{i}", None) for i in range(items)))
    created = time.perf_counter() - started
    driver = Driver(engine, STEPS, group_commits=grouped)
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    status = driver.run_until_done(run_id, batch_size)
    if profiler is not None:
        profiler.disable()
    elapsed = time.perf_counter() - started
    if status.counts["promoted"] != items:
        raise SystemExit(f"benchmark run did not finish: {status.counts}")
    timings = []
    for _ in range(5):
        t0 = time.perf_counter()
        store.status(run_id)
        timings.append(time.perf_counter() - t0)
    engine.dispose()
    mode = "grouped commits" if grouped else "per-item commits"
    rate = items * len(FLOW) / elapsed
    print(f"create_run: {items:,} items in {created * 1000:.0f} ms")
    print(
        f"{mode}: {items:,} items x {len(FLOW)} steps in {elapsed:.1f} s "
        f"= {rate:,.0f} item-steps/s (batch size {batch_size})"
    )
    print(f"status() at {items:,} items: best of 5 = {min(timings) * 1000:.1f} ms")
    if profiler is not None:
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(25)
    return rate, min(timings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--mode", choices=["both", "grouped", "per-item"], default="both")
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary")
    args = parser.parse_args(argv)
    modes = {"both": [True, False], "grouped": [True], "per-item": [False]}[args.mode]
    with tempfile.TemporaryDirectory(prefix="engine_overhead_") as tmp:
        for grouped in modes:
            run_once(Path(tmp), args.items, args.batch_size, grouped=grouped, profile=args.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
