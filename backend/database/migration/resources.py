"""Per-process resources the use cases and steps share: run options read once, and what is
bound to a thread (a driver is one lease owner, a sqlite3 connection lives on its thread)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from backend.database.migration.errors import NotFoundError
from backend.database.migration.legacy.prefetch import PrefetchingRows
from backend.database.migration.legacy.reader import LegacyReader
from workflows.claiming import ClaimWeight
from workflows.driver import Driver
from workflows.errors import NotFound
from workflows.records import RunInfo, WorkItem
from workflows.steps import Steps
from workflows.store import WorkflowStore


def run_info(store: WorkflowStore, run_id: int) -> RunInfo:
    """A run as stored; NotFoundError when there is none with that id."""
    try:
        return store.run(run_id)
    except (NotFound, KeyError) as exc:
        raise NotFoundError(f"no migration run with id {run_id}") from exc


class RunOptions:
    """The options of each run, read once (they never change after the run is created)."""

    def __init__(self, store: WorkflowStore) -> None:
        self._store = store
        self._options: dict[int, dict[str, Any]] = {}

    def for_run(self, run_id: int) -> dict[str, Any]:
        """The run's options; NotFoundError for an unknown run."""
        if run_id not in self._options:
            self._options[run_id] = dict(run_info(self._store, run_id).options)
        return self._options[run_id]


class LegacyReaders:
    """A read-ahead legacy reader per (run, thread), opened on first use."""

    def __init__(self, options: RunOptions, *, scratch_dir: Path | None = None) -> None:
        self._options = options
        self._scratch_dir = scratch_dir
        self._readers: dict[tuple[int, int], PrefetchingRows] = {}
        self._lock = threading.Lock()

    def for_run(self, run_id: int) -> PrefetchingRows:
        """This thread's reader of the run's legacy library."""
        key = (run_id, threading.get_ident())
        with self._lock:
            reader = self._readers.get(key)
        if reader is None:
            options = self._options.for_run(run_id)
            reader = PrefetchingRows(
                LegacyReader(
                    Path(options["legacy_db"]),
                    Path(options["images_dir"]),
                    scratch_dir=self._scratch_dir,
                )
            )
            with self._lock:
                self._readers[key] = reader
        return reader

    def close(self) -> None:
        """Close every reader."""
        with self._lock:
            for reader in self._readers.values():
                reader.close()
            self._readers.clear()


class ThreadDrivers:
    """One driver per thread: one lease owner each, so concurrent requests never release
    each other's leases."""

    def __init__(self, make: Callable[[], Driver]) -> None:
        self._make = make
        self._local = threading.local()

    @classmethod
    def on(
        cls,
        engine: Engine,
        steps: Steps,
        *,
        lease_seconds: float,
        claim_weight: ClaimWeight | None = None,
        on_claim: Callable[[Sequence[WorkItem]], None] | None = None,
    ) -> ThreadDrivers:
        """Drivers of ``steps`` on ``engine`` (see :class:`Driver` for the options)."""
        return cls(
            lambda: Driver(
                engine,
                steps,
                lease_seconds=lease_seconds,
                claim_weight=claim_weight,
                on_claim=on_claim,
            )
        )

    def current(self) -> Driver:
        """This thread's driver."""
        driver: Driver | None = getattr(self._local, "driver", None)
        if driver is None:
            driver = self._make()
            self._local.driver = driver
        return driver
