"""Deterministic crash injection for the kill -9 tests.

When ``MODEL_MIGRATE_KILL_AT_CHECKPOINT=N`` is set, the N-th call to :func:`checkpoint` in this
process sends SIGKILL to the process itself — exactly what ``kill -9`` does, at a known point
(after an image file is written, before a step's commit, after a batch commit...). Unset, a
checkpoint costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "MODEL_MIGRATE_KILL_AT_CHECKPOINT"
_count = 0


def checkpoint(name: str) -> None:
    """Count a crash point; die here with SIGKILL when it is the configured one."""
    target = os.environ.get(ENV)
    if not target:
        return
    global _count
    _count += 1
    if _count == int(target):
        os.kill(os.getpid(), signal.SIGKILL)
