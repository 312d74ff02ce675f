"""Extra worker processes for one run: ``model-migrate worker --run N`` beside this process.

The workers share one process group of their own: when this process is stopped (SIGINT,
SIGTERM, or any error) it sends SIGTERM to the group and waits for them, so none keeps writing
after the command has ended, and each releases its leases on the way out. (SIGTERM, not the
SIGINT this process got: a worker still starting up would print a KeyboardInterrupt
traceback, while SIGTERM ends it silently before it can claim anything.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backend.config import Settings

STOP_GRACE_SECONDS = 30.0
_GROUPS: set[int] = set()  # process groups of running workers, for forward_stop()


def forward_stop() -> None:
    """SIGTERM every running worker group now, without waiting (called from a signal
    handler, so the workers stop while this process releases its own leases)."""
    for group in list(_GROUPS):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)


def worker_env(settings: Settings) -> dict[str, str]:
    """Environment that points a child process at the same data dir and database."""
    env = dict(os.environ)
    env["MODEL_MIGRATE_DATA_DIR"] = str(settings.data_dir.resolve())
    env["MODEL_MIGRATE_DATABASE_URL"] = settings.resolved_database_url
    return env


def worker_command(run_id: int) -> list[str]:
    """``model-migrate worker --run N --quiet``: the console script beside this interpreter
    when installed (so ``ps`` shows ``model-migrate worker``), else ``python -m backend.cli``."""
    args = ["worker", "--run", str(run_id), "--quiet"]
    script = Path(sys.executable).with_name("model-migrate")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script), *args]
    return [sys.executable, "-m", "backend.cli", *args]


def run_with_workers(
    settings: Settings, run_id: int, workers: int, drive: Callable[[], None]
) -> None:
    """Start ``workers - 1`` worker processes on the run, drive it here too, then wait."""
    children: list[subprocess.Popen[bytes]] = []
    env = worker_env(settings)
    try:
        for _ in range(workers - 1):
            group = children[0].pid if children else 0
            children.append(
                subprocess.Popen(
                    worker_command(run_id),
                    env=env,
                    stdout=subprocess.DEVNULL,
                    process_group=group,
                )
            )
        if children:
            _GROUPS.add(children[0].pid)
        drive()
    except BaseException:
        stop(children)
        raise
    finally:
        if children:
            _GROUPS.discard(children[0].pid)
    for child in children:
        child.wait()


def stop(children: list[subprocess.Popen[bytes]]) -> None:
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
