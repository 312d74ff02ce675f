"""Operational failures as one line and an exit code: which file or setting, and what to do.

``describe`` maps an exception that escaped a command to ``(ExitCode, message)``: bad settings
or input exit 2, the environment (disk full, read-only, locked, corrupt, unreachable) exits 1.
The CLI prints the line instead of a traceback (``--debug`` shows the traceback as well).
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from backend.cli.exits import ExitCode
from backend.database.migration.errors import (
    ForbiddenPathError,
    InvalidInputError,
    MigrationError,
    NotFoundError,
    WrongStateError,
)

PREFIX = "MODEL_MIGRATE_"
URL_SETTING = f"{PREFIX}DATABASE_URL"
DATA_SETTING = f"{PREFIX}DATA_DIR"
_FULL = (errno.ENOSPC, errno.EDQUOT)
_DENIED = (errno.EACCES, errno.EPERM)
# What the caller asked for was wrong (exit 2); any other domain error is the environment's.
_INPUT_ERRORS = (InvalidInputError, NotFoundError, WrongStateError, ForbiddenPathError)


def database_label() -> str:
    """The library database as a person knows it: the SQLite file, or the URL sans password."""
    url = os.environ.get(URL_SETTING)
    if not url:
        data_dir = Path(os.environ.get(DATA_SETTING, "./data"))
        return str((data_dir / "library.sqlite3").resolve())
    try:
        parsed = make_url(url)
    except ArgumentError:
        return URL_SETTING
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or "an in-memory SQLite database"
    return parsed.render_as_string(hide_password=True)


def describe(exc: BaseException) -> tuple[ExitCode, str]:
    """Exit code and a one-line message for an exception that ended a command."""
    if isinstance(exc, MigrationError):
        if isinstance(exc.__cause__, sqlite3.OperationalError):
            return ExitCode.ERROR, (
                f"{exc.message}: another program holds it (the v1 app?); close that program "
                "or wait for it, then run this again"
            )
        code = ExitCode.BAD_INPUT if isinstance(exc, _INPUT_ERRORS) else ExitCode.ERROR
        return code, f"{exc.message} ({exc.code})"
    if isinstance(exc, ValidationError):
        return ExitCode.BAD_INPUT, _settings_message(exc)
    if isinstance(exc, (NoSuchModuleError, ArgumentError)):
        return ExitCode.BAD_INPUT, (
            f"{URL_SETTING} is not a usable database URL ({exc}); use sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST/DB, or unset it to use the data dir"
        )
    if isinstance(exc, OSError):
        return _os_message(exc)
    if isinstance(exc, DBAPIError) and isinstance(exc.orig, Exception):
        return _database_message(exc.orig)
    if isinstance(exc, sqlite3.Error):
        return _database_message(exc)
    if isinstance(exc, SQLAlchemyError):
        return ExitCode.ERROR, f"library database {database_label()}: {_first_line(exc)}"
    return ExitCode.ERROR, (
        f"unexpected error: {type(exc).__name__}: {_first_line(exc)} "
        "(rerun with --debug for the traceback)"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or repr(exc)
    return text.splitlines()[0]


def _settings_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        name = f"{PREFIX}{field.upper()}"
        parts.append(f"{name}={os.environ.get(name, error.get('input'))!s}: {error['msg']}")
    return "invalid setting " + "; ".join(parts) + " (fix or unset it)"


def _os_message(exc: OSError) -> tuple[ExitCode, str]:
    where = exc.filename if exc.filename is not None else "a file"
    data_dir = os.environ.get(DATA_SETTING)
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        what = "is a file" if isinstance(exc, FileExistsError) else "lies under a file"
        return ExitCode.BAD_INPUT, (
            f"{where} {what}, not a folder: point {DATA_SETTING} "
            f"(now {data_dir or './data'}) at a folder"
        )
    if exc.errno in _FULL:
        return ExitCode.ERROR, f"disk full writing {where}: free some space, then run it again"
    if exc.errno == errno.EROFS:
        return ExitCode.ERROR, (
            f"{where} is on a read-only file system: mount it writable, or point {DATA_SETTING} "
            "at a writable folder"
        )
    if exc.errno in _DENIED:
        return ExitCode.ERROR, (
            f"permission denied on {where}: make it writable for this user, or point "
            f"{DATA_SETTING} at a folder you can write"
        )
    if exc.errno == errno.EADDRINUSE:
        return ExitCode.ERROR, "address already in use: stop the other server or choose --port"
    return ExitCode.ERROR, f"{exc.strerror or _first_line(exc)}: {where}"


def _database_message(exc: BaseException) -> tuple[ExitCode, str]:
    text = _first_line(exc)
    lowered = text.lower()
    db = f"library database {database_label()}"
    if "full" in lowered:
        return ExitCode.ERROR, f"disk full writing {db}: free some space, then run it again"
    if "readonly" in lowered or "read-only" in lowered:
        return ExitCode.ERROR, (
            f"{db} is read-only: make it and its folder writable "
            "(read-only commands such as status, items and verify work without that)"
        )
    if "unable to open" in lowered:
        folder = Path(database_label()).parent
        if folder.is_dir() and not os.access(folder, os.W_OK):
            return ExitCode.ERROR, (
                f"cannot open {db}: its folder {folder} is read-only and SQLite needs to "
                f"create its -wal/-shm files there; make {folder} writable"
            )
        return ExitCode.ERROR, (
            f"cannot open {db}: check that its folder exists and is readable "
            f"and writable ({DATA_SETTING} / {URL_SETTING})"
        )
    if "locked" in lowered or "busy" in lowered:
        return ExitCode.ERROR, (
            f"{db} is locked by another process: wait for it to finish "
            "(or stop it), then run this again"
        )
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return ExitCode.ERROR, (
            f"{db} is damaged ({text}): restore it from "
            "DATA_DIR/backups or move it away to start a new library"
        )
    if "connect" in lowered or "could not translate host" in lowered:
        return ExitCode.ERROR, (
            f"cannot connect to {db} ({text}): check {URL_SETTING} and that the server is running"
        )
    return ExitCode.ERROR, f"{db}: {text}"
