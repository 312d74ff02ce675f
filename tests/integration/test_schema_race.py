"""Concurrent first starts on a fresh data dir: every process succeeds, the schema is made once."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from backend.database import schema

REPO = Path(__file__).resolve().parents[2]
STARTS = 4


def start(data_dir: Path, url: str | None, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODEL_MIGRATE_")}
    env["MODEL_MIGRATE_DATA_DIR"] = str(data_dir)
    env.pop("HIKAZE_DB_PATH", None)
    if url is not None:
        env["MODEL_MIGRATE_DATABASE_URL"] = url
    return subprocess.Popen(
        [sys.executable, "-m", "backend.cli", *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def race(data_dir: Path, url: str | None, *args: str) -> list[tuple[int, str]]:
    procs = [start(data_dir, url, *args) for _ in range(STARTS)]
    results = []
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        results.append((proc.returncode, err))
    return results


@pytest.mark.slow
@pytest.mark.parametrize("command", [("db", "upgrade"), ("status",)])
def test_concurrent_first_starts_on_a_fresh_sqlite_data_dir_all_succeed(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    for attempt in range(2):
        data = tmp_path / f"data{attempt}"
        results = race(data, None, *command)
        assert [code for code, _ in results] == [0] * STARTS, results
        conn = sqlite3.connect(data / "hikaze_model_manager.db")
        try:
            assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
                (schema.head_revision(),)
            ]
            assert conn.execute("SELECT key, value FROM db_meta ORDER BY key").fetchall() == [
                ("db_version", "2"),
                ("tags_id_max", "0"),
            ]
        finally:
            conn.close()


@pytest.mark.slow
@pytest.mark.postgres
def test_concurrent_first_starts_on_a_fresh_postgres_database_all_succeed(
    tmp_path: Path, postgres_url: str
) -> None:
    results = race(tmp_path / "data", postgres_url, "db", "upgrade")
    assert [code for code, _ in results] == [0] * STARTS, results
