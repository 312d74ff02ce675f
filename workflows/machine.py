"""The item state machine: one shared ``transitions`` Machine fired on plain item objects.

The states and strategies are plain enums in :mod:`workflows.states` (re-exported here).
The machine only moves ``state`` (and ``failed_from_state`` for ``fail``/``retry``). It has no
side-effect callbacks: steps do their work first, then the trigger is fired, then the store
commits the new state with its event (``pytransitions`` does not roll a state back when a
callback raises after the change).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from transitions import Machine, MachineError

from workflows.errors import InvalidTransition
from workflows.states import FINAL as FINAL
from workflows.states import STRATEGIES as STRATEGIES
from workflows.states import WAITING as WAITING
from workflows.states import WORKING as WORKING
from workflows.states import State as State
from workflows.states import Strategy as Strategy


class Stateful(Protocol):
    """What the machine fires on: anything with a ``state`` (and ``failed_from_state``)."""

    state: str


class _Guard:
    """A named condition; ``label`` is shown on the Mermaid diagram."""

    def __init__(self, label: str, test: Callable[[Any], bool]) -> None:
        self.label = label
        self._test = test

    def __call__(self, event: Any) -> bool:
        return self._test(event)


def _strategy_is(*strategies: Strategy) -> _Guard:
    names = tuple(s.value for s in strategies)
    label = "strategy=" + "|".join(names)
    return _Guard(label, lambda event: event.kwargs.get("strategy") in names)


def _failed_from(state: State) -> _Guard:
    return _Guard(
        f"failed from {state.value}",
        lambda event: getattr(event.model, "failed_from_state", None) == state.value,
    )


_WORKING_ORDER = (State.pending, State.imported, State.images_processed, State.tags_synced)

_TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "import_model", "source": State.pending.value, "dest": State.imported.value},
    {"trigger": "stage", "source": State.pending.value, "dest": State.staged.value},
    {"trigger": "conflict", "source": State.pending.value, "dest": State.conflicted.value},
    {
        "trigger": "process_images",
        "source": State.imported.value,
        "dest": State.images_processed.value,
    },
    {
        "trigger": "sync_tags",
        "source": State.images_processed.value,
        "dest": State.tags_synced.value,
    },
    {"trigger": "promote", "source": State.tags_synced.value, "dest": State.promoted.value},
    *({"trigger": "fail", "source": s.value, "dest": State.failed.value} for s in _WORKING_ORDER),
    *(
        {
            "trigger": "retry",
            "source": State.failed.value,
            "dest": s.value,
            "conditions": [_failed_from(s)],
        }
        for s in _WORKING_ORDER
    ),
    {
        "trigger": "resolve",
        "source": State.conflicted.value,
        "dest": State.pending.value,
        "conditions": [_strategy_is(Strategy.OVERRIDE, Strategy.MERGE)],
    },
    {
        "trigger": "resolve",
        "source": State.conflicted.value,
        "dest": State.ignored.value,
        "conditions": [_strategy_is(Strategy.IGNORE)],
    },
    {
        "trigger": "resolve",
        "source": State.conflicted.value,
        "dest": State.deleted.value,
        "conditions": [_strategy_is(Strategy.DELETE)],
    },
]

MACHINE = Machine(
    model=None,
    states=[s.value for s in State],
    transitions=_TRANSITIONS,
    initial=State.pending.value,
    auto_transitions=False,
    send_event=True,
)
"""The one machine of the engine; items are never added to it."""

TRIGGERS: tuple[str, ...] = tuple(MACHINE.events)
"""Every trigger name, in definition order."""


def _unguarded() -> dict[tuple[str, str], str]:
    """``(trigger, source) → dest`` for every move the machine draws without a condition.

    Read from the machine itself: firing such a move through ``transitions`` only checks that
    the machine draws it and sets the state, so the hot path (four moves per image-less model)
    looks the answer up here; guarded moves (``retry``, ``resolve``) always go through it.
    """
    table: dict[tuple[str, str], str] = {}
    for name, event in MACHINE.events.items():
        for source, moves in event.transitions.items():
            move = moves[0]
            if len(moves) == 1 and not (
                move.conditions or move.before or move.after or move.prepare
            ):
                table[(name, source)] = str(move.dest)
    return table


_UNGUARDED = _unguarded()


def fire(item: Any, trigger: str, **kwargs: Any) -> tuple[str, str]:
    """Fire ``trigger`` on ``item`` and return ``(from_state, to_state)``.

    ``fail`` stores the source state in ``item.failed_from_state``; ``retry`` returns there and
    clears it. Raises :class:`InvalidTransition` for any move the diagram does not draw.
    """
    source = str(item.state)
    dest = _UNGUARDED.get((trigger, source))
    if dest is not None and not kwargs:
        item.state = dest
        if trigger == "fail":
            item.failed_from_state = source
        return source, dest
    event = MACHINE.events.get(trigger)
    if event is None:
        raise InvalidTransition(trigger, source, "unknown trigger")
    if source not in MACHINE.states:
        raise InvalidTransition(trigger, source, "unknown state")
    try:
        moved = event.trigger(item, **kwargs)
    except MachineError as exc:
        raise InvalidTransition(trigger, source) from exc
    if not moved:
        raise InvalidTransition(trigger, source, _refusal(trigger, item, kwargs))
    item.state = str(item.state)
    if trigger == "fail":
        item.failed_from_state = source
    elif trigger == "retry":
        item.failed_from_state = None
    return source, item.state


def _refusal(trigger: str, item: Any, kwargs: dict[str, Any]) -> str:
    if trigger == "resolve":
        return f"unknown strategy {kwargs.get('strategy')!r} (expected one of {STRATEGIES})"
    if trigger == "retry":
        return f"unknown failed_from_state {getattr(item, 'failed_from_state', None)!r}"
    return "guard refused"


def mermaid() -> str:
    """The machine as a Mermaid ``stateDiagram-v2``, generated from its transitions."""
    lines = ["stateDiagram-v2", f"    [*] --> {State.pending.value}"]
    for name, event in MACHINE.events.items():
        for source, transitions in event.transitions.items():
            for transition in transitions:
                guards = [getattr(c.func, "label", None) for c in transition.conditions]
                label = name + "".join(f" [{g}]" for g in guards if g)
                lines.append(f"    {source} --> {transition.dest} : {label}")
    lines.extend(f"    {state.value} --> [*]" for state in State if state in FINAL)
    return "\n".join(lines) + "\n"
