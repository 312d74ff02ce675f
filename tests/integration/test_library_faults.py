"""Operational faults of the library database: one clear domain error naming the file or the
setting (never a driver traceback), and read-only commands on a read-only data dir."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from backend.bootstrap import build_service
from backend.cli import main
from backend.config import Settings
from backend.database import schema
from backend.database.migration.errors import (
    LibraryDatabaseError,
    LibrarySettingError,
    MigrationError,
)
from backend.sample.legacy_factory import make_sample_library
from tests.helpers.v2_ddl import file_digest

REPO = Path(__file__).resolve().parents[2]
DB_NAME = "hikaze_model_manager.db"
NO_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]
"""Run a child without root's permission bypass, so file modes apply even to root."""


def migrated_library(data: Path, legacy_root: Path) -> Path:
    lib = make_sample_library(legacy_root, models=60, image_size=None)
    service = build_service(Settings(data_dir=data))
    try:
        service.run_until_done(service.start_legacy_run(lib.db_path, lib.images_dir).id)
    finally:
        service.close()
    return data / DB_NAME


def opening_error(data: Path, url: str | None = None) -> MigrationError:
    with pytest.raises(MigrationError) as caught:
        schema.open_library(Settings(data_dir=data, database_url=url)).dispose()
    return caught.value


def cli_output(data: Path, *args: str, url: str | None = None) -> tuple[int, str]:
    env = {"MODEL_MIGRATE_DATA_DIR": str(data), "MODEL_MIGRATE_DATABASE_URL": url}
    result = CliRunner().invoke(main, list(args), env={**env, "HIKAZE_DB_PATH": None})
    return result.exit_code, " ".join(result.output.split())


def test_a_truncated_library_is_named_and_refused(tmp_path: Path) -> None:
    db = migrated_library(tmp_path / "data", tmp_path / "legacy")
    size = db.stat().st_size
    with db.open("r+b") as handle:
        handle.truncate(size // 2)
    error = opening_error(tmp_path / "data")
    assert isinstance(error, LibraryDatabaseError)
    assert str(db) in error.message and "truncated" in error.message
    code, out = cli_output(tmp_path / "data", "status")
    assert code != 0 and "truncated" in out and "Traceback" not in out


def test_random_bytes_are_not_a_library(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / DB_NAME).write_bytes(random.Random(1).randbytes(64 * 1024))
    digest = file_digest(data / DB_NAME)
    error = opening_error(data)
    assert isinstance(error, LibraryDatabaseError)
    assert "is not a SQLite database" in error.message and str(data / DB_NAME) in error.message
    assert file_digest(data / DB_NAME) == digest


def test_a_damaged_schema_page_is_named_and_refused(tmp_path: Path) -> None:
    db = migrated_library(tmp_path / "data", tmp_path / "legacy")
    with db.open("r+b") as handle:
        handle.seek(100)
        handle.write(b"\xff" * 3000)
    error = opening_error(tmp_path / "data")
    assert isinstance(error, LibraryDatabaseError)
    assert "damaged" in error.message and "backups" in error.message
    code, out = cli_output(tmp_path / "data", "status")
    assert code != 0 and "damaged" in out and "Traceback" not in out


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url", "cannot be parsed"),
        ("nosuchdb://user:secret@host/db", "names no installed driver"),
    ],
)
def test_a_bad_database_url_is_a_setting_error(tmp_path: Path, url: str, says: str) -> None:
    error = opening_error(tmp_path, url)
    assert isinstance(error, LibrarySettingError)
    assert "MODEL_MIGRATE_DATABASE_URL" in error.message and says in error.message
    assert "secret" not in error.message
    code, out = cli_output(tmp_path, "status", url=url)
    assert code == 2 and says in out and "Traceback" not in out


def test_an_unreachable_database_server_is_named(tmp_path: Path) -> None:
    error = opening_error(tmp_path, "postgresql+psycopg://someone:pw@127.0.0.1:1/library")
    assert isinstance(error, LibraryDatabaseError)
    assert "cannot reach" in error.message and "MODEL_MIGRATE_DATABASE_URL" in error.message
    assert "127.0.0.1:1/library" in error.message and ":pw@" not in error.message


def test_a_data_dir_that_is_a_file_is_a_setting_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_text("not a folder")
    error = opening_error(data)
    assert isinstance(error, LibrarySettingError)
    assert f"MODEL_MIGRATE_DATA_DIR={data} is a file" in error.message
    code, out = cli_output(data, "status")
    assert code == 2 and "is a file" in out and "Traceback" not in out


def _run_without_root_bypass(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODEL_MIGRATE_")}
    env["MODEL_MIGRATE_DATA_DIR"] = str(data)
    env["COLUMNS"] = "400"
    return subprocess.run(
        [*NO_DAC, sys.executable, "-m", "backend.cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_data_dir_under_an_unwritable_parent_is_a_setting_error(tmp_path: Path) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        done = _run_without_root_bypass(parent / "data", "status")
    finally:
        parent.chmod(0o755)
    assert done.returncode == 2, done.stderr
    err = " ".join(done.stderr.split())
    assert f"cannot create MODEL_MIGRATE_DATA_DIR={parent / 'data'}" in err
    assert "Traceback" not in err


def test_read_only_commands_work_on_a_read_only_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = migrated_library(data, tmp_path / "legacy")
    digest = file_digest(db)
    modes = {p: p.stat().st_mode for p in [data, *data.rglob("*")]}
    for path in modes:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        status = _run_without_root_bypass(data, "status", "--json")
        items = _run_without_root_bypass(data, "items", "1", "--json")
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
    assert status.returncode == 0, status.stderr
    assert re.search(r'"total": 6\d', status.stdout)
    assert items.returncode == 0, items.stderr
    assert file_digest(db) == digest
    assert sorted(p.name for p in data.iterdir()) == sorted(
        p.name for p in modes if p.parent == data
    )
