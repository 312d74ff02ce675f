"""The one table of the CLI's exit codes."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a ``model-migrate`` exit code means."""

    OK = 0
    """Done; nothing left to decide."""
    ERROR = 1
    """The environment failed, or ``verify`` found an inconsistency."""
    BAD_INPUT = 2
    """Bad input or settings: which path, row or setting, and what to do, is printed."""
    LEFT_OVER = 3
    """Done, with conflicts or failures left for a person to decide."""
