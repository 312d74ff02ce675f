"""The unguarded-move table that ``fire`` consults agrees with the ``transitions`` machine."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from transitions import MachineError

from workflows.errors import InvalidTransition
from workflows.machine import _UNGUARDED, MACHINE, TRIGGERS, State, fire


def _through_machine(trigger: str, state: str) -> str | None:
    item = SimpleNamespace(state=state, failed_from_state=None)
    try:
        moved = MACHINE.events[trigger].trigger(item)
    except MachineError:
        return None
    return str(item.state) if moved else None


@pytest.mark.parametrize("state", [s.value for s in State])
@pytest.mark.parametrize("trigger", TRIGGERS)
def test_fast_path_and_machine_agree(trigger: str, state: str) -> None:
    expected = _through_machine(trigger, state)
    item = SimpleNamespace(state=state, failed_from_state=None)
    if (trigger, state) in _UNGUARDED:
        assert fire(item, trigger) == (state, expected)
        assert item.state == expected
    elif expected is None:
        with pytest.raises(InvalidTransition):
            fire(item, trigger)
        assert item.state == state


def test_guarded_moves_are_never_in_the_table() -> None:
    triggers = {trigger for trigger, _ in _UNGUARDED}
    assert "retry" not in triggers
    assert "resolve" not in triggers
    assert {"import_model", "process_images", "sync_tags", "promote", "fail"} <= triggers


def test_fail_through_the_fast_path_remembers_where_it_failed() -> None:
    item = SimpleNamespace(state="imported", failed_from_state=None)
    assert fire(item, "fail") == ("imported", "failed")
    assert item.failed_from_state == "imported"
