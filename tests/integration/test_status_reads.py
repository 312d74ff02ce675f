"""``model-migrate status`` reads through the read-only facade ``build_reads`` builds; it must
print exactly what the service's ``run_status`` / ``list_runs`` return, byte for byte, and fail
the same way (a real CLI subprocess against the service in this process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from freezegun import freeze_time

from backend.bootstrap import build_reads, build_service
from backend.config import Settings
from backend.database.migration.errors import NotFoundError
from backend.database.migration.service import MigrationService
from backend.sample.legacy_factory import make_sample_library
from tests.helpers.crash_cli import REPO, cli_env, url_for

LONG_AGO = "2026-01-02 03:04:05"
"""Runs are driven then, so their rate is 0 when the CLI reads them now (nothing finished in
the last minute): its output does not depend on when the subprocess runs."""


def cli(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", *args],
        env=cli_env(data_dir),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def service_on(data_dir: Path) -> MigrationService:
    return build_service(Settings(data_dir=data_dir, database_url=url_for(data_dir)))


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    """A data dir with a finished run and a run left half done (ids in that order)."""
    root = tmp_path_factory.mktemp("status")
    data_dir = root / "data"
    service = service_on(data_dir)
    try:
        with freeze_time(LONG_AGO):
            done = make_sample_library(root / "done", models=20, image_size=None)
            half = make_sample_library(root / "half", models=30, image_size=None, seed=7)
            finished = service.start_legacy_run(done.db_path, done.images_dir)
            service.run_until_done(finished.id, workers=1)
            started = service.start_legacy_run(half.db_path, half.images_dir)
            service.advance(started.id, batch_size=8)
    finally:
        service.close()
    return data_dir, [finished.id, started.id]


def test_status_of_a_run_prints_what_the_service_returns(library: tuple[Path, list[int]]) -> None:
    data_dir, run_ids = library
    for run_id in run_ids:
        shown = cli(["status", str(run_id), "--json"], data_dir)
        assert shown.returncode == 0, shown.stderr
        service = service_on(data_dir)
        try:
            expected = service.run_status(run_id).model_dump_json(indent=2) + "\n"
        finally:
            service.close()
        assert shown.stdout == expected
    half = json.loads(cli(["status", str(run_ids[1]), "--json"], data_dir).stdout)
    assert 0 < half["done"] < half["total"] and half["remaining"] > 0 and not half["finished"]


def test_status_of_every_run_prints_what_the_service_returns(
    library: tuple[Path, list[int]],
) -> None:
    data_dir, run_ids = library
    shown = cli(["status", "--json"], data_dir)
    assert shown.returncode == 0, shown.stderr
    service = service_on(data_dir)
    try:
        runs = service.list_runs()
    finally:
        service.close()
    assert shown.stdout == json.dumps([r.model_dump() for r in runs], indent=2) + "\n"
    assert [r["run_id"] for r in json.loads(shown.stdout)] == sorted(run_ids, reverse=True)


def test_the_facade_and_the_service_agree_while_a_run_moves(
    library: tuple[Path, list[int]], tmp_path: Path
) -> None:
    lib = make_sample_library(tmp_path / "legacy", models=25, image_size=None, seed=3)
    settings = Settings(data_dir=tmp_path / "data")
    service = build_service(settings)
    reads = build_reads(settings)
    try:
        with freeze_time(LONG_AGO) as clock:
            run = service.start_legacy_run(lib.db_path, lib.images_dir)
            clock.tick(5)
            service.advance(run.id, batch_size=10)
            clock.tick(2)
            moving = reads.run_status(run.id)
            assert moving.rate > 0 and moving.eta_seconds is not None  # a rate to print
            assert moving.model_dump_json() == service.run_status(run.id).model_dump_json()
            assert [r.model_dump_json() for r in reads.list_runs()] == [
                r.model_dump_json() for r in service.list_runs()
            ]
    finally:
        reads.close()
        service.close()


def test_an_unknown_run_fails_as_the_service_does(library: tuple[Path, list[int]]) -> None:
    data_dir, _ = library
    service = service_on(data_dir)
    try:
        with pytest.raises(NotFoundError) as missing:
            service.run_status(999)
    finally:
        service.close()
    shown = cli(["status", "999", "--json"], data_dir)
    assert shown.returncode == 2
    assert shown.stdout == ""
    assert shown.stderr.strip() == f"error: {missing.value.message} ({missing.value.code})"
