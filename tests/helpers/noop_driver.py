"""A driver process for race and crash tests: four no-op steps that log every execution.

    python -m tests.helpers.noop_driver URL RUN_ID LOG [--batch-size N] [--per-item]
        [--block-key SOURCE_KEY] [--wait-for-go] [--work-kib N]

Each step execution appends ``"<item id> <state>"`` to LOG before it returns. With
``--block-key`` the ``pending`` step of that item prints ``BLOCKED <id>`` on stdout and then
blocks forever, so a test can kill the process at a known point. With ``--wait-for-go`` it
prints ``OWNER …`` when ready and starts on a line read from stdin (so racers start together).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import threading

from backend.database.session import make_engine
from tests.helpers.workflow import make_steps
from workflows.driver import Driver
from workflows.records import WorkItem


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("run_id", type=int)
    parser.add_argument("log")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--per-item", action="store_true")
    parser.add_argument("--block-key")
    parser.add_argument("--wait-for-go", action="store_true", help="start on a line on stdin")
    parser.add_argument(
        "--work-kib",
        type=int,
        default=0,
        help="hash this many KiB in each step's prepare phase: real steps work outside the "
        "write lock, which is what lets racing drivers interleave on SQLite",
    )
    args = parser.parse_args(argv)
    log = open(args.log, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 — open for life

    payload = bytes(args.work_kib * 1024)

    def on_step(item: WorkItem) -> None:
        log.write(f"{item.id} {item.state}\n")
        if payload:
            hashlib.sha256(payload).digest()
        if item.source_key == args.block_key and item.state == "pending":
            print(f"BLOCKED {item.id}", flush=True)
            threading.Event().wait()

    engine = make_engine(args.url)
    driver = Driver(engine, make_steps(on_step=on_step), group_commits=not args.per_item)
    print(f"OWNER {driver.owner} {os.getpid()}", flush=True)
    if args.wait_for_go:
        sys.stdin.readline()
    status = driver.run_until_done(args.run_id, args.batch_size)
    print(f"DONE {status.counts['promoted']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
