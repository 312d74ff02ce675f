"""Driver errors of the library database turned into one-line domain errors.

Each message names the file or the setting and says what to do; the CLI and the API map the
domain error (never the driver's) to an exit code or a status.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


SQLITE_MAGIC = b"SQLite format 3\x00"


def check_sqlite_file(path: Path) -> None:
    """Refuse a library file that is not SQLite, or is shorter than its header says (truncated).

    Reads the 100-byte header only. A missing or empty file is fine (a new library).
    """
    try:
        size = path.stat().st_size
        if size == 0:
            return
        with path.open("rb") as handle:
            header = handle.read(100)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise LibraryDatabaseError(
            f"library database {path} cannot be read ({exc.strerror}): check its permissions"
        ) from exc
    where = f"library database {path}"
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise LibraryDatabaseError(_sqlite_message(where, "file is not a database"))
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    header_valid = header[24:28] == header[92:96]
    rollback_journal = header[18] == 1
    hot_journal = Path(f"{path}-journal").exists()
    if rollback_journal and header_valid and not hot_journal and pages * page_size > size:
        raise LibraryDatabaseError(
            f"{where} is truncated ({size} bytes, its header says {pages * page_size}): "
            "restore it from DATA_DIR/backups/ or move it away to start a new library"
        )
