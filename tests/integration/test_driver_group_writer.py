"""Grouped applies: one writer call for many items, per-item fallback when it fails or declines."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tests.helpers.workflow import keys, make_steps
from workflows.driver import Driver
from workflows.records import WorkItem
from workflows.steps import ApplyFn, ApplyResult, Grouped
from workflows.store import WorkflowStore

ALL_FOUR = ["import_model", "process_images", "sync_tags", "promote"]


@pytest.fixture
def store(engine: Engine) -> Iterator[WorkflowStore]:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE side_effects (item_id INTEGER NOT NULL, via TEXT)"))
    yield WorkflowStore(engine)


def _side(engine: Engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT item_id, via FROM side_effects ORDER BY item_id"))
        return [(r[0], r[1]) for r in rows]


def _insert(session: Session, item_ids: Sequence[int], via: str) -> None:
    session.execute(
        text("INSERT INTO side_effects (item_id, via) VALUES (:i, :v)"),
        [{"i": i, "v": via} for i in item_ids],
    )


def _steps(writer: Any) -> Any:
    steps = {k: dict(v) for k, v in make_steps().items()}

    def import_step(item: WorkItem) -> ApplyFn:
        def alone(session: Session, applied: WorkItem) -> list[str]:
            _insert(session, [applied.id], "alone")
            return ALL_FOUR

        return Grouped(writer, item.source_key, alone)

    steps["test"]["pending"] = import_step
    return steps


def _histories(store: WorkflowStore, run_id: int) -> dict[int, list[str]]:
    items = store.items(run_id, None, 1000, None)
    return {i.id: [e.trigger for e in store.events(i.id)] for i in items}


def test_one_writer_call_moves_the_whole_group(store: WorkflowStore, engine: Engine) -> None:
    calls: list[int] = []

    def writer(session: Session, entries: Sequence[tuple[WorkItem, Any]]) -> list[ApplyResult]:
        calls.append(len(entries))
        _insert(session, [item.id for item, _ in entries], "group")
        return [ALL_FOUR for _ in entries]

    run_id = store.create_run("test", "fp", {}, keys(20))
    status = Driver(engine, _steps(writer)).run_until_done(run_id, batch_size=50)
    assert status.counts["promoted"] == 20
    assert calls == [20]
    assert {via for _, via in _side(engine)} == {"group"}
    assert all(h == ALL_FOUR for h in _histories(store, run_id).values())


def test_a_failing_writer_falls_back_to_each_item_alone(
    store: WorkflowStore, engine: Engine
) -> None:
    def writer(session: Session, entries: Sequence[tuple[WorkItem, Any]]) -> list[ApplyResult]:
        _insert(session, [item.id for item, _ in entries], "group")
        for item, _ in entries:
            item.artifacts["touched"] = True
        raise RuntimeError("the group statement failed")

    run_id = store.create_run("test", "fp", {}, keys(5))
    status = Driver(engine, _steps(writer)).run_until_done(run_id, batch_size=50)
    assert status.counts["promoted"] == 5
    side = _side(engine)
    assert [via for _, via in side] == ["alone"] * 5  # the group's writes were rolled back
    items = store.items(run_id, None, 1000, None)
    assert all("touched" not in i.artifacts for i in items)  # and its changes to the items
    assert all(h == ALL_FOUR for h in _histories(store, run_id).values())


def test_a_declined_item_runs_alone_and_the_others_stay_grouped(
    store: WorkflowStore, engine: Engine
) -> None:
    def writer(
        session: Session, entries: Sequence[tuple[WorkItem, Any]]
    ) -> list[ApplyResult | None]:
        taken = [item.id for item, key in entries if key != "k000002"]
        _insert(session, taken, "group")
        return [None if key == "k000002" else ALL_FOUR for _, key in entries]

    run_id = store.create_run("test", "fp", {}, keys(4))
    Driver(engine, _steps(writer)).run_until_done(run_id, batch_size=50)
    side = dict(_side(engine))
    items = {i.source_key: i for i in store.items(run_id, None, 1000, None)}
    assert side[items["k000002"].id] == "alone"
    assert [side[items[k].id] for k in ("k000000", "k000001", "k000003")] == ["group"] * 3
    assert all(i.state == "promoted" for i in items.values())
