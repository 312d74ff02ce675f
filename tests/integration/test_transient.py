"""Transient is transient: a legacy DB locked by its own app backs off and retries, a resumed
run retries what ran out of transient retries, a full disk backs off; and a rerun with another
``--on-conflict`` is refused."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from freezegun import freeze_time

from backend.bootstrap import build_service
from backend.cli import main
from backend.config import Settings
from backend.database.migration.errors import InvalidInputError
from backend.database.migration.service import MigrationService
from backend.sample.legacy_factory import LegacyLibrary, make_sample_library
from tests.helpers.crash_cli import REPO, cli_env, url_for

T0 = "2030-01-01 00:00:00"


@pytest.fixture
def lib(tmp_path: Path) -> LegacyLibrary:
    return make_sample_library(tmp_path / "legacy", models=6, include_cases=False)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[MigrationService]:
    svc = build_service(Settings(data_dir=tmp_path / "data", database_url=None))
    yield svc
    svc.close()


@contextmanager
def locked(db: Path) -> Iterator[None]:
    """Another connection holds an exclusive lock on ``db`` (as the v1 app writing would)."""
    holder = sqlite3.connect(db, timeout=0, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def library_file(data_dir: Path) -> Path:
    """The library's SQLite file in a data dir (as the CLI helpers point at it)."""
    return Path(url_for(data_dir).removeprefix("sqlite:///"))


def test_a_legacy_db_locked_mid_run_backs_off_then_migrates(
    lib: LegacyLibrary, service: MigrationService
) -> None:
    with freeze_time(T0) as frozen:
        run = service.start_legacy_run(lib.db_path, lib.images_dir)
        with locked(lib.db_path):
            first = service.advance(run.id, batch_size=2)
        assert [(r.to_state, r.error_code) for r in first.items] == [("pending", "transient")] * 2
        assert "database is locked" in (first.items[0].error or "")
        assert service.advance(run.id, batch_size=2).items[0].item_id not in {
            r.item_id for r in first.items
        }  # the backed-off items wait their turn
        frozen.tick(2)  # past the first backoff (1 s, jitter 10 %)
        status = service.run_until_done(run.id)
    assert status.counts.get("promoted") == len(lib.rows)
    history = service.item_detail(first.items[0].item_id).events
    assert [e.trigger for e in history[:2]] == ["backoff", "import_model"]


def test_a_resumed_run_retries_items_whose_transient_retries_ran_out(
    lib: LegacyLibrary, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=None, max_attempts=1)
    service = build_service(settings)
    try:
        run = service.start_legacy_run(lib.db_path, lib.images_dir)
        with locked(lib.db_path):
            first = service.advance(run.id, batch_size=2)
        assert [(r.to_state, r.error_code) for r in first.items] == [
            ("failed", "retries_exhausted")
        ] * 2
        again = service.start_legacy_run(lib.db_path, lib.images_dir)
        assert (again.id, again.resumed) == (run.id, True)
        retry = service.item_detail(first.items[0].item_id).events[-1]
        assert (retry.trigger, retry.to_state, retry.detail) == (
            "retry",
            "pending",
            {"reason": "run resumed"},
        )
        status = service.run_until_done(run.id)
    finally:
        service.close()
    assert status.counts.get("promoted") == len(lib.rows)


def test_a_rerun_with_another_on_conflict_is_refused(
    lib: LegacyLibrary, service: MigrationService, tmp_path: Path
) -> None:
    run = service.start_legacy_run(lib.db_path, lib.images_dir, on_conflict="merge")
    with pytest.raises(InvalidInputError, match="started with --on-conflict merge"):
        service.start_legacy_run(lib.db_path, lib.images_dir, on_conflict="override")
    assert service.start_legacy_run(lib.db_path, lib.images_dir).id == run.id
    assert service.start_legacy_run(lib.db_path, lib.images_dir, on_conflict="merge").resumed

    args = ["legacy", str(lib.db_path), str(lib.images_dir), "--on-conflict", "ignore"]
    env = {"MODEL_MIGRATE_DATA_DIR": str(tmp_path / "data"), "MODEL_MIGRATE_DATABASE_URL": ""}
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 2
    assert "legacy run 1 was started with --on-conflict merge" in result.output


def run_cli(args: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = cli_env(data_dir)
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", *args],
        env=environ,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def events_with(data_dir: Path, trigger: str, words: str) -> int:
    with sqlite3.connect(library_file(data_dir)) as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM migration_events WHERE trigger = ? AND error LIKE ?",
            (trigger, f"%{words}%"),
        ).fetchone()
    return int(row[0])


@pytest.mark.slow
def test_a_full_disk_while_writing_tiers_backs_off_and_the_run_completes(
    lib: LegacyLibrary, tmp_path: Path
) -> None:
    args = ["legacy", str(lib.db_path), str(lib.images_dir), "--batch-size", "2", "--workers", "1"]
    proc = run_cli(args, tmp_path / "data", MODEL_MIGRATE_ENOSPC_AT="image_rendered:2")
    assert proc.returncode == 0, proc.stderr
    assert events_with(tmp_path / "data", "backoff", "No space left on device") == 2


@pytest.mark.slow
def test_a_full_disk_outside_an_item_ends_with_one_line_and_resumes(
    lib: LegacyLibrary, tmp_path: Path
) -> None:
    args = ["legacy", str(lib.db_path), str(lib.images_dir), "--batch-size", "2", "--workers", "1"]
    proc = run_cli(args, tmp_path / "data", MODEL_MIGRATE_ENOSPC_AT="batch_committed:1")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: disk full writing")
    again = run_cli(args, tmp_path / "data")
    assert again.returncode == 0, again.stderr
