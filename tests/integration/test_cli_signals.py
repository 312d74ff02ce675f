"""SIGTERM / SIGINT to a real `model-migrate legacy --workers 2`: the workers stop with it, no
lease is left, the message names the command that resumes, and resuming gives the library a
clean run gives. Worker processes are named `model-migrate worker`."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from backend.sample.legacy_factory import LegacyLibrary, make_sample_library
from tests.helpers.crash_cli import cli, finish, snapshot_diff, url_for
from tests.helpers.library_snapshot import LibrarySnapshot, snapshot_library
from workflows.owner import pid_alive

pytestmark = pytest.mark.slow

POLL_LIMIT_SECONDS = 120


@dataclass
class Clean:
    lib: LegacyLibrary
    snapshot: LibrarySnapshot
    code: int


def library_file(data_dir: Path) -> Path:
    """The library's SQLite file in a data dir (as the CLI helpers point at it)."""
    return Path(url_for(data_dir).removeprefix("sqlite:///"))


def legacy_args(lib: LegacyLibrary) -> list[str]:
    return ["legacy", str(lib.db_path), str(lib.images_dir), "--workers", "2", "--batch-size", "4"]


def library(data_dir: Path) -> LibrarySnapshot:
    return snapshot_library(data_dir, url_for(data_dir))


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clean]:
    root = tmp_path_factory.mktemp("signals")
    lib = make_sample_library(root / "legacy", models=240, images_per_model=2)
    code = finish(cli(legacy_args(lib), root / "clean"))
    yield Clean(lib, library(root / "clean"), code)


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def wait_for(what: str, check: object) -> None:
    """Poll ``check()`` until it is true (the deadline only stops a hung test)."""
    deadline = time.monotonic() + POLL_LIMIT_SECONDS
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"never saw: {what}"
        time.sleep(0.05)


def promoted(data_dir: Path) -> int:
    db = library_file(data_dir)
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM migration_items WHERE status = 'promoted'"
            ).fetchone()
    except sqlite3.OperationalError:
        return 0  # the schema is not there yet
    return int(row[0])


def leases(data_dir: Path) -> int:
    with sqlite3.connect(library_file(data_dir)) as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM migration_items WHERE lease_owner IS NOT NULL"
        ).fetchone()
    return int(row[0])


def start_and_stop(clean: Clean, data_dir: Path, signum: int) -> tuple[int, str, list[int]]:
    """Start the run, wait until a worker runs and items got done, signal the parent."""
    proc = cli(legacy_args(clean.lib), data_dir)
    workers: list[int] = []

    def ready() -> bool:
        workers[:] = children_of(proc.pid)
        assert proc.poll() is None, proc.communicate()
        return bool(workers) and promoted(data_dir) >= 8

    wait_for("a worker and 8 promoted items", ready)
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=120)
    return proc.returncode, err, workers


def test_sigterm_stops_the_workers_releases_leases_and_resumes_to_the_clean_library(
    clean: Clean, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    code, err, workers = start_and_stop(clean, data_dir, signal.SIGTERM)

    assert code == 143, err
    assert "Traceback" not in err
    resume = "resume with: model-migrate " + " ".join(legacy_args(clean.lib))
    assert resume in err
    assert [pid for pid in workers if pid_alive(pid)] == []
    assert leases(data_dir) == 0
    assert promoted(data_dir) < len(clean.lib.rows)  # it really stopped midway

    assert finish(cli(legacy_args(clean.lib), data_dir)) == clean.code
    resumed = library(data_dir)
    assert resumed == clean.snapshot, snapshot_diff(resumed, clean.snapshot)


def test_sigint_exits_130_with_the_resume_command(clean: Clean, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    code, err, workers = start_and_stop(clean, data_dir, signal.SIGINT)

    assert code == 130, err
    assert "Aborted!" not in err and "Traceback" not in err
    assert "stopped by SIGINT" in err and "resume with: model-migrate legacy" in err
    assert [pid for pid in workers if pid_alive(pid)] == []
    assert leases(data_dir) == 0


def test_worker_processes_are_named_model_migrate_worker(clean: Clean, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    proc = cli(legacy_args(clean.lib), data_dir)
    seen: list[tuple[str, str]] = []

    def named() -> bool:
        for pid in children_of(proc.pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                continue
            seen.append((cmdline.decode(), comm))
        return any("model-migrate worker" in c and comm == "model-migrate" for c, comm in seen)

    try:
        wait_for("a worker process", named)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
    assert proc.returncode in (0, 3, 143)
