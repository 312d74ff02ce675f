"""What a stage-1 step reads before it does anything: the item's legacy row and its conflict
strategy, through the step context (in-memory fakes: no legacy file, no database)."""

from __future__ import annotations

import pytest

from backend.database.migration.conflicts import Strategy
from backend.database.migration.steps.decisions import item_strategy
from backend.database.migration.steps.legacy import legacy_row, legacy_row_or_none
from tests.helpers.fakes import fake_step_env, legacy_model, work_item
from workflows.errors import StepError


def test_the_row_of_an_item_comes_from_its_runs_reader() -> None:
    row = legacy_model(7)
    env = fake_step_env([legacy_model(6), row])
    assert legacy_row(env, work_item(7, run_id=3)) == row


def test_a_row_that_vanished_is_a_permanent_failure_naming_it() -> None:
    env = fake_step_env([legacy_model(1)])
    with pytest.raises(StepError) as err:
        legacy_row(env, work_item(42))
    assert err.value.code == "legacy_row_missing"
    assert "legacy row 42" in err.value.message


def test_another_row_of_the_run_is_none_when_it_is_not_asked_for_or_gone() -> None:
    winner = legacy_model(2)
    env = fake_step_env([winner])
    assert legacy_row_or_none(env, 1, 2) == winner
    assert legacy_row_or_none(env, 1, 99) is None
    assert legacy_row_or_none(env, 1, None) is None


@pytest.mark.parametrize("option", [None, "merge"])
def test_a_persons_choice_wins_over_the_runs_option(option: str | None) -> None:
    env = fake_step_env(options={1: {"on_conflict": option}})
    item = work_item(1, strategy="ignore")
    assert item_strategy(env, item) == (Strategy.IGNORE, True)


@pytest.mark.parametrize("option", list(Strategy))
def test_the_runs_option_applies_when_nobody_chose(option: Strategy) -> None:
    env = fake_step_env(options={1: {"on_conflict": option.value}, 2: {}})
    assert item_strategy(env, work_item(1, run_id=1)) == (option, False)
    assert item_strategy(env, work_item(1, run_id=2)) == (None, False)
