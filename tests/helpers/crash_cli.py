"""Run `model-migrate` as a real subprocess on a data dir, optionally killed at a checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from backend.database.migration.faults import ENV as KILL_ENV
from tests.helpers.library_snapshot import LibrarySnapshot

REPO = Path(__file__).resolve().parents[2]


def url_for(data_dir: Path) -> str:
    """The SQLite library URL inside a data dir."""
    return f"sqlite:///{data_dir}/hikaze_model_manager.db"


def cli_env(
    data_dir: Path, kill_at: int | None = None, batch_size: int | None = None
) -> dict[str, str]:
    """This process's environment, pointed at ``data_dir`` only (no inherited settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODEL_MIGRATE_")}
    env["MODEL_MIGRATE_DATA_DIR"] = str(data_dir)
    env["MODEL_MIGRATE_DATABASE_URL"] = url_for(data_dir)
    if batch_size is not None:
        env["MODEL_MIGRATE_BATCH_SIZE"] = str(batch_size)
    if kill_at is not None:
        env[KILL_ENV] = str(kill_at)
    return env


def cli(
    args: list[str], data_dir: Path, kill_at: int | None = None, batch_size: int | None = None
) -> subprocess.Popen[str]:
    """Start `model-migrate ARGS`."""
    return subprocess.Popen(
        [sys.executable, "-m", "backend.cli", *args],
        env=cli_env(data_dir, kill_at, batch_size),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> int:
    """Wait for it; 0, 3 or -9 (killed) are the expected exits, anything else fails."""
    out, err = proc.communicate(timeout=120)
    if proc.returncode not in (0, 3, -9):
        raise AssertionError(f"exit {proc.returncode}\n{out}\n{err}")
    return proc.returncode


def snapshot_diff(a: LibrarySnapshot, b: LibrarySnapshot) -> str:
    """A short description of how two library snapshots differ."""
    parts = []
    for field in ("models", "tags", "model_tags", "pending", "db_meta", "files"):
        x, y = {str(r) for r in getattr(a, field)}, {str(r) for r in getattr(b, field)}
        if x != y:
            parts.append(f"{field}: +{sorted(x - y)[:2]} -{sorted(y - x)[:2]}")
    return "; ".join(parts)
