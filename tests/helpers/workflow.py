"""Builders for workflow-engine tests: no-op steps, counting steps, dead pids."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from workflows.records import WorkItem
from workflows.steps import ApplyFn, Steps

FLOW = {
    "pending": "import_model",
    "imported": "process_images",
    "images_processed": "sync_tags",
    "tags_synced": "promote",
}


def make_steps(
    kind: str = "test",
    on_step: Callable[[WorkItem], None] | None = None,
    on_apply: Callable[[Session, WorkItem], None] | None = None,
) -> Steps:
    """Four steps pending → promoted; ``on_step`` runs in the prepare phase, ``on_apply``
    inside the item's savepoint."""

    def make(trigger: str) -> Callable[[WorkItem], ApplyFn]:
        def step(item: WorkItem) -> ApplyFn:
            if on_step is not None:
                on_step(item)

            def apply(session: Session, applied: WorkItem) -> str:
                if on_apply is not None:
                    on_apply(session, applied)
                return trigger

            return apply

        return step

    return {kind: {state: make(trigger) for state, trigger in FLOW.items()}}


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(proc.stdout)


def keys(count: int, prefix: str = "k") -> list[tuple[str, Any]]:
    """``count`` (source_key, None) pairs."""
    return [(f"{prefix}{i:06d}", None) for i in range(count)]
