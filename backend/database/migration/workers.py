"""Extra worker processes for one run: ``model-migrate worker --run N`` beside this process.

The workers share one process group of their own: when this process is stopped (SIGINT,
SIGTERM, or any error) it sends SIGTERM to the group and waits for them, so none keeps writing
after the command has ended, and each releases its leases on the way out. (SIGTERM, not the
SIGINT this process got: a worker still starting up would print a KeyboardInterrupt
traceback, while SIGTERM ends it silently before it can claim anything.)

Workers can start before their run exists (:class:`EarlyWorkers`): Python's start-up, the
imports and opening the library take a worker about half a second, which it then spends while
this process reads the legacy library and creates the run, instead of after. Where it is safe
(:mod:`backend.database.migration.forking`), they are forked from this process instead, and
skip all that.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from backend.database.migration.forking import Entry, ForkedWorker, can_fork, fork_worker
from workflows import stopping

if TYPE_CHECKING:
    from backend.config import Settings

WorkerProcess: TypeAlias = "subprocess.Popen[bytes] | ForkedWorker"

STOP_GRACE_SECONDS = 30.0
WAITING_COMMAND = ("model-migrate", "worker", "--run-from-stdin", "--quiet")
"""What ``ps`` shows for a forked early worker: what one started as a program runs."""
_GROUPS: set[int] = set()  # process groups of running workers, for forward_stop()


def forward_stop() -> None:
    """SIGTERM every running worker group now, without waiting (called from a signal
    handler, so the workers stop while this process releases its own leases)."""
    for group in list(_GROUPS):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)


def worker_env(settings: Settings) -> dict[str, str]:
    """Environment that points a child process at the same data dir and database, with the
    same largest batch (a command's ``--batch-size`` is in its settings)."""
    env = dict(os.environ)
    env["MODEL_MIGRATE_DATA_DIR"] = str(settings.data_dir.resolve())
    env["MODEL_MIGRATE_DATABASE_URL"] = settings.resolved_database_url
    env["MODEL_MIGRATE_BATCH_SIZE"] = str(settings.batch_size)
    return env


def worker_command(run_id: int | None) -> list[str]:
    """``model-migrate worker --run N --quiet`` (``--run-from-stdin`` without a run id): the
    console script beside this interpreter when installed (so ``ps`` shows ``model-migrate
    worker``), else ``python -m backend.cli``."""
    run = ["--run", str(run_id)] if run_id is not None else ["--run-from-stdin"]
    args = ["worker", *run, "--quiet"]
    script = Path(sys.executable).with_name("model-migrate")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script), *args]
    return [sys.executable, "-m", "backend.cli", *args]


def _spawn(
    command: list[str], env: dict[str, str], group: int, *, stdin: int | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command, env=env, stdin=stdin, stdout=subprocess.DEVNULL, process_group=group
    )


class EarlyWorkers:
    """Worker processes started before their run exists (``model-migrate worker
    --run-from-stdin``): each starts up and opens the library, then reads the run id from its
    standard input. :meth:`hand_over` gives them the run; end of input tells them to exit.

    With ``entry`` (and where :func:`~backend.database.migration.forking.can_fork`), they are
    forked from this process instead and run ``entry(run_id)``; the caller must not have a
    database connection open (see :mod:`backend.database.migration.forking`).
    """

    def __init__(self, settings: Settings, count: int, entry: Entry | None = None) -> None:
        self.children: list[WorkerProcess] = []
        env = worker_env(settings)
        forked: list[ForkedWorker] = []
        forked_entry = _forgetting_groups(entry) if entry is not None and can_fork() else None
        try:
            for _ in range(count):
                group = self.children[0].pid if self.children else 0
                child: WorkerProcess
                if forked_entry is not None:
                    child = fork_worker(forked_entry, env, group, forked, WAITING_COMMAND)
                    forked.append(child)
                else:
                    child = _spawn(worker_command(None), env, group, stdin=subprocess.PIPE)
                self.children.append(child)
                if len(self.children) == 1:
                    _GROUPS.add(child.pid)
        except BaseException:
            self.stop()
            raise

    def hand_over(self, run_id: int, count: int) -> list[WorkerProcess]:
        """Give the run to ``count`` of the workers (the others are told to exit); those."""
        for index, child in enumerate(self.children):
            _send(child, f"{run_id}\n".encode() if index < count else b"")
        return self.children[:count]

    def close(self) -> None:
        """Tell every worker still waiting to exit, and wait for them all."""
        for child in self.children:
            _send(child, b"")
        for child in self.children:
            child.wait()
        self._forget()

    def stop(self) -> None:
        """SIGTERM the workers and wait for them (see :func:`stop`)."""
        stop(self.children)
        for child in self.children:
            _send(child, b"")  # only closes the pipe: the worker is gone
        self._forget()

    def _forget(self) -> None:
        if self.children:
            _GROUPS.discard(self.children[0].pid)


def _forgetting_groups(entry: Entry) -> Entry:
    """``entry`` for a forked worker: the worker groups this process stops are not its own."""

    def run(run_id: int) -> int:
        _GROUPS.clear()
        return entry(run_id)

    return run


def _send(child: WorkerProcess, message: bytes) -> None:
    """Write ``message`` to a waiting worker and close its input (once; a worker that has
    already exited is left alone)."""
    if child.stdin is None or child.stdin.closed:
        return
    with contextlib.suppress(OSError):
        child.stdin.write(message)
    with contextlib.suppress(OSError):
        child.stdin.close()


@contextlib.contextmanager
def early_workers(
    settings: Settings, count: int, entry: Entry | None = None
) -> Iterator[EarlyWorkers | None]:
    """``count`` :class:`EarlyWorkers` for the block (None for none): stopped if the block
    fails, else waited for at its end (those never handed a run exit at once)."""
    if count < 1:
        yield None
        return
    workers = EarlyWorkers(settings, count, entry)
    try:
        yield workers
    except BaseException:
        workers.stop()
        raise
    workers.close()


def run_with_workers(
    settings: Settings,
    run_id: int,
    workers: int,
    drive: Callable[[], None],
    early: EarlyWorkers | None = None,
) -> None:
    """Have ``workers - 1`` worker processes on the run (``early`` ones first, then new
    ones), drive it here too, then wait."""
    children = early.hand_over(run_id, workers - 1) if early is not None else []
    grouped = bool(children)  # the early workers' group is registered already
    env = worker_env(settings)
    try:
        for _ in range(workers - 1 - len(children)):
            group = children[0].pid if children else 0
            children.append(_spawn(worker_command(run_id), env, group))
        if children and not grouped:
            _GROUPS.add(children[0].pid)
        drive()
    except BaseException as exc:
        stopping.let_go(exc)  # a signal's, before the workers' last writes: workflows.stopping
        stop(children)
        raise
    finally:
        if children and not grouped:
            _GROUPS.discard(children[0].pid)
    for child in children:
        child.wait()


def stop(children: Sequence[WorkerProcess]) -> None:
    """SIGTERM the workers' process group and wait for them (SIGKILL after a grace period:
    a worker stuck in a system call must not outlive its parent)."""
    if not children:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(children[0].pid, signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
