"""Early workers forked from the process that starts them (``legacy --workers N`` on Linux):
each waits for its run id on a pipe, runs its entry in the process group of the first, exits
with the entry's status; end of input, a parent killed with SIGKILL, or a stop ends it.

Forking is tried in fresh interpreters (real subprocesses) where the test needs the whole
path, since a fork is only taken from a process with one thread and no database open."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from backend.database.migration.forking import fork_worker
from backend.sample.legacy_factory import make_sample_library
from tests.helpers.service import make_service

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")

MODELS = 40
DEADLINE_SECONDS = 60


def _status_of(run_id: int) -> int:
    return run_id % 256


def _exiting_with(code: object) -> Callable[[int], int]:
    def entry(_run: int) -> int:
        raise SystemExit(code)

    return entry


def test_a_forked_worker_runs_its_entry_on_the_run_id_and_exits_with_its_status() -> None:
    child = fork_worker(_status_of, {}, 0, [])
    assert child.poll() is None  # waiting for its run
    with pytest.raises(subprocess.TimeoutExpired):
        child.wait(timeout=0.05)
    assert child.stdin is not None
    child.stdin.write(b"300\n")
    child.stdin.close()
    assert child.wait(timeout=DEADLINE_SECONDS) == 300 % 256


def test_a_forked_worker_given_no_run_exits_0_and_a_stopped_one_by_its_signal() -> None:
    idle = fork_worker(_status_of, {}, 0, [])
    assert idle.stdin is not None
    idle.stdin.close()
    assert idle.wait(timeout=DEADLINE_SECONDS) == 0
    waiting = fork_worker(_status_of, {}, 0, [])
    os.kill(waiting.pid, signal.SIGTERM)  # as a stop sends it: ends a waiting worker quietly
    assert waiting.wait(timeout=DEADLINE_SECONDS) == -signal.SIGTERM
    stuck = fork_worker(_status_of, {}, 0, [])
    stuck.kill()
    assert stuck.wait(timeout=DEADLINE_SECONDS) == -signal.SIGKILL
    for child in (waiting, stuck):
        assert child.stdin is not None
        child.stdin.close()


def test_the_exit_of_the_entry_is_the_workers_status() -> None:
    for code, status in ((None, 0), (4, 4), ("a message", 1)):
        child = fork_worker(_exiting_with(code), {}, 0, [])
        assert child.stdin is not None
        child.stdin.write(b"1\n")
        child.stdin.close()
        assert child.wait(timeout=DEADLINE_SECONDS) == status


def test_siblings_share_the_first_ones_group_and_hold_no_pipe_of_each_other() -> None:
    first = fork_worker(_status_of, {}, 0, [])
    second = fork_worker(_status_of, {}, first.pid, [first])
    try:
        assert os.getpgid(first.pid) == first.pid
        assert os.getpgid(second.pid) == first.pid
        # Closing the first one's input ends it although the second was forked after its
        # pipe existed: the second closed its copy of that pipe's write end.
        assert first.stdin is not None
        first.stdin.close()
        assert first.wait(timeout=DEADLINE_SECONDS) == 0
        assert second.poll() is None
    finally:
        for child in (first, second):
            child.kill()
            child.wait(timeout=DEADLINE_SECONDS)
            assert child.stdin is not None
            child.stdin.close()


def test_the_environment_given_is_the_workers() -> None:
    def check(_run: int) -> int:
        return 0 if os.environ.get("MODEL_MIGRATE_PROBE") == "yes" else 9

    child = fork_worker(check, {"MODEL_MIGRATE_PROBE": "yes"}, 0, [])
    assert child.stdin is not None
    child.stdin.write(b"1\n")
    child.stdin.close()
    assert child.wait(timeout=DEADLINE_SECONDS) == 0
    assert "MODEL_MIGRATE_PROBE" not in os.environ


# --- the whole path, in a fresh interpreter ------------------------------------------------

_DRIVE = """
import json, sys
from pathlib import Path
from backend.bootstrap import build_service, import_service
from backend.cli.commands import run_forked_worker
from backend.config import Settings
from backend.database.migration.forking import ForkedWorker
from backend.database.migration.workers import early_workers

data_dir, legacy_db, images, url, alone = sys.argv[1:6]
settings = Settings(data_dir=Path(data_dir), database_url=url or None)
build_service(settings).close()  # the library exists; nothing is open when the workers fork
import_service()
with early_workers(settings, 1, run_forked_worker) as early:
    (child,) = early.children
    service = build_service(settings)
    try:
        run = service.start_legacy_run(Path(legacy_db), Path(images))
        if alone == "1":
            early.hand_over(run.id, 1)
            child.wait()
            status = service.run_status(run.id)
        else:
            status = service.run_until_done(run.id, workers=2, early=early)
    finally:
        service.close()
print(json.dumps({"forked": isinstance(child, ForkedWorker), "code": child.returncode,
                  "counts": {k: v for k, v in status.counts.items() if v}}))
"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest) -> str:
    """The library database: the data dir's SQLite file (""), or a fresh PostgreSQL one."""
    if request.param == "sqlite":
        return ""
    return str(request.getfixturevalue("postgres_url"))


@pytest.mark.parametrize("alone", [True, False], ids=["worker-alone", "beside-parent"])
def test_a_forked_early_worker_migrates_a_run(tmp_path: Path, url: str, alone: bool) -> None:
    lib = make_sample_library(tmp_path / "legacy", models=MODELS, include_cases=False)
    args = [str(tmp_path / "data"), str(lib.db_path), str(lib.images_dir), url, str(int(alone))]
    done = subprocess.run(
        [sys.executable, "-c", _DRIVE, *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["forked"] is True
    assert result["code"] == 0
    # With the run handed to the worker alone, this process never drove it.
    assert result["counts"] == {"promoted": MODELS}
    service = make_service(tmp_path / "data", url or None)
    try:
        assert service.run_status(1).finished
    finally:
        service.close()


_ORPHANED = """
import sys, time
from pathlib import Path
from backend.config import Settings
from backend.database.migration.workers import EarlyWorkers

workers = EarlyWorkers(Settings(data_dir=Path(sys.argv[1])), 2, lambda run: 0)
print(" ".join(str(c.pid) for c in workers.children), flush=True)
time.sleep(600)
"""


@contextlib.contextmanager
def _killed_at_the_end(process: subprocess.Popen[str]) -> Iterator[None]:
    try:
        yield
    finally:
        process.kill()


def _wait_until(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not check():
        assert time.monotonic() < deadline, f"never saw: {what}"
        time.sleep(0.02)


def _shown_waiting(pid: int) -> bool:
    """Whether ``ps`` shows the process as a worker started early as a program is."""
    shown = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    return shown == [b"model-migrate", b"worker", b"--run-from-stdin", b"--quiet"]


def _ended(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")  # a zombie has ended: nobody reaped it yet


def test_forked_workers_end_when_their_parent_is_killed_before_it_has_a_run(
    tmp_path: Path,
) -> None:
    with (
        subprocess.Popen(
            [sys.executable, "-c", _ORPHANED, str(tmp_path / "data")],
            stdout=subprocess.PIPE,
            text=True,
        ) as parent,
        _killed_at_the_end(parent),
    ):
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2
        assert not any(_ended(pid) for pid in pids)
        _wait_until("workers shown as started early", lambda: all(map(_shown_waiting, pids)))
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=DEADLINE_SECONDS)
        _wait_until("the workers end with their parent", lambda: all(map(_ended, pids)))


def test_a_worker_is_started_as_a_program_where_forking_is_not_safe(tmp_path: Path) -> None:
    script = """
import sys, threading, time
from pathlib import Path
from backend.config import Settings
from backend.database.migration.workers import early_workers

stop = threading.Event()
threading.Thread(target=stop.wait, daemon=True).start()  # a second thread: no fork
with early_workers(Settings(data_dir=Path(sys.argv[1])), 1, lambda run: 0) as early:
    kinds = [type(c).__name__ for c in early.children]
stop.set()
print(" ".join(kinds))
"""
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Popen"]
