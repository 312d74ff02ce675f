"""What a conflicted item records and which events it fires, per strategy (no database: the
stage-1 tests check the same history, ``conflict`` then ``resolve``, through a real run)."""

from __future__ import annotations

import pytest

from backend.database.migration.artifacts import Artifacts, Conflict
from backend.database.migration.conflicts import WRITING_STRATEGIES, Strategy
from backend.database.migration.steps.decisions import conflict_transitions
from tests.helpers.fakes import work_item

CLASH = Conflict(sha256="ab" * 32, existing_path="/models/a.safetensors", legacy_id=1)


@pytest.mark.parametrize("decided", [False, True])
def test_without_a_strategy_the_item_waits_in_conflicted(decided: bool) -> None:
    item = work_item(2)
    assert conflict_transitions(item, None, decided, CLASH) == ["conflict"]
    assert Artifacts.of(item).conflict == CLASH
    assert item.artifacts["conflict"] == {
        "sha256": "ab" * 32,
        "existing_path": "/models/a.safetensors",
        "legacy_id": 1,
    }
    assert item.strategy is None


@pytest.mark.parametrize("strategy", sorted(WRITING_STRATEGIES))
def test_a_writing_strategy_goes_on_to_write_the_model(strategy: Strategy) -> None:
    item = work_item(2)
    assert conflict_transitions(item, strategy, False, CLASH) is None
    assert item.strategy == strategy.value
    assert Artifacts.of(item).conflict == CLASH


@pytest.mark.parametrize("strategy", [Strategy.IGNORE, Strategy.DELETE])
def test_a_strategy_that_writes_nothing_is_recorded_as_conflict_then_resolve(
    strategy: Strategy,
) -> None:
    item = work_item(2)
    assert conflict_transitions(item, strategy, False, CLASH) == [
        "conflict",
        ("resolve", {"strategy": strategy.value}),
    ]
    assert item.strategy == strategy.value
    assert Artifacts.of(item).conflict == CLASH
