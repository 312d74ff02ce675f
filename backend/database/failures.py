"""Driver errors of the library database turned into one-line domain errors.

Each message names the file or the setting and says what to do; the CLI and the API map the
domain error (never the driver's) to an exit code or a status.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from backend.database.migration.errors import LibraryDatabaseError, MigrationError

URL_SETTING = "MODEL_MIGRATE_DATABASE_URL"

_SQLITE_HINTS = (
    ("file is not a database", "is not a SQLite database (or is encrypted)"),
    ("malformed", "is damaged (malformed database image)"),
    ("readonly database", "is read-only here"),
    ("unable to open database file", "cannot be opened: is its folder missing or unwritable?"),
    ("disk i/o error", "could not be read or written (disk I/O error)"),
    ("database or disk is full", "cannot grow: the disk is full"),
    ("database is locked", "stayed locked by another program for the whole busy timeout"),
)


def describe(engine: Engine) -> str:
    """How messages name the library: its file, or the URL without password."""
    if engine.dialect.name == "sqlite":
        return f"library database {engine.url.database}"
    return f"library database {engine.url.render_as_string(hide_password=True)} ({URL_SETTING})"


def _sqlite_message(where: str, detail: str) -> str:
    lowered = detail.lower()
    for needle, meaning in _SQLITE_HINTS:
        if needle in lowered:
            what = meaning
            break
    else:
        what = f"failed: {detail}"
    advice = (
        "restore it from DATA_DIR/backups/ or move it away to start a new library"
        if "damaged" in what or "not a SQLite" in what
        else "check the file, its folder's permissions and free space, then run the command again"
    )
    return f"{where} {what}; {advice}"


def translate(engine: Engine, exc: DBAPIError) -> MigrationError:
    """The domain error for a driver error met while opening or upgrading the library."""
    where = describe(engine)
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    if engine.dialect.name == "sqlite":
        return LibraryDatabaseError(_sqlite_message(where, detail))
    if isinstance(exc, OperationalError):
        return LibraryDatabaseError(
            f"cannot reach {where}: {detail}; check the server, the user and the database name"
        )
    return LibraryDatabaseError(f"{where} failed: {detail}")


@contextmanager
def library_errors(engine: Engine) -> Iterator[None]:
    """Re-raise driver errors of ``engine`` as :class:`LibraryDatabaseError`."""
    try:
        yield
    except DBAPIError as exc:
        raise translate(engine, exc) from exc
