"""Several `model-migrate worker` processes sharing one PostgreSQL library split a run with
SKIP LOCKED and build exactly the library a single worker builds."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.sample.legacy_factory import make_sample_library
from tests.conftest import POSTGRES_ENV
from tests.helpers.library_snapshot import orphan_problems, snapshot_library
from tests.helpers.postgres import fresh_database
from tests.helpers.service import make_service

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def second_postgres_url(postgres_url: str) -> Iterator[str]:
    """Another fresh database on the same server, for the single-worker reference run."""
    with fresh_database(os.environ[POSTGRES_ENV]) as url:
        yield url


def worker_env(data_dir: Path, url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["MODEL_MIGRATE_DATA_DIR"] = str(data_dir)
    env["MODEL_MIGRATE_DATABASE_URL"] = url
    env["MODEL_MIGRATE_BATCH_SIZE"] = "4"
    return env


def test_two_worker_processes_build_the_single_worker_library(
    tmp_path: Path, postgres_url: str, second_postgres_url: str
) -> None:
    lib = make_sample_library(tmp_path / "legacy", models=120, image_size=(64, 96))
    snapshots = []
    for workers, url in ((1, second_postgres_url), (2, postgres_url)):
        data = tmp_path / f"data{workers}"
        service = make_service(data, url)
        try:
            run = service.start_legacy_run(lib.db_path, lib.images_dir)
        finally:
            service.close()
        command = [sys.executable, "-m", "backend.cli", "worker", "--run", str(run.id)]
        processes = [
            subprocess.Popen(command, env=worker_env(data, url), stderr=subprocess.PIPE, text=True)
            for _ in range(workers)
        ]
        outputs = [p.communicate(timeout=180)[1] for p in processes]
        assert [p.returncode for p in processes] == [0] * workers, outputs
        handled = [int(out.split("handled ")[1].split(" ")[0]) for out in outputs]
        assert sum(handled) >= len(lib.rows)
        if workers == 2:
            assert all(h > 0 for h in handled), f"one worker did all the work: {handled}"
        service = make_service(data, url)
        try:
            status = service.run_status(run.id)
        finally:
            service.close()
        assert status.finished and status.counts["failed"] == 0
        snapshots.append(snapshot_library(data, url))
    one, two = snapshots
    assert len(one.models) >= 50
    assert two == one
    assert orphan_problems(two) == []
