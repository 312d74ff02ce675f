"""The workflow tables' metadata, as Alembic's environment sees it (``WorkflowBase.metadata``),
keeps every index of the schema although the Core tables and the ORM mapping live in two
modules; the Core tables alone load neither the ORM nor the PostgreSQL dialect."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateIndex

from workflows.core_tables import EVENTS, ITEMS, RUNS
from workflows.tables import MigrationEvent, MigrationItem, MigrationRun, WorkflowBase


def test_the_orm_classes_map_the_core_tables() -> None:
    assert WorkflowBase.metadata is EVENTS.metadata
    assert [MigrationRun.__table__, MigrationItem.__table__, MigrationEvent.__table__] == [
        RUNS,
        ITEMS,
        EVENTS,
    ]


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()])
def test_the_partial_index_of_finishing_events_is_in_alembics_metadata(dialect: Dialect) -> None:
    # Alembic's environment compares the database with WorkflowBase.metadata.
    events = WorkflowBase.metadata.tables["migration_events"]
    (index,) = [i for i in events.indexes if i.name == "ix_migration_events_final"]
    ddl = str(CreateIndex(index).compile(dialect=dialect))
    assert "(run_id, at)" in ddl
    assert ddl.endswith("WHERE to_state IN ('deleted', 'ignored', 'promoted', 'staged')")


def test_the_core_tables_load_neither_the_orm_nor_the_postgresql_dialect() -> None:
    code = (
        "import sys, workflows.core_tables, workflows.status;"
        " print([m for m in ('sqlalchemy.orm', 'sqlalchemy.dialects.postgresql', 'transitions')"
        " if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
