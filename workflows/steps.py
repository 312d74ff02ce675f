"""What a step is to the driver: the two-phase step types, grouped applies (and running a
commit group's grouped applies at once), firing what an apply names on an item's machine, and
the item snapshots that undo a rolled-back apply."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from workflows.fence import Fired
from workflows.machine import fire
from workflows.records import WorkItem

Transition = str | tuple[str, dict[str, Any]]
ApplyResult = Transition | Sequence[Transition]
ApplyFn = Callable[[Session, WorkItem], ApplyResult]
StepFn = Callable[[WorkItem], ApplyFn]
Steps = Mapping[str, Mapping[str, StepFn]]
GroupWriter = Callable[[Session, Sequence[tuple[WorkItem, Any]]], Sequence[ApplyResult | None]]
"""Writes many items' changes with one statement per table; per item, what to fire, or None
when the item needs its own ``fallback`` apply."""


@dataclass(frozen=True)
class Grouped:
    """An apply that a :data:`GroupWriter` can run together with others of its kind.

    The driver hands every ``Grouped`` of a commit group that shares a ``writer`` to it at once
    (inside one savepoint); if the writer raises, or declines an item, that item runs its
    ``fallback`` alone in its own savepoint, as any other apply.
    """

    writer: GroupWriter
    payload: Any
    fallback: ApplyFn

    def __call__(self, session: Session, item: WorkItem) -> ApplyResult:
        return self.fallback(session, item)


def transitions(result: ApplyResult) -> list[tuple[str, dict[str, Any]]]:
    """An apply's result as ``(trigger, kwargs)`` pairs, in order."""
    if isinstance(result, str):
        return [(result, {})]
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict):
        return [(str(result[0]), dict(result[1]))]
    out: list[tuple[str, dict[str, Any]]] = []
    for entry in result:
        if isinstance(entry, str):
            out.append((entry, {}))
        else:
            trigger, kwargs = entry
            out.append((trigger, dict(kwargs)))
    if not out:
        raise ValueError("apply returned no trigger")
    return out


def fire_all(item: WorkItem, result: ApplyResult) -> list[Fired]:
    """Fire what an apply named, in order; the transitions to write."""
    fired: list[Fired] = []
    attempt = item.attempts + 1
    for trigger, kwargs in transitions(result):
        from_state, to_state = fire(item, trigger, **kwargs)
        fired.append(Fired(trigger, from_state, to_state, attempt, kwargs or None))
    item.attempts = 0
    item.crashes = 0
    return fired


def apply_grouped(
    session: Session,
    live: list[tuple[WorkItem, ApplyFn]],
    snapshots: dict[int, WorkItem],
    done: list[tuple[WorkItem, list[Fired]]],
) -> list[tuple[WorkItem, ApplyFn]]:
    """Run each writer's ``Grouped`` applies at once; the items left to apply alone.

    A writer's group shares one savepoint: if the writer (or firing what it names)
    raises, the savepoint is rolled back and every item of that group runs alone.
    """
    by_writer: dict[GroupWriter, list[tuple[WorkItem, Grouped]]] = {}
    alone: list[tuple[WorkItem, ApplyFn]] = []
    for item, apply in live:
        if isinstance(apply, Grouped):
            by_writer.setdefault(apply.writer, []).append((item, apply))
        else:
            alone.append((item, apply))
    conn = session.connection()
    for writer, entries in by_writer.items():
        conn.exec_driver_sql("SAVEPOINT grp")
        fired_here: list[tuple[WorkItem, list[Fired]]] = []
        declined: list[tuple[WorkItem, ApplyFn]] = []
        try:
            results = writer(session, [(item, g.payload) for item, g in entries])
            for (item, grouped), result in zip(entries, results, strict=True):
                if result is None:
                    declined.append((item, grouped.fallback))
                else:
                    fired_here.append((item, fire_all(item, result)))
        except Exception:
            conn.exec_driver_sql("ROLLBACK TO SAVEPOINT grp")
            conn.exec_driver_sql("RELEASE SAVEPOINT grp")
            session.expire_all()
            for item, grouped in entries:
                restore(item, snapshots[item.id])
                alone.append((item, grouped.fallback))
        else:
            conn.exec_driver_sql("RELEASE SAVEPOINT grp")
            done.extend(fired_here)
            alone.extend(declined)
    alone.sort(key=lambda entry: entry[0].id)
    return alone


def snapshot(item: WorkItem) -> WorkItem:
    """A copy of ``item`` to put back with :func:`restore` if its transaction rolls back."""
    copied = copy.copy(item)
    copied.artifacts = _json_copy(item.artifacts)
    copied.warnings = _json_copy(item.warnings)
    return copied


def _json_copy(value: Any) -> Any:
    """A deep copy of JSON data (what artifacts and warnings are, being stored as JSON): a few
    times cheaper than ``copy.deepcopy``, which the driver paid for every item of a group."""
    if type(value) is dict:
        return {k: _json_copy(v) for k, v in value.items()}
    if type(value) is list:
        return [_json_copy(v) for v in value]
    return value


def restore(item: WorkItem, snapshot: WorkItem) -> None:
    """Put ``item`` back as it was when ``snapshot`` was taken."""
    for f in dataclasses.fields(snapshot):
        setattr(item, f.name, getattr(snapshot, f.name))
