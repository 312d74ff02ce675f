"""Run options reach the steps read once per run from the workflow store (an in-memory fake)."""

from __future__ import annotations

import pytest

from backend.database.migration.errors import NotFoundError
from backend.database.migration.resources import RunOptions
from tests.helpers.fakes import FakeWorkflowStore


def test_a_runs_options_are_read_from_the_store_once() -> None:
    store = FakeWorkflowStore()
    first = store.add_run("legacy", "fp-1", {"on_conflict": "merge", "legacy_db": "/l.db"})
    second = store.add_run("promotion", "pending:none", {"on_conflict": None})
    options = RunOptions(store)  # type: ignore[arg-type]
    for _ in range(3):
        assert options.for_run(first) == {"on_conflict": "merge", "legacy_db": "/l.db"}
        assert options.for_run(second) == {"on_conflict": None}
    assert store.reads == [first, second]


def test_an_unknown_run_is_a_not_found_error_naming_it() -> None:
    options = RunOptions(FakeWorkflowStore())  # type: ignore[arg-type]
    with pytest.raises(NotFoundError, match="no migration run with id 9") as err:
        options.for_run(9)
    assert err.value.code == "not_found"
