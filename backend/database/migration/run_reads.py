"""A run's status and every run's, read from the workflow tables on an engine alone.

:class:`MigrationService` answers ``run_status`` / ``list_runs`` with these functions, and
:class:`RunReads` — the read-only facade :func:`backend.bootstrap.build_reads` builds for
``model-migrate status`` — answers with the same ones, without the ORM, the steps, Pillow or
the state machine (which a command that only reads does not need to import).
"""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import Engine

from backend.config import Settings
from backend.database.migration.errors import NotFoundError
from backend.database.migration.run_records import RunStatusRecord
from workflows.core_tables import writer
from workflows.errors import NotFound
from workflows.records import RunStatus
from workflows.status import read_run, read_runs
from workflows.status import run_status as read_status


def status_record(kind: str, status: RunStatus) -> RunStatusRecord:
    """A run's derived status as the service returns it."""
    return RunStatusRecord(kind=kind, **asdict(status))


def run_status(engine: Engine, run_id: int) -> RunStatusRecord:
    """Counts per state, done/total, rate, ETA and whether the run can resume."""
    try:
        kind = read_run(engine, run_id).kind
    except NotFound as exc:
        raise NotFoundError(f"no migration run with id {run_id}") from exc
    return status_record(kind, read_status(engine, writer(engine), run_id))


def list_runs(engine: Engine) -> list[RunStatusRecord]:
    """Every run with its status, newest first."""
    to_write = writer(engine)
    return [status_record(r.kind, read_status(engine, to_write, r.id)) for r in read_runs(engine)]


class RunReads:
    """The read-only facade of ``status``: the library's engine (schema checked) and the
    settings it was opened with."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine

    def run_status(self, run_id: int) -> RunStatusRecord:
        """Counts per state, done/total, rate, ETA and whether the run can resume."""
        return run_status(self.engine, run_id)

    def list_runs(self) -> list[RunStatusRecord]:
        """Every run with its status, newest first."""
        return list_runs(self.engine)

    def close(self) -> None:
        """Close the engine's connections."""
        self.engine.dispose()
