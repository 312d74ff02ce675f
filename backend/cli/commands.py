"""``model-migrate``: the command line. Every command calls MigrationService and nothing else
(``status`` calls the read-only facade that ``backend.bootstrap`` builds beside it).

Exit codes: 0 done, 3 done with conflicts or failures left, 2 bad input or settings, 1 the
environment (disk full, read-only, locked, corrupt) or an unexpected error, 130 / 143 stopped
by SIGINT / SIGTERM (with the command that resumes).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from backend.cli.context import (
    GuardedGroup,
    emit,
    err_console,
    fail,
    out_console,
    reads_for,
    resume_with,
    service_for,
    service_with_workers,
    settings_of,
    use_batch_size,
)
from backend.cli.exits import ExitCode
from backend.cli.serve import serve
from backend.cli.signals import set_title
from backend.cli.verify import verify
from backend.cli.workers import read_run_id, workers_option
from workflows.states import Strategy

if TYPE_CHECKING:
    from backend.cli.output import ProgressReporter
    from backend.database.migration.results import RunStatusRecord
    from backend.database.migration.service import MigrationService
    from backend.database.migration.workers import EarlyWorkers

# Commands import what they use when they run (rich, pydantic, SQLAlchemy): importing this
# module for ``--help`` loads click and the strategy names only.
STRATEGIES = click.Choice([s.value for s in Strategy])
LEGACY_STRATEGIES = click.Choice([s.value for s in Strategy if s is not Strategy.DELETE])
"""``conflicts.LEGACY_STRATEGIES`` without importing the records behind it (a test checks)."""


def exit_for(status: RunStatusRecord) -> int:
    """3 when conflicts or failures are left, else 0."""
    return ExitCode.LEFT_OVER if status.waiting else ExitCode.OK


def _progress(as_json: bool, total: int) -> ProgressReporter:
    from backend.cli.output import ProgressReporter

    console = err_console()
    return ProgressReporter(console, total, enabled=not as_json and console.is_terminal)


@click.group(cls=GuardedGroup)
@click.option("--debug", is_flag=True, help="Show the traceback of an error as well.")
def main(debug: bool) -> None:
    """Move a legacy v1 model library into the v2 library, resumably, one model at a time."""
    del debug  # read by GuardedGroup when a command fails; settings are read on first use


@main.group()
def db() -> None:
    """Library database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create or upgrade the library schema (Alembic)."""
    with service_for(ctx) as service:
        err_console().print(f"library schema is current: {service.settings.resolved_database_url}")


@main.command("export-v2")
@click.argument("v2_data_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def export_v2(ctx: click.Context, v2_data_dir: Path, as_json: bool) -> None:
    """Write the library (e.g. on PostgreSQL) into the v2 app's SQLite file in V2_DATA_DIR."""
    with service_for(ctx) as service:
        result = service.export_v2(v2_data_dir)
    if as_json:
        emit(result, True)
        return
    err_console().print(
        f"exported into {result.target}: {result.models_added} models added "
        f"({result.models_kept} already there, kept), {result.pending_added} pending added "
        f"({result.pending_kept} kept), {result.tags_added} tags added, "
        f"{result.files_copied} image files copied"
    )
    for warning in result.warnings:
        err_console().print(f"[yellow]warning[/yellow]: {warning}")


@main.command()
@click.argument("legacy_db", type=click.Path(path_type=Path))
@click.argument("images_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def preflight(ctx: click.Context, legacy_db: Path, images_dir: Path, as_json: bool) -> None:
    """Read a legacy library (read-only) and report what a migration will meet."""
    with service_for(ctx) as service:
        report = service.preflight(legacy_db, images_dir)
    if as_json:
        emit(report, True)
        return
    from backend.cli.output import print_preflight

    print_preflight(out_console(), report)


@main.command()
@click.argument("legacy_db", type=click.Path(path_type=Path))
@click.argument("images_dir", type=click.Path(path_type=Path))
@workers_option(64)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    help="Most items one process claims at once, its workers included (default:"
    " MODEL_MIGRATE_BATCH_SIZE, else 1024).",
)
@click.option("--on-conflict", type=LEGACY_STRATEGIES)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def legacy(
    ctx: click.Context,
    legacy_db: Path,
    images_dir: Path,
    workers: int,
    batch_size: int | None,
    on_conflict: str | None,
    as_json: bool,
) -> None:
    """Stage 1: migrate a legacy library (resumes the run if it already exists)."""
    resume_with(ctx)
    use_batch_size(ctx, batch_size)
    with service_with_workers(ctx, workers - 1, run_forked_worker) as (service, early):
        run = service.start_legacy_run(legacy_db, images_dir, on_conflict=on_conflict)
        if not as_json:
            verb = "resuming" if run.resumed else "started"
            err_console().print(f"{verb} legacy run {run.id}")
            if run.backup_path:
                err_console().print(f"library backed up to {run.backup_path}")
        status = _drive(service, run.id, workers, batch_size, as_json, early)
    sys.exit(exit_for(status))


def _drive(
    service: MigrationService,
    run_id: int,
    workers: int,
    batch_size: int | None,
    as_json: bool,
    early: EarlyWorkers | None = None,
) -> RunStatusRecord:
    resume_with(click.get_current_context(), f"model-migrate worker --run {run_id}")
    before = service.run_status(run_id)
    with _progress(as_json, before.total) as reporter:
        status = service.run_until_done(
            run_id,
            workers=workers,
            batch_size=batch_size,
            on_progress=reporter.update,
            early=early,
        )
    if as_json:
        emit(status, True)
    else:
        from backend.cli.output import print_status

        print_status(out_console(), status)
    return status


@main.command()
@click.option("--all", "promote_all", is_flag=True, help="Promote every pending model.")
@click.option("--id", "ids", multiple=True, type=int, help="A pending model id (repeatable).")
@click.option("--strategy", type=STRATEGIES, help="What to do when the hash already exists.")
@workers_option(64)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def promote(
    ctx: click.Context,
    promote_all: bool,
    ids: tuple[int, ...],
    strategy: str | None,
    workers: int,
    as_json: bool,
) -> None:
    """Stage 2: hash pending models and promote them into the library."""
    if promote_all == bool(ids):
        raise click.UsageError("give either --all or one or more --id")
    resume_with(ctx)
    with service_for(ctx) as service:
        result = service.promote_batch(
            None if promote_all else list(ids), strategy, workers=workers
        )
    if as_json:
        emit(result, True)
    elif result.run_id is None and not result.failed:
        err_console().print("no pending models to promote")
    if result.run_id is None:
        # Nothing could be promoted: every id named is unknown (or there was nothing to do).
        reasons = "; ".join(str(entry.error) for entry in result.failed)
        if reasons:
            fail(reasons, ExitCode.BAD_INPUT)
        sys.exit(ExitCode.OK)
    if not as_json:
        from backend.cli.output import print_promotion

        print_promotion(out_console(), result)
    sys.exit(ExitCode.LEFT_OVER if result.conflict or result.failed else ExitCode.OK)


@main.command()
@click.argument("run_id", required=False, type=int)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def status(ctx: click.Context, run_id: int | None, as_json: bool) -> None:
    """Status of one run, or of every run."""
    with reads_for(ctx) as reads:
        runs = [reads.run_status(run_id)] if run_id is not None else reads.list_runs()
    if as_json:
        emit(runs[0] if run_id is not None else runs, True)
        return
    from backend.cli.output import print_status

    out = out_console()
    if not runs:
        out.print("no migration runs yet")
    for run in runs:
        print_status(out, run)


@main.command()
@click.argument("run_id", type=int)
@click.option("--state", help="Only items in this state (e.g. failed, conflicted).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--after", type=int, help="Show items after this item id (paging).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def items(
    ctx: click.Context,
    run_id: int,
    state: str | None,
    limit: int,
    after: int | None,
    as_json: bool,
) -> None:
    """List the items of a run."""
    with service_for(ctx) as service:
        page = service.list_items(run_id, state=state, limit=limit, after=after)
    if as_json:
        emit(page, True)
    else:
        from backend.cli.output import print_items

        print_items(out_console(), page)


@main.command()
@click.argument("item_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def item(ctx: click.Context, item_id: int, as_json: bool) -> None:
    """One item with its warnings and event history."""
    with service_for(ctx) as service:
        detail = service.item_detail(item_id)
    if as_json:
        emit(detail, True)
    else:
        from backend.cli.output import print_item

        print_item(out_console(), detail)


@main.command()
@click.option("--item", "item_id", type=int, help="Retry this failed item.")
@click.option("--run", "run_id", type=int, help="Retry every failed item of this run.")
@click.option("--no-drive", is_flag=True, help="Only put items back; do not run them now.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def retry(
    ctx: click.Context, item_id: int | None, run_id: int | None, no_drive: bool, as_json: bool
) -> None:
    """Put failed items back to the state they failed from, then drive them."""
    if (item_id is None) == (run_id is None):
        raise click.UsageError("give exactly one of --item or --run")
    with service_for(ctx) as service:
        result = service.retry(item_id=item_id, run_id=run_id)
        target = (
            run_id if run_id is not None else service.item_detail(result.retried[0]).item.run_id
        )
        if not as_json:
            err_console().print(f"retried {len(result.retried)} item(s)")
        if no_drive:
            emit(result, as_json)
            return
        final = _drive(service, target, 1, None, as_json)
    sys.exit(exit_for(final))


@main.command()
@click.argument("item_id", type=int)
@click.argument("strategy", type=STRATEGIES)
@click.option("--no-drive", is_flag=True, help="Only record the decision; do not run it now.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def resolve(ctx: click.Context, item_id: int, strategy: str, no_drive: bool, as_json: bool) -> None:
    """Decide a conflicted item: override, merge, ignore or delete."""
    with service_for(ctx) as service:
        record = service.resolve(item_id, strategy)
        if not as_json:
            err_console().print(f"item {item_id}: {strategy} → {record.state}")
        if no_drive or record.state != "pending":
            emit(record, as_json)
            return
        final = _drive(service, record.run_id, 1, None, as_json)
    sys.exit(exit_for(final))


@main.command()
@click.argument("dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--ext", "extensions", multiple=True, help="File extension (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def scan(
    ctx: click.Context, dirs: tuple[Path, ...], extensions: tuple[str, ...], as_json: bool
) -> None:
    """Register new model files under DIRS as pending models (no hashing)."""
    with service_for(ctx) as service:
        result = service.scan(list(dirs), list(extensions) or None)
    if as_json:
        emit(result, True)
    else:
        out_console().print(
            f"scanned {result.scanned} file(s): {result.added} added, {result.skipped} known"
        )


@main.command()
@click.option("--run", "run_id", type=int, help="Only this run (exit when it is finished).")
@click.option(
    "--run-from-stdin",
    is_flag=True,
    hidden=True,
    help="Start up, then read the run id from standard input (exit at its end).",
)
@click.option("--once", is_flag=True, help="Process one batch and exit.")
@click.option("--batch-size", type=click.IntRange(1, 10_000))
@click.option("--quiet", is_flag=True, help="Print nothing.")
@click.pass_context
def worker(
    ctx: click.Context,
    run_id: int | None,
    run_from_stdin: bool,
    once: bool,
    batch_size: int | None,
    quiet: bool,
) -> None:
    """Process claimable items from the shared library database."""
    set_title()
    resume_with(ctx, quiet=quiet)
    with service_for(ctx) as service:
        if run_from_stdin:
            run_id = read_run_id(sys.stdin)
            if run_id is None:
                return
        handled = service.work(run_id, once=once, batch_size=batch_size)
    if not quiet:
        err_console().print(f"worker handled {handled} item(s)")


def run_forked_worker(run_id: int) -> int:
    """What a worker forked by ``legacy --workers N`` runs once it has its run: ``model-migrate
    worker --run RUN --quiet``, as a worker started as that program would (exits with its
    status)."""
    args = ["worker", "--run", str(run_id), "--quiet"]
    sys.argv = ["model-migrate", *args]
    main.main(args, prog_name="model-migrate")
    return 0


@main.command()
@click.option("--models", default=300, show_default=True, type=click.IntRange(30, 20_000))
@workers_option(8)
@click.pass_context
def demo(ctx: click.Context, models: int, workers: int) -> None:
    """Build a sample v1 library under DATA_DIR/demo and migrate it end to end."""
    from backend.demo import run_demo

    run_demo(settings_of(ctx), models=models, workers=workers, console=out_console())


@main.command()
def graph() -> None:
    """Print the item state machine as a Mermaid diagram."""
    from workflows.machine import mermaid

    click.echo(mermaid())


main.add_command(serve)
main.add_command(verify)

if __name__ == "__main__":
    main()
