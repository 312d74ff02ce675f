"""The schema check knows the head revision without Alembic, and reads the revision as Alembic
does: a command on a current library never imports Alembic."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text

from backend.database import schema
from backend.database.migration.errors import LibraryDatabaseError
from backend.database.session import make_engine


def alembic_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_the_head_constant_is_the_head_of_the_alembic_scripts() -> None:
    assert schema.script_head() == schema.HEAD_REVISION
    assert schema.head_revision() == schema.script_head()


def test_the_revision_is_read_as_alembic_reads_it(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert schema.current_revision(engine) is None  # no alembic_version table
        schema.upgrade(engine, "0002_workflow")
        assert schema.current_revision(engine) == alembic_revision(engine) == "0002_workflow"
        schema.ensure_current(engine)
        assert schema.current_revision(engine) == alembic_revision(engine)
        assert schema.current_revision(engine) == schema.script_head()
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM alembic_version"))
        assert schema.current_revision(engine) is None  # the table without a row
        assert alembic_revision(engine) is None
    finally:
        engine.dispose()


def test_a_version_table_with_two_revisions_is_refused(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0001_library')"))
    with pytest.raises(LibraryDatabaseError, match="holds several revisions"):
        schema.ensure_current(engine)


CHECK = """
import sys
from backend.database import schema
from backend.database.session import make_engine

engine = make_engine(sys.argv[1])
schema.ensure_current(engine)
engine.dispose()
print(schema.current_revision(make_engine(sys.argv[1])), "alembic" in sys.modules)
"""


def ensure_current_in_a_new_process(url: str) -> tuple[str, bool]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHECK), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    revision, loaded = done.stdout.split()
    return revision, loaded == "True"


def test_alembic_is_imported_only_when_the_library_is_behind(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        schema.upgrade(engine, "0003_event_run")
    finally:
        engine.dispose()
    assert ensure_current_in_a_new_process(sqlite_url) == (schema.HEAD_REVISION, True)
    assert ensure_current_in_a_new_process(sqlite_url) == (schema.HEAD_REVISION, False)
