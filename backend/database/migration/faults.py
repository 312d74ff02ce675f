"""Deterministic crash injection for the kill -9 tests.

When ``MODEL_MIGRATE_KILL_AT_CHECKPOINT=N`` is set, the N-th call to :func:`checkpoint` in this
process sends SIGKILL to the process itself — exactly what ``kill -9`` does, at a known point
(after an image file is written, before a step's commit, after a batch commit...). Unset, a
checkpoint costs two dictionary lookups.

``MODEL_MIGRATE_ENOSPC_AT=NAME:N`` makes the first N passes through the checkpoint called NAME
raise ``OSError(ENOSPC)`` instead, as a full disk does at that write (N omitted: every pass).
"""

from __future__ import annotations

import errno
import os
import signal

ENV = "MODEL_MIGRATE_KILL_AT_CHECKPOINT"
ENOSPC_ENV = "MODEL_MIGRATE_ENOSPC_AT"
_count = 0
_full = 0


def checkpoint(name: str) -> None:
    """Count a crash point; die here with SIGKILL when it is the configured one."""
    target = os.environ.get(ENV)
    if target:
        global _count
        _count += 1
        if _count == int(target):
            os.kill(os.getpid(), signal.SIGKILL)
    full = os.environ.get(ENOSPC_ENV)
    if full:
        _disk_full(name, full)


def _disk_full(name: str, spec: str) -> None:
    wanted, _, times = spec.partition(":")
    if name != wanted:
        return
    global _full
    _full += 1
    if not times or _full <= int(times):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f"<{name}>")
