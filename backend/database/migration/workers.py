"""Extra worker processes for one run: ``model-migrate worker --run N`` beside this process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

from backend.config import Settings


def worker_env(settings: Settings) -> dict[str, str]:
    """Environment that points a child process at the same data dir and database."""
    env = dict(os.environ)
    env["MODEL_MIGRATE_DATA_DIR"] = str(settings.data_dir.resolve())
    env["MODEL_MIGRATE_DATABASE_URL"] = settings.resolved_database_url
    return env


def run_with_workers(
    settings: Settings, run_id: int, workers: int, drive: Callable[[], None]
) -> None:
    """Start ``workers - 1`` worker processes on the run, drive it here too, then wait."""
    command = [sys.executable, "-m", "backend.cli", "worker", "--run", str(run_id), "--quiet"]
    children = [
        subprocess.Popen(command, env=worker_env(settings), stdout=subprocess.DEVNULL)
        for _ in range(workers - 1)
    ]
    try:
        drive()
    finally:
        for child in children:
            child.wait()
