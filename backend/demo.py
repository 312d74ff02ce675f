"""``model-migrate demo``: migrate a sample v1 library into a v2 data folder that already holds
models, and show what the v2 app will show before and after."""

from __future__ import annotations

import shutil
from pathlib import Path

from rich.console import Console
from rich.table import Table

from backend.bootstrap import build_service
from backend.cli.output import (
    ProgressReporter,
    print_preflight,
    print_promotion,
    print_status,
)
from backend.config import Settings
from backend.database.migration.backup import sqlite_path
from backend.database.migration.types import TypeMap
from backend.sample.legacy_factory import LegacyLibrary, make_sample_library
from backend.sample.v2_factory import (
    COMFY_TYPES,
    LibraryView,
    library_view,
    make_v2_library,
    write_types_cache,
)

SHARED = 3
"""Legacy models the v2 app had already scanned (they conflict: the library's model wins)."""


def _shared(library: LegacyLibrary, types: TypeMap) -> list[tuple[str, str, str, int]]:
    """(sha256, path, v2 type, images) of a few legacy models the v2 app already has; the
    first with images seq 0..1 of its own."""
    rows = [r for r in library.rows if r.case == "ordinary" and r.file_exists][:SHARED]
    return [
        (r.hash_hex, r.path, types.v2_type(r.type, r.path), 2 if n == 0 else 0)
        for n, r in enumerate(rows)
    ]


def run_demo(settings: Settings, *, models: int, workers: int, console: Console) -> int:
    """Build ``data/demo`` afresh and migrate it; returns the conflicts left to decide."""
    root = settings.data_dir / "demo"
    shutil.rmtree(root, ignore_errors=True)
    console.rule("1. a sample v1 library, and a v2 data folder the v2 app already uses")
    library = make_sample_library(
        root / "legacy", models=models, images_per_model=3, vary_images=True
    )
    data_dir = root / "v2-data"
    # ComfyUI's model folders are where the v1 library's files are: the v2 app's types cache
    # lists them (ultralytics included; "other" is no ComfyUI folder, so it shows as "others").
    write_types_cache(data_dir, {t: [library.models_dir / t] for t in COMFY_TYPES})
    demo_settings = settings.model_copy(update={"data_dir": data_dir, "database_url": None})
    service = build_service(demo_settings)
    try:
        db_path = sqlite_path(service.engine)
        assert db_path is not None
        make_v2_library(
            data_dir,
            library.models_dir,
            db_path=db_path,
            shared=_shared(library, service.env.types),
            types_cache=False,
        )
        before = library_view(data_dir, db_path)
        _print_view(console, "the v2 app shows before the migration", before)
        print_preflight(console, service.preflight(library.db_path, library.images_dir))
        console.rule("2. stage 1: legacy rows → the v2 library (or pending when unhashed)")
        run = service.start_legacy_run(library.db_path, library.images_dir)
        with ProgressReporter(console, models, enabled=console.is_terminal) as reporter:
            status = service.run_until_done(run.id, workers=workers, on_progress=reporter.update)
        print_status(console, status)
        console.rule("3. stage 2: hash and promote the pending models")
        print_promotion(console, service.promote_batch(None))
        conflicts = service.list_items(run.id, state="conflicted").items
        after = library_view(data_dir, db_path)
    finally:
        service.close()
    console.rule("4. what the v2 app will show")
    _print_comparison(console, before, after, len(conflicts))
    _print_next_steps(console, data_dir, run.id, [c.id for c in conflicts])
    return len(conflicts)


def _print_view(console: Console, title: str, view: LibraryView) -> None:
    tabs = ", ".join(f"{tab} {count}" for tab, count in view.tabs.items())
    console.print(
        f"{title}: {tabs}; {view.images} images, {view.pending} pending, {view.tags} tags"
    )


def _print_comparison(console: Console, before: LibraryView, after: LibraryView, left: int) -> None:
    table = Table(title="models per tab", show_edge=False)
    for column in ("tab", "before", "after"):
        table.add_column(column, justify="left" if column == "tab" else "right")
    for tab in sorted(set(before.tabs) | set(after.tabs)):
        table.add_row(tab, str(before.tabs.get(tab, 0)), str(after.tabs.get(tab, 0)))
    table.add_row("images", str(before.images), str(after.images))
    table.add_row("pending", str(before.pending), str(after.pending))
    table.add_row("tags", str(before.tags), str(after.tags))
    console.print(table)
    console.print(
        f"{left} conflict(s): legacy rows whose model the library already had; the library's"
        " row is kept until you resolve them."
    )


def _print_next_steps(console: Console, data_dir: Path, run_id: int, conflicts: list[int]) -> None:
    env = f"MODEL_MIGRATE_DATA_DIR={data_dir}"
    console.rule("5. what next")
    console.print(f"The demo's v2 data folder is {data_dir}. Try:")
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
