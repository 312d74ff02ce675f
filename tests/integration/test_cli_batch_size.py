"""`model-migrate legacy --workers 2 --batch-size N`: the worker processes the command starts
claim at most N items at once too, not the batch size of their settings."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from backend.config import Settings
from backend.database.migration.workers import worker_env
from backend.sample.legacy_factory import make_sample_library
from tests.helpers.crash_cli import cli, finish, url_for

MODELS = 120


def test_workers_get_the_settings_batch_size(tmp_path: Path) -> None:
    env = worker_env(Settings(data_dir=tmp_path, batch_size=7))
    assert env["MODEL_MIGRATE_BATCH_SIZE"] == "7"


def test_every_process_of_a_command_claims_at_most_its_batch_size(tmp_path: Path) -> None:
    lib = make_sample_library(
        tmp_path / "legacy", models=MODELS, image_size=None, include_cases=False
    )
    args = ["legacy", str(lib.db_path), str(lib.images_dir), "--workers", "2", "--batch-size", "4"]
    data = tmp_path / "data"
    assert finish(cli(args, data, batch_size=1024)) == 0  # the setting says 1024; --batch-size 4
    with sqlite3.connect(url_for(data).removeprefix("sqlite:///")) as conn:
        groups = [
            n
            for (n,) in conn.execute(
                "SELECT count(*) FROM migration_events WHERE to_state = 'promoted' GROUP BY at"
            )
        ]
    # A group commit stamps its events with one time, and holds at most one claim's items.
    assert sum(groups) == MODELS
    assert max(groups) <= 4
