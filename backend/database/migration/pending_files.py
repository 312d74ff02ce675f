"""Originals of pending models in images/pending: removal after commit and the orphan sweep."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path


def remove(pending_dir: Path, names: Iterable[object]) -> int:
    """Remove the named originals (names only, never paths); returns how many were removed."""
    removed = 0
    for name in names:
        if not isinstance(name, str) or "/" in name or name in ("", ".", ".."):
            continue
        try:
            (pending_dir / name).unlink()
            removed += 1
        except FileNotFoundError:
            continue
    return removed


def sweep(pending_dir: Path, referenced: set[str], *, min_age_seconds: float) -> int:
    """Remove originals no pending row references, older than ``min_age_seconds``.

    The age guard keeps files a running stage-1 step copied but has not committed yet.
    """
    if not pending_dir.is_dir():
        return 0
    cutoff = time.time() - min_age_seconds
    orphans = [
        entry.name
        for entry in pending_dir.iterdir()
        if entry.is_file() and entry.name not in referenced and entry.stat().st_mtime < cutoff
    ]
    return remove(pending_dir, orphans)
