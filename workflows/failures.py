"""Which step errors are transient (retried with backoff) and which fail the item, how."""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import OperationalError

from workflows.errors import StepError, TransientError

_TRANSIENT_DB_WORDS = ("locked", "busy", "deadlock", "serializ", "disk is full")


def is_transient(exc: BaseException) -> bool:
    """Whether an error should be retried later rather than fail the item.

    I/O errors (a full or busy disk) are, except a missing file; so is a database that is
    locked, busy or full, whether SQLAlchemy or ``sqlite3`` raised it, and also when another
    error was raised from it (a reader wrapping ``database is locked``, for example).
    """
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, OSError):
        return not isinstance(exc, FileNotFoundError)
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, (OperationalError, sqlite3.OperationalError)):
            text = str(cause).lower()
            if any(word in text for word in _TRANSIENT_DB_WORDS):
                return True
        cause = cause.__cause__
    return False


def classify(exc: BaseException) -> tuple[str, str] | None:
    """``(code, message)`` of a permanent failure, or None for a transient one."""
    if isinstance(exc, StepError):
        return exc.code, exc.message
    if isinstance(exc, FileNotFoundError):
        return "source_missing", str(exc)
    if is_transient(exc):
        return None
    return "internal_error", repr(exc)
