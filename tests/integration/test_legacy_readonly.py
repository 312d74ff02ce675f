"""The legacy DB is read-only for real (issue 15.8): readable on a read-only mount whatever its
journal mode, and no file (``-wal``, ``-shm``, journal) is ever created next to it.

The read-only mount is real: ``unshare -m`` gives the CLI subprocess a private mount namespace
in which the legacy folder is bind-mounted read-only (``chmod 0555`` would not stop root).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from backend.bootstrap import build_service
from backend.config import Settings
from backend.database.migration.legacy.reader import LegacyReader
from backend.database.migration.service import MigrationService
from backend.sample.legacy_factory import LegacyLibrary, make_legacy_library

CASES = ("valid", "empty_hash", "several_images", "unicode_tags")
READ_ONLY = """
set -e
mount --bind "$1" "$1"
mount -o remount,ro,bind "$1"
if touch "$1/.probe" 2>/dev/null; then echo "mount is writable" >&2; exit 97; fi
shift
exec "$@"
"""


def can_unshare() -> bool:
    try:
        done = subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=30)
    except FileNotFoundError:
        return False
    return done.returncode == 0


needs_mount = pytest.mark.skipif(
    not can_unshare(), reason="needs `unshare -m` (root or user namespaces) for a read-only mount"
)


@contextmanager
def service_on(data: Path) -> Iterator[MigrationService]:
    svc = build_service(Settings(data_dir=data))
    try:
        yield svc
    finally:
        svc.close()


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def cli_on_read_only_mount(
    folder: Path, data_dir: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODEL_MIGRATE_")} | {
        "MODEL_MIGRATE_DATA_DIR": str(data_dir)
    }
    command = [sys.executable, "-m", "backend.cli", *args]
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", READ_ONLY, "sh", str(folder), *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def to_wal(lib: LegacyLibrary) -> None:
    conn = sqlite3.connect(lib.db_path)
    try:
        assert conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    finally:
        conn.close()


@pytest.fixture
def lib(tmp_path: Path) -> LegacyLibrary:
    return make_legacy_library(tmp_path / "legacy", cases=CASES)


@pytest.fixture
def live_writer(lib: LegacyLibrary) -> Iterator[sqlite3.Connection]:
    """The v1 app still open: WAL mode, one row committed only to the ``-wal`` file."""
    to_wal(lib)
    conn = sqlite3.connect(lib.db_path)
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute(
        "INSERT INTO models (id, path, name, type, size_bytes, hash_hex, created_at)"
        " VALUES (999, '/models/only-in-wal.pt', 'only in wal', 'lora', 1, '', 0)"
    )
    conn.commit()
    assert Path(f"{lib.db_path}-wal").stat().st_size > 0
    yield conn
    conn.close()


@needs_mount
def test_a_wal_db_with_a_live_wal_is_read_on_a_read_only_mount(
    lib: LegacyLibrary, live_writer: sqlite3.Connection, tmp_path: Path
) -> None:
    before = listing(lib.root)
    data = tmp_path / "data"
    db, images = str(lib.db_path), str(lib.images_dir)

    preflight = cli_on_read_only_mount(lib.root, data, "preflight", db, images, "--json")
    legacy = cli_on_read_only_mount(lib.root, data, "legacy", db, images, "--json")

    assert preflight.returncode == 0, preflight.stderr + preflight.stdout
    assert json.loads(preflight.stdout)["models"] == len(CASES) + 1  # the WAL-only row too
    assert legacy.returncode in (0, 3), legacy.stderr + legacy.stdout
    assert "readonly" not in legacy.stdout + legacy.stderr
    with service_on(data) as svc:
        (run,) = svc.list_runs()
        assert run.total == len(CASES) + 1
        assert run.counts["failed"] == 0
    assert listing(lib.root) == before
    assert list((data / "tmp").iterdir()) == []  # the snapshot is gone


@needs_mount
@pytest.mark.parametrize("mode", ["wal", "delete"])
def test_a_closed_db_in_either_journal_mode_is_read_on_a_read_only_mount(
    lib: LegacyLibrary, tmp_path: Path, mode: str
) -> None:
    if mode == "wal":
        to_wal(lib)
    before = listing(lib.root)

    done = cli_on_read_only_mount(
        lib.root, tmp_path / "data", "preflight", str(lib.db_path), str(lib.images_dir), "--json"
    )

    assert done.returncode == 0, done.stderr + done.stdout
    assert json.loads(done.stdout)["models"] == len(CASES)
    assert listing(lib.root) == before


def test_preflight_and_legacy_on_a_wal_db_create_no_file_beside_it(
    lib: LegacyLibrary, tmp_path: Path
) -> None:
    to_wal(lib)
    before = listing(lib.root)
    data = tmp_path / "data"

    with service_on(data) as svc:
        svc.preflight(lib.db_path, lib.images_dir)
        result = svc.migrate_legacy(lib.db_path, lib.images_dir)
        report = svc.audit(result.run_id)
        assert listing(lib.root) == before  # also while the service still holds its readers

    assert report.ok
    assert listing(lib.root) == before
    assert list((data / "tmp").iterdir()) == []


def test_the_fingerprint_is_the_originals(lib: LegacyLibrary, tmp_path: Path) -> None:
    plain = LegacyReader(lib.db_path, lib.images_dir)
    try:
        first = plain.fingerprint()
    finally:
        plain.close()
    to_wal(lib)
    wal = LegacyReader(lib.db_path, lib.images_dir, scratch_dir=tmp_path / "scratch")
    try:
        assert wal.fingerprint() != first  # the header changed (journal mode is in it)
        assert wal.fingerprint() == wal.fingerprint()
        assert wal.count() == len(CASES)
        assert len(list((tmp_path / "scratch").iterdir())) == 1
    finally:
        wal.close()
    assert list((tmp_path / "scratch").iterdir()) == []
