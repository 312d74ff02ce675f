"""Human output of the CLI: rich progress and tables."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from backend.database.migration.legacy.rows import LegacyPreflight
from backend.database.migration.results import (
    ItemDetail,
    ItemPage,
    PromotionResult,
    RunStatusRecord,
)


class ProgressReporter:
    """A progress bar over a run's items, shown only on a terminal."""

    def __init__(self, console: Console, total: int, *, enabled: bool) -> None:
        self.enabled = enabled
        self.progress = Progress(
            TextColumn("[bold]migrating"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled,
        )
        self.task: TaskID = self.progress.add_task("run", total=total, detail="")

    def __enter__(self) -> ProgressReporter:
        self.progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def update(self, status: RunStatusRecord) -> None:
        """Show how many items are settled (final, conflicted or failed)."""
        settled = status.done + status.waiting
        detail = f"{status.rate:.1f}/s" if status.rate else ""
        if status.waiting:
            detail += f" · {status.waiting} need a decision"
        self.progress.update(self.task, completed=settled, total=status.total, detail=detail)


def print_status(console: Console, status: RunStatusRecord) -> None:
    """One run as a small table of non-zero state counts and what to do next."""
    table = Table(title=f"run {status.run_id} ({status.kind})", show_edge=False)
    table.add_column("state")
    table.add_column("items", justify="right")
    for state, count in status.counts.items():
        if count:
            table.add_row(state, str(count))
    console.print(table)
    line = f"{status.done}/{status.total} done"
    if status.remaining:
        line += f", {status.remaining} still to process (resumable: model-migrate worker --run "
        line += f"{status.run_id})"
    console.print(line)
    failed = status.counts.get("failed", 0)
    conflicted = status.counts.get("conflicted", 0)
    if failed:
        console.print(
            f"{failed} failed: model-migrate items {status.run_id} --state failed; "
            f"model-migrate retry --run {status.run_id}"
        )
    if conflicted:
        console.print(
            f"{conflicted} conflicted: model-migrate items {status.run_id} --state conflicted; "
            "model-migrate resolve ITEM override|merge|ignore|delete"
        )


def print_items(console: Console, page: ItemPage) -> None:
    """A page of items."""
    table = Table(show_edge=False)
    for column in ("item", "source", "state", "sha256", "warnings", "error"):
        table.add_column(column)
    for item in page.items:
        error = f"{item.last_error_code}: {item.last_error}" if item.last_error_code else ""
        table.add_row(
            str(item.id),
            item.source_key,
            item.state,
            (item.sha256 or "")[:12],
            ", ".join(sorted({w.code for w in item.warnings})),
            error,
        )
    console.print(table)
    if page.next_after is not None:
        console.print(f"more: --after {page.next_after}")


def print_item(console: Console, detail: ItemDetail) -> None:
    """An item, its warnings and its history."""
    item = detail.item
    console.print(f"item {item.id} of run {item.run_id}: source {item.source_key}, {item.state}")
    if item.sha256:
        console.print(f"sha256 {item.sha256}")
    if item.last_error_code:
        console.print(f"last error {item.last_error_code}: {item.last_error}")
    for warning in item.warnings:
        console.print(f"warning {warning.code}: {warning.message}")
    table = Table(title="history", show_edge=False)
    for column in ("seq", "trigger", "from", "to", "error"):
        table.add_column(column)
    for event in detail.events:
        table.add_row(
            str(event.seq), event.trigger, event.from_state, event.to_state, event.error or ""
        )
    console.print(table)


def print_preflight(console: Console, report: LegacyPreflight) -> None:
    """The preflight report of a legacy library."""
    table = Table(title=f"legacy library {report.db_path}", show_edge=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for name, value in report.model_dump().items():
        if isinstance(value, int) and not isinstance(value, bool):
            table.add_row(name.replace("_", " "), str(value))
    console.print(table)
    if report.type_mapping:
        types = Table(title="types: legacy → v2 tab", show_edge=False)
        for column in ("legacy type", "v2 type", "models"):
            types.add_column(column, justify="right" if column == "models" else "left")
        for row in report.type_mapping:
            types.add_row(row.legacy_type, row.v2_type, str(row.count))
        console.print(types)
    for sentence in report.warnings:
        console.print(f"- {sentence}")


def print_promotion(console: Console, result: PromotionResult) -> None:
    """The per-item result of a promotion batch."""
    console.print(
        f"promotion run {result.run_id}: {len(result.success)} promoted, "
        f"{len(result.conflict)} conflicted, {len(result.ignored)} ignored, "
        f"{len(result.deleted)} deleted, {len(result.failed)} failed (of {result.total})"
    )
    for conflict in result.conflict:
        console.print(
            f"conflict: pending {conflict.pending['id']} ({conflict.pending['path']}) has the "
            f"hash of {conflict.existing['path']}"
        )
    for failed in result.failed:
        console.print(f"failed: {failed.id}: {failed.error}")
