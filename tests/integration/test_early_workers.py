"""Worker processes started before their run exists (``service.early_workers``): they start
up while the run is created, then work on the run id they are handed, or exit when they get
none; on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.database.migration.errors import NotFoundError
from backend.sample.legacy_factory import make_sample_library
from tests.helpers.service import make_service

MODELS = 40


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest) -> str | None:
    """The library database: the data dir's SQLite file (None), or a fresh PostgreSQL one."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("postgres_url"))


def test_an_early_worker_waits_for_its_run_then_does_all_of_it(
    tmp_path: Path, url: str | None
) -> None:
    lib = make_sample_library(tmp_path / "legacy", models=MODELS, include_cases=False)
    service = make_service(tmp_path / "data", url)
    try:
        with service.early_workers(1) as early:
            assert early is not None
            (child,) = early.children
            run = service.start_legacy_run(lib.db_path, lib.images_dir)
            assert child.poll() is None, "the worker did not wait for its run"
            assert early.hand_over(run.id, 1) == [child]
            assert child.wait(timeout=180) == 0
        status = service.run_status(run.id)
    finally:
        service.close()
    # This process never drove the run: the worker it started early did all of it.
    assert status.finished
    assert status.counts["promoted"] == len(lib.rows) == MODELS


def test_early_workers_drive_a_run_beside_this_process(tmp_path: Path, url: str | None) -> None:
    lib = make_sample_library(tmp_path / "legacy", models=MODELS, include_cases=False)
    service = make_service(tmp_path / "data", url)
    try:
        with service.early_workers(1) as early:
            assert early is not None
            run = service.start_legacy_run(lib.db_path, lib.images_dir)
            status = service.run_until_done(run.id, workers=2, early=early)
            assert [c.returncode for c in early.children] == [0]
    finally:
        service.close()
    assert status.finished
    assert status.counts["promoted"] == MODELS


def test_early_workers_given_no_run_exit_cleanly(tmp_path: Path, url: str | None) -> None:
    service = make_service(tmp_path / "data", url)
    try:
        with service.early_workers(2) as early:
            assert early is not None
            children = early.children
        assert [c.returncode for c in children] == [0, 0]
        with pytest.raises(NotFoundError):
            service.run_status(1)
    finally:
        service.close()


def test_early_workers_are_stopped_when_the_run_cannot_start(tmp_path: Path) -> None:
    service = make_service(tmp_path / "data")
    try:
        with pytest.raises(Exception, match="nowhere"), service.early_workers(1) as early:
            assert early is not None
            children = early.children
            service.start_legacy_run(tmp_path / "nowhere.db", tmp_path / "images")
    finally:
        service.close()
    assert all(c.returncode is not None for c in children)


def test_a_worker_refuses_a_run_id_that_is_not_a_number(tmp_path: Path) -> None:
    env = {**os.environ, "MODEL_MIGRATE_DATA_DIR": str(tmp_path / "data")}
    env.pop("MODEL_MIGRATE_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "backend.cli", "worker", "--run-from-stdin", "--quiet"],
        input="seven\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2
    assert "expected a run id on standard input" in done.stderr
