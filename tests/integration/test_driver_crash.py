"""Driver processes: two racing on one run, and one killed with SIGKILL mid-batch."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from tests.helpers.workflow import FLOW, keys, make_steps
from workflows.driver import Driver
from workflows.records import WorkItem
from workflows.store import WorkflowStore
from workflows.tables import MigrationItem

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def spawn(db_url: str, run_id: int, log: Path, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.helpers.noop_driver", db_url, str(run_id), str(log)]
    return subprocess.Popen(
        [*command, *extra],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def executions(*logs: Path) -> collections.Counter[tuple[int, str]]:
    counter: collections.Counter[tuple[int, str]] = collections.Counter()
    for log in logs:
        for line in log.read_text(encoding="utf-8").splitlines():
            item_id, state = line.split()
            counter[int(item_id), state] += 1
    return counter


def leased(engine: Engine) -> int:
    query = select(func.count()).where(MigrationItem.lease_owner.is_not(None))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def test_two_driver_processes_race_without_duplicates(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    store = WorkflowStore(engine)
    run_id = store.create_run("test", "fp", {}, keys(2_000))
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [
        spawn(db_url, run_id, log, "--batch-size", "50", "--wait-for-go", "--work-kib", "256")
        for log in logs
    ]
    for proc in procs:  # both are ready (imports done, engine built) before either starts
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("OWNER ")
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    counts = executions(*logs)
    duplicates = {key: n for key, n in counts.items() if n > 1}
    assert duplicates == {}
    assert len(counts) == 2_000 * 4
    per_process = [sum(executions(log).values()) for log in logs]
    assert all(n > 0 for n in per_process), f"one driver did all the work: {per_process}"
    status = store.status(run_id)
    assert status.counts["promoted"] == 2_000 and status.finished
    assert leased(engine) == 0
    for item in store.items(run_id, limit=5) + store.items(run_id, limit=5, after=1_000):
        assert [e.seq for e in store.events(item.id)] == [1, 2, 3, 4]
        assert [e.trigger for e in store.events(item.id)] == list(FLOW.values())


@pytest.mark.parametrize(
    ("mode", "block_key", "redone"),
    [
        # per-item commits: only the item in flight is redone
        ("--per-item", "k000007", {"k000007"}),
        # grouped: the blocked item is the first prepared of its group → only it is redone
        ("--grouped", "k000005", {"k000005"}),
        # grouped, blocked mid-group: the items prepared in the uncommitted group are redone
        ("--grouped", "k000007", {"k000005", "k000006", "k000007"}),
    ],
    ids=["per_item", "grouped_first", "grouped_mid"],
)
def test_kill_9_mid_batch_then_a_new_driver_finishes_at_once(
    engine: Engine, db_url: str, tmp_path: Path, mode: str, block_key: str, redone: set[str]
) -> None:
    store = WorkflowStore(engine)
    run_id = store.create_run("test", "fp", {}, keys(12))
    log = tmp_path / "killed.log"
    extra = ["--per-item"] if mode == "--per-item" else []
    proc = spawn(db_url, run_id, log, "--batch-size", "5", "--block-key", block_key, *extra)
    assert proc.stdout is not None
    owner_line = proc.stdout.readline()
    blocked_line = proc.stdout.readline()
    assert owner_line.startswith("OWNER ") and blocked_line.startswith("BLOCKED "), blocked_line
    blocked_id = int(blocked_line.split()[1])
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.returncode == -signal.SIGKILL
    assert leased(engine) == 5  # the whole second batch was claimed by the dead driver

    new_log: list[tuple[int, str]] = []

    def no_sleep(seconds: float) -> None:
        raise AssertionError(f"the new driver waited {seconds} s instead of reclaiming")

    def on_step(item: WorkItem) -> None:
        new_log.append((item.id, item.state))

    driver = Driver(engine, make_steps(on_step=on_step), sleep=no_sleep)
    status = driver.run_until_done(run_id, batch_size=5)
    assert status.finished and status.counts["promoted"] == 12
    assert leased(engine) == 0

    counts = executions(log)
    counts.update(new_log)
    keys_by_id = {item.id: item.source_key for item in store.items(run_id)}
    twice = {keys_by_id[item_id] for (item_id, _state), n in counts.items() if n > 1}
    assert twice == redone
    assert all(n <= 2 for n in counts.values())
    assert (blocked_id, "pending") in new_log
    assert len(counts) == 12 * 4
    for item in store.items(run_id):
        assert [e.seq for e in store.events(item.id)] == [1, 2, 3, 4]
        assert item.crashes == 0
