"""Create, adopt and upgrade the library schema with Alembic (the only way the schema is made).

``ensure_current`` reads first and writes only when the database is behind. It reads the
revision from ``alembic_version`` itself and compares it with :data:`HEAD_REVISION`, so a
command on a current library never imports Alembic (≈ 0.1 s of start-up). The write is one
transaction under a database lock (``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped advisory
lock on PostgreSQL) that re-reads the revision, so concurrent first starts create the schema
once. A database without an Alembic table is adopted only when it is empty or exactly the v2
app's schema (see :mod:`backend.database.v2schema`); otherwise nothing is written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from backend.config import Settings
from backend.database import v2schema
from backend.database.failures import URL_SETTING, check_sqlite_file, describe, library_errors
from backend.database.migration.backup import backup_sqlite, sqlite_path
from backend.database.migration.errors import (
    LibraryDatabaseError,
    LibrarySettingError,
    NewerLibraryError,
)
from backend.database.session import is_sqlite, make_engine, writer

if TYPE_CHECKING:
    from alembic.config import Config

HEAD_REVISION: Final = "0006_events_without_item_fk"
"""The newest revision in ``alembic/versions`` (a test checks it against Alembic's head): a
new migration script changes it."""
VERSION_TABLE: Final = "alembic_version"

_ALEMBIC_DIR = Path(__file__).resolve().parent / "alembic"

SCHEMA_LOCK_KEY = 0x6D6D5F736368656D
"""PostgreSQL advisory lock key serialising schema upgrades ("mm_schem")."""


def alembic_config() -> Config:
    """The Alembic configuration pointing at the packaged migration scripts."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_ALEMBIC_DIR))
    return config


def head_revision() -> str:
    """The newest revision shipped with this package."""
    return HEAD_REVISION


def script_head() -> str:
    """The head of the Alembic script directory (imports Alembic; :data:`HEAD_REVISION` is
    the same without it)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no Alembic revision found")
    return head


def _revision(conn: Connection) -> str | None:
    """The revision in ``alembic_version``; None without that table or a row in it."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(rows) > 1:
        raise LibraryDatabaseError(
            f"{VERSION_TABLE} holds several revisions ({', '.join(sorted(rows))}): this "
            "program only writes one line of history; restore the library from a backup"
        )
    return str(rows[0]) if rows else None


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with library_errors(engine), engine.connect() as conn:
        return _revision(conn)


def _check_known(revision: str | None, where: str) -> None:
    if revision is None or revision == HEAD_REVISION:
        return
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError as exc:
        raise NewerLibraryError(
            f"{where} is at schema revision {revision!r}, which this program does not know "
            f"(its newest is {head_revision()!r}): use the model-migrate release that wrote it"
        ) from exc


def _check(conn: Connection, where: str) -> str | None:
    """The revision, after refusing a database this program must not write."""
    revision = _revision(conn)
    _check_known(revision, where)
    if revision is None:
        v2schema.check_adoptable(conn, where)
    else:
        v2schema.check_version(conn, where)
    return revision


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """One transaction holding the database's schema lock."""
    if is_sqlite(engine):
        with writer(engine).begin() as conn:
            yield conn
    else:
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
            yield conn


def _run(conn: Connection, action: str, revision: str) -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = conn
    getattr(command, action)(config, revision)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Adopt or create the library and upgrade it to ``revision`` (head by default)."""
    where = describe(engine)
    with library_errors(engine), _locked(engine) as conn:
        _check(conn, where)
        _run(conn, "upgrade", revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade to ``revision``; ``base`` drops this project's tables, never the v2 ones."""
    with library_errors(engine), _locked(engine) as conn:
        _run(conn, "downgrade", revision)


def ensure_current(engine: Engine, before_write: Callable[[], object] | None = None) -> None:
    """Refuse a database this program must not write; upgrade it when behind.

    Reads only when the database is current, so read-only commands work on a read-only file.
    ``before_write`` runs (under the schema lock) before a database that has tables is
    adopted or upgraded — the place to back it up.
    """
    where = describe(engine)
    with library_errors(engine), engine.connect() as conn:
        revision = _check(conn, where)
    if revision == HEAD_REVISION:
        return
    with library_errors(engine), _locked(engine) as conn:
        if _check(conn, where) != HEAD_REVISION:
            if before_write is not None and inspect(conn).get_table_names():
                before_write()
            _run(conn, "upgrade", "head")


def _prepare_data_dir(data_dir: Path) -> None:
    setting = f"MODEL_MIGRATE_DATA_DIR={data_dir}"
    if data_dir.exists() and not data_dir.is_dir():
        raise LibrarySettingError(
            f"{setting} is a file, not a folder: point it at the v2 app's data folder"
        )
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LibrarySettingError(
            f"cannot create {setting} ({exc.strerror}): create it yourself or choose a folder "
            "you may write in"
        ) from exc


def _backup(db_file: Path, settings: Settings) -> Callable[[], object]:
    def backup() -> Path:
        try:
            return backup_sqlite(db_file, settings.backups_dir, "before-schema")
        except (OSError, sqlite3.Error) as exc:
            raise LibraryDatabaseError(
                f"cannot back up {db_file} to {settings.backups_dir} before changing its "
                f"schema ({exc}): free some space or fix the folder's permissions"
            ) from exc

    return backup


def open_library(settings: Settings) -> Engine:
    """The library engine named by the settings, its schema refused, adopted or current."""
    _prepare_data_dir(settings.data_dir)
    url = settings.resolved_database_url
    try:
        engine = make_engine(url)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        # The URL itself is not echoed: it may hold a password.
        missing = isinstance(exc, NoSuchModuleError | ImportError)
        why = "names no installed driver" if missing else "cannot be parsed"
        raise LibrarySettingError(
            f"{URL_SETTING} {why}: use sqlite:////path/to/file.db or "
            "postgresql+psycopg://user@host/dbname"
        ) from exc
    try:
        db_file = sqlite_path(engine)
        if db_file is not None:
            check_sqlite_file(db_file)
        ensure_current(engine, None if db_file is None else _backup(db_file, settings))
    except BaseException:
        engine.dispose()
        raise
    return engine
