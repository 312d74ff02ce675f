"""``model-migrate demo``: build the sample v1 library and run the whole migration on it."""

from __future__ import annotations

import shutil
from pathlib import Path

from rich.console import Console

from backend.bootstrap import build_service
from backend.cli.output import (
    ProgressReporter,
    print_preflight,
    print_promotion,
    print_status,
)
from backend.config import Settings
from backend.sample.legacy_factory import make_sample_library


def run_demo(settings: Settings, *, models: int, workers: int, console: Console) -> int:
    """Build ``data/demo`` afresh, migrate it, promote the pending models; returns conflicts."""
    root = settings.data_dir / "demo"
    shutil.rmtree(root, ignore_errors=True)
    console.rule("1. a sample v1 library")
    library = make_sample_library(
        root / "legacy", models=models, images_per_model=3, vary_images=True
    )
    demo_settings = settings.model_copy(update={"data_dir": root / "library", "database_url": None})
    service = build_service(demo_settings)
    try:
        print_preflight(console, service.preflight(library.db_path, library.images_dir))
        console.rule("2. stage 1: legacy rows → library (or pending when unhashed)")
        run = service.start_legacy_run(library.db_path, library.images_dir)
        with ProgressReporter(console, models, enabled=console.is_terminal) as reporter:
            status = service.run_until_done(run.id, workers=workers, on_progress=reporter.update)
        print_status(console, status)
        console.rule("3. stage 2: hash and promote the pending models")
        result = service.promote_batch(None)
        print_promotion(console, result)
        conflicts = service.list_items(run.id, state="conflicted").items
    finally:
        service.close()
    _print_next_steps(console, demo_settings.data_dir, run.id, [c.id for c in conflicts])
    return len(conflicts)


def _print_next_steps(console: Console, data_dir: Path, run_id: int, conflicts: list[int]) -> None:
    env = f"MODEL_MIGRATE_DATA_DIR={data_dir}"
    console.rule("4. what next")
    console.print(f"The demo library lives in {data_dir}. Try:")
    say = console.out
    say(f"  {env} .venv/bin/model-migrate status {run_id}")
    say(f"  {env} .venv/bin/model-migrate items {run_id} --state conflicted")
    say(f"  {env} .venv/bin/model-migrate items {run_id} --state failed")
    say(f"  {env} .venv/bin/model-migrate retry --run {run_id}")
    if conflicts:
        first = conflicts[0]
        say(f"  {env} .venv/bin/model-migrate item {first}")
        say(f"  {env} .venv/bin/model-migrate resolve {first} merge")
    console.print(f"{len(conflicts)} conflict(s) are left for you to resolve.")
