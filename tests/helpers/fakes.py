"""In-memory fakes of what service logic talks to, for unit tests without files or a database.

``FakeLegacyReader`` stands in for ``LegacyReader`` (a legacy library's rows by id) and records
every query; ``FakeReaders`` and ``FakeRunOptions`` are what a step context hands a step;
``fake_step_env`` builds a ``StepEnv`` from them whose database and hash cache are ``Refused``;
``FakeWorkflowStore`` holds run records.
``legacy_model`` and ``work_item`` build a valid row and item with the fields a test sets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from backend.database.migration.legacy.prefetch import PrefetchingRows
from backend.database.migration.legacy.rows import LegacyModel
from backend.database.migration.steps.context import StepEnv
from workflows.errors import NotFound
from workflows.records import RunInfo, WorkItem


def legacy_model(legacy_id: int, **fields: Any) -> LegacyModel:
    """A legacy row with a valid hash; ``fields`` override the defaults."""
    sha = f"{legacy_id:064x}"
    values: dict[str, Any] = {
        "legacy_id": legacy_id,
        "path": f"/models/loras/model_{legacy_id}.safetensors",
        "name": f"model {legacy_id}",
        "type": "lora",
        "hash_raw": sha,
        "hash_kind": "valid",
        "sha256": sha,
        "created_at": 1_700_000_000_000 + legacy_id,
    }
    return LegacyModel(**{**values, **fields})


class FakeLegacyReader:
    """A legacy library in memory: the reader's row access, each ``get_many`` query recorded."""

    def __init__(self, rows: Iterable[LegacyModel]) -> None:
        self.rows = {row.legacy_id: row for row in rows}
        self.queries: list[list[int]] = []
        self.closed = False

    def get_many(self, ids: Sequence[int]) -> dict[int, LegacyModel]:
        """The rows among ``ids`` that exist (one recorded query)."""
        self.queries.append(list(ids))
        return {i: self.rows[i] for i in ids if i in self.rows}

    def get(self, legacy_id: int) -> LegacyModel | None:
        """One row, or None."""
        return self.get_many([legacy_id]).get(legacy_id)

    def ids(self) -> list[int]:
        """Every legacy id, ascending."""
        return sorted(self.rows)

    def count(self) -> int:
        """How many rows there are."""
        return len(self.rows)

    def close(self) -> None:
        """Remember that it was closed."""
        self.closed = True


class FakeReaders:
    """Hands every run the read-ahead rows of one in-memory legacy library."""

    def __init__(self, reader: FakeLegacyReader) -> None:
        self.reader = reader
        self.rows = PrefetchingRows(reader)  # type: ignore[arg-type]
        self.runs: list[int] = []

    def for_run(self, run_id: int) -> PrefetchingRows:
        """The rows of ``run_id``'s library (the one library); the run ids asked are kept."""
        self.runs.append(run_id)
        return self.rows


class FakeRunOptions:
    """Run options by run id, as the run was created with them."""

    def __init__(self, options: dict[int, dict[str, Any]] | None = None) -> None:
        self.options = options or {}

    def for_run(self, run_id: int) -> dict[str, Any]:
        """The run's options (empty for a run without any)."""
        return self.options.get(run_id, {})


class Refused:
    """A collaborator the code under test must not use: any attribute or call fails the test."""

    def __init__(self, what: str) -> None:
        self._what = what

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"{self._what}.{name} used by code that must not need it")

    def __call__(self, *_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError(f"{self._what} used by code that must not need it")


def fake_step_env(
    rows: Iterable[LegacyModel] = (), options: dict[int, dict[str, Any]] | None = None
) -> StepEnv:
    """A step context over an in-memory legacy library and run options; no database, no files."""
    readers = FakeReaders(FakeLegacyReader(rows))
    return StepEnv(
        sessions=Refused("sessions"),  # type: ignore[arg-type]
        write_sessions=Refused("write_sessions"),  # type: ignore[arg-type]
        images_dir=Path("/nonexistent/images"),
        pending_dir=Path("/nonexistent/images/pending"),
        webp_method=4,
        readers=readers,
        options=FakeRunOptions(options),
        hash_cache=Refused("hash_cache"),  # type: ignore[arg-type]
    )


def work_item(item_id: int = 1, *, run_id: int = 1, **fields: Any) -> WorkItem:
    """A work item as a step receives it (a legacy item in ``pending`` by default)."""
    values: dict[str, Any] = {
        "id": item_id,
        "run_id": run_id,
        "kind": "legacy",
        "source_key": str(item_id),
        "sha256": None,
        "state": "pending",
        "failed_from_state": None,
        "attempts": 0,
        "max_attempts": 3,
        "crashes": 0,
        "strategy": None,
    }
    return WorkItem(**{**values, **fields})


class FakeWorkflowStore:
    """The run records of a workflow store, in memory; every ``run`` read is recorded."""

    def __init__(self) -> None:
        self._runs: dict[int, RunInfo] = {}
        self.reads: list[int] = []

    def add_run(self, kind: str, fingerprint: str, options: dict[str, Any]) -> int:
        """Store a run; its id."""
        run_id = len(self._runs) + 1
        self._runs[run_id] = RunInfo(run_id, kind, fingerprint, options, 0.0, None)
        return run_id

    def run(self, run_id: int) -> RunInfo:
        """The run; ``NotFound`` as the real store raises it."""
        self.reads.append(run_id)
        if run_id not in self._runs:
            raise NotFound(f"no run {run_id}")
        return self._runs[run_id]
