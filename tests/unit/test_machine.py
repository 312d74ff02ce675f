"""The item state machine: every allowed move, every forbidden one, and the Mermaid rendering."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest

from workflows.errors import InvalidTransition
from workflows.machine import FINAL, MACHINE, TRIGGERS, WAITING, WORKING, State, fire, mermaid
from workflows.tables import FINAL_EVENT_SQL, WORKING_ITEM_SQL

# The diagram of DESIGN.md, written out independently of machine.py: (source, trigger, kwargs,
# failed_from_state) -> destination.
WORKING_STATES = ["pending", "imported", "images_processed", "tags_synced"]
ALLOWED: dict[tuple[str, str, str | None, str | None], str] = {
    ("pending", "import_model", None, None): "imported",
    ("pending", "stage", None, None): "staged",
    ("pending", "conflict", None, None): "conflicted",
    ("imported", "process_images", None, None): "images_processed",
    ("images_processed", "sync_tags", None, None): "tags_synced",
    ("tags_synced", "promote", None, None): "promoted",
    ("conflicted", "resolve", "override", None): "pending",
    ("conflicted", "resolve", "merge", None): "pending",
    ("conflicted", "resolve", "ignore", None): "ignored",
    ("conflicted", "resolve", "delete", None): "deleted",
    **{(s, "fail", None, None): "failed" for s in WORKING_STATES},
    **{("failed", "retry", None, s): s for s in WORKING_STATES},
}
STRATEGY_CHOICES = [None, "override", "merge", "ignore", "delete", "bogus"]
FAILED_FROM_CHOICES = [None, *WORKING_STATES, "promoted"]


def _cases() -> list[tuple[str, str, str | None, str | None]]:
    cases = []
    for state in State:
        for trigger in TRIGGERS:
            strategies = STRATEGY_CHOICES if trigger == "resolve" else [None]
            failed_from = FAILED_FROM_CHOICES if trigger == "retry" else [None]
            for strategy in strategies:
                for origin in failed_from:
                    cases.append((state.value, trigger, strategy, origin))
    return cases


CASES = _cases()


def _item(state: str, failed_from: str | None = None) -> Any:
    return SimpleNamespace(state=state, failed_from_state=failed_from)


def test_state_sets_partition_every_state() -> None:
    assert set(State) == WORKING | FINAL | WAITING
    assert not (WORKING & FINAL) and not (WORKING & WAITING) and not (FINAL & WAITING)
    assert [s.value for s in State] == list(MACHINE.states)


def test_every_drawn_transition_is_in_the_case_table() -> None:
    assert set(ALLOWED) <= set(CASES)
    assert len([c for c in CASES if c in ALLOWED]) == len(ALLOWED) == 18


@pytest.mark.parametrize(("state", "trigger", "strategy", "failed_from"), CASES)
def test_transition_allowed_or_refused(
    state: str, trigger: str, strategy: str | None, failed_from: str | None
) -> None:
    item = _item(state, failed_from)
    kwargs = {} if strategy is None else {"strategy": strategy}
    expected = ALLOWED.get((state, trigger, strategy, failed_from))
    if expected is None:
        with pytest.raises(InvalidTransition, match=f"cannot {trigger} from {state}"):
            fire(item, trigger, **kwargs)
        assert item.state == state
        assert item.failed_from_state == failed_from
    else:
        assert fire(item, trigger, **kwargs) == (state, expected)
        assert item.state == expected
        assert type(item.state) is str


@pytest.mark.parametrize("origin", WORKING_STATES)
def test_fail_records_origin_and_retry_returns_there(origin: str) -> None:
    item = _item(origin)
    fire(item, "fail")
    assert (item.state, item.failed_from_state) == ("failed", origin)
    assert fire(item, "retry") == ("failed", origin)
    assert (item.state, item.failed_from_state) == (origin, None)


def test_final_states_are_dead_ends() -> None:
    for state in FINAL:
        for trigger in TRIGGERS:
            with pytest.raises(InvalidTransition):
                fire(_item(state), trigger, strategy="override")


def test_invalid_transition_is_a_value_error_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match=r"^cannot promote from pending$"):
        fire(_item("pending"), "promote")
    with pytest.raises(InvalidTransition, match="unknown strategy 'bogus'"):
        fire(_item("conflicted"), "resolve", strategy="bogus")
    with pytest.raises(InvalidTransition, match="unknown trigger"):
        fire(_item("pending"), "explode")
    with pytest.raises(InvalidTransition, match="unknown state"):
        fire(_item("limbo"), "import_model")


def test_machine_holds_no_models_and_has_no_auto_transitions() -> None:
    fire(_item("pending"), "import_model")
    assert MACHINE.models == []
    assert not any(t.startswith("to_") for t in TRIGGERS)


def test_mermaid_is_generated_from_the_transitions() -> None:
    text = mermaid()
    assert text == mermaid()
    lines = text.splitlines()
    assert lines[0] == "stateDiagram-v2"
    edges = [line for line in lines if " : " in line]
    assert len(edges) == 17  # override and merge share one edge
    assert "    pending --> imported : import_model" in lines
    assert "    failed --> images_processed : retry [failed from images_processed]" in lines
    assert "    conflicted --> pending : resolve [strategy=override|merge]" in lines
    assert "    promoted --> [*]" in lines


def test_final_event_sql_of_the_partial_index_names_exactly_the_final_states() -> None:
    listed = re.findall(r"'(\w+)'", FINAL_EVENT_SQL)
    assert sorted(listed) == sorted(s.value for s in FINAL)


def test_working_item_sql_of_the_claim_index_names_exactly_the_working_states() -> None:
    listed = re.findall(r"'(\w+)'", WORKING_ITEM_SQL)
    assert sorted(listed) == sorted(s.value for s in WORKING)
