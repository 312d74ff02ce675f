"""The engine's only source of wall-clock time (epoch seconds), so freezegun can drive it."""

from __future__ import annotations

import time


def now() -> float:
    """Current time in float epoch seconds."""
    return time.time()
