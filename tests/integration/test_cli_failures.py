"""Operational failures of the real CLI: one line naming the file or setting, exit 2 for bad
settings or input, 1 for the environment, never a traceback (``--debug`` shows one)."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from backend.sample.legacy_factory import LegacyLibrary, make_sample_library
from tests.helpers.crash_cli import REPO, cli_env, url_for

pytestmark = pytest.mark.slow


def library_file(data_dir: Path) -> Path:
    """The library's SQLite file in a data dir (as the CLI helpers point at it)."""
    return Path(url_for(data_dir).removeprefix("sqlite:///"))


def run(args: list[str], data_dir: Path, **env: str) -> tuple[int, str, str]:
    environ = cli_env(data_dir)
    environ.update(env)
    proc = subprocess.run(
        [sys.executable, "-m", "backend.cli", *args],
        env=environ,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout, proc.stderr


def one_line_error(stderr: str, before: int = 0) -> str:
    """The error line; fails on a traceback, or when other than ``before`` lines precede it."""
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()][before:]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` read-only for the CLI: a read-only bind mount as root, else permissions."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> LegacyLibrary:
    return make_sample_library(tmp_path_factory.mktemp("legacy"), models=30, include_cases=False)


def test_an_out_of_range_setting_names_the_variable_and_exits_2(tmp_path: Path) -> None:
    code, _out, err = run(["status"], tmp_path, MODEL_MIGRATE_WEBP_METHOD="9")
    line = one_line_error(err)
    assert code == 2
    assert "MODEL_MIGRATE_WEBP_METHOD=9" in line and "less than or equal to 6" in line


def test_a_bad_database_url_names_the_setting_and_exits_2(tmp_path: Path) -> None:
    code, _out, err = run(["status"], tmp_path, MODEL_MIGRATE_DATABASE_URL="foo://bar")
    assert code == 2
    assert "MODEL_MIGRATE_DATABASE_URL" in one_line_error(err)


def test_an_unreachable_database_exits_1_without_the_password(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens once it is closed
    url = f"postgresql+psycopg://user:s3cret@127.0.0.1:{port}/lib"
    code, _out, err = run(["status"], tmp_path, MODEL_MIGRATE_DATABASE_URL=url)
    line = one_line_error(err)
    assert code == 1
    assert f"127.0.0.1:{port}/lib" in line and "MODEL_MIGRATE_DATABASE_URL" in line
    assert "s3cret" not in line


def test_debug_shows_the_traceback_too(tmp_path: Path) -> None:
    code, _out, err = run(["--debug", "status"], tmp_path, MODEL_MIGRATE_DATABASE_URL="foo://bar")
    assert code == 2
    assert "Traceback" in err
    assert err.strip().splitlines()[-1].startswith("error: ")
    assert "MODEL_MIGRATE_DATABASE_URL" in err.strip().splitlines()[-1]


@pytest.mark.parametrize("under", [False, True])
def test_a_data_dir_that_is_a_file_exits_2(tmp_path: Path, under: bool) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    data_dir = blocker / "data" if under else blocker
    environ = {"MODEL_MIGRATE_DATABASE_URL": ""}
    code, _out, err = run(["status"], data_dir, **environ)
    line = one_line_error(err)
    assert code == 2
    assert str(data_dir) in line and "MODEL_MIGRATE_DATA_DIR" in line


def test_a_damaged_library_database_exits_1(tmp_path: Path) -> None:
    library_file(tmp_path).write_bytes(os.urandom(8192))
    code, _out, err = run(["status"], tmp_path)
    line = one_line_error(err)
    assert code == 1
    assert str(library_file(tmp_path)) in line and "backups" in line


def test_a_read_only_data_dir_fails_writes_with_one_line(
    legacy: LegacyLibrary, tmp_path: Path
) -> None:
    args = ["legacy", str(legacy.db_path), str(legacy.images_dir)]
    assert run([*args, "--batch-size", "8"], tmp_path)[0] == 0
    with read_only(tmp_path):
        code, _out, err = run(args, tmp_path)
    line = one_line_error(err, before=1)  # "resuming legacy run 1": reading works
    assert code == 1
    assert str(tmp_path) in line and "read-only" in line


def test_serve_on_a_busy_port_names_it_and_exits_1(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _out, err = run(["serve", "--port", str(port)], tmp_path)
    line = one_line_error(err, before=1)  # "serving on …"
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in line and "--port" in line


def test_promote_an_unknown_id_says_so_and_exits_2(tmp_path: Path) -> None:
    code, out, err = run(["promote", "--id", "999999"], tmp_path)
    assert code == 2
    assert one_line_error(err) == "error: no pending model with id 999999"
    assert "None" not in out + err


def test_promote_all_with_nothing_pending_exits_0(tmp_path: Path) -> None:
    code, _out, err = run(["promote", "--all"], tmp_path)
    assert code == 0
    assert "no pending models to promote" in err and "None" not in err


def test_a_locked_legacy_database_at_start_exits_1(legacy: LegacyLibrary, tmp_path: Path) -> None:
    holder = sqlite3.connect(legacy.db_path, timeout=0)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        code, _out, err = run(["preflight", str(legacy.db_path), str(legacy.images_dir)], tmp_path)
    finally:
        holder.rollback()
        holder.close()
    line = one_line_error(err)
    assert code == 1
    assert str(legacy.db_path) in line and "another program" in line
