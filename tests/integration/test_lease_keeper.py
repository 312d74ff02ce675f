"""A step longer than the lease keeps its item by heartbeat: no other driver claims it, and
its result commits exactly once.

The engine's clock is replaced by a hand-driven one (freezegun hands real time to code running
in threads, and the heartbeat runs in one)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from tests.helpers.workflow import FLOW, keys, make_steps
from workflows import clock
from workflows.driver import Driver
from workflows.fence import ITEMS
from workflows.records import WorkItem
from workflows.steps import ApplyFn
from workflows.store import WorkflowStore

T0 = 1_893_456_000.0  # 2030-01-01
LEASE = 60.0
OTHER = f"{socket.gethostname()}:{os.getpid()}:other"
POLL_LIMIT_SECONDS = 60


class HandClock:
    """``workflows.clock.now`` that moves only when told to."""

    def __init__(self, start: float) -> None:
        self.at = start

    def now(self) -> float:
        return self.at

    def tick(self, seconds: float) -> None:
        self.at += seconds


@pytest.fixture
def hand(monkeypatch: pytest.MonkeyPatch) -> HandClock:
    fake = HandClock(T0)
    monkeypatch.setattr(clock, "now", fake.now)
    return fake


@pytest.fixture
def store(engine: Engine) -> Iterator[WorkflowStore]:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE side_effects (item_id INTEGER NOT NULL, step TEXT)"))
    yield WorkflowStore(engine)


def lease_expiry(store: WorkflowStore, item_id: int) -> float | None:
    with store.engine.connect() as conn:
        value = conn.execute(select(ITEMS.c.lease_expires_at).where(ITEMS.c.id == item_id)).scalar()
    return None if value is None else float(value)


def wait_until(what: str, check: object) -> None:
    deadline = time.monotonic() + POLL_LIMIT_SECONDS
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"never saw: {what}"
        time.sleep(0.01)


def test_a_step_longer_than_the_lease_keeps_it_and_commits_once(
    store: WorkflowStore, hand: HandClock
) -> None:
    started = threading.Event()
    finish = threading.Event()
    calls: list[int] = []

    def long_import(item: WorkItem) -> ApplyFn:
        calls.append(item.id)
        started.set()
        assert finish.wait(POLL_LIMIT_SECONDS), "the test never let the step finish"

        def apply(session: Session, applied: WorkItem) -> str:
            session.execute(
                text("INSERT INTO side_effects (item_id, step) VALUES (:i, 'import')"),
                {"i": applied.id},
            )
            return "import_model"

        return apply

    steps = {"test": {**make_steps()["test"], "pending": long_import}}
    run_id = store.create_run("test", "fp", {}, keys(1))
    driver = Driver(store.engine, steps, lease_seconds=LEASE, heartbeat_seconds=0.01)
    worker = threading.Thread(target=driver.advance, args=(run_id, 1))
    worker.start()
    stolen: list[WorkItem] = []
    try:
        assert started.wait(POLL_LIMIT_SECONDS)
        [item_id] = calls
        for _ in range(3):  # 3 x 40 s = 120 s: twice the lease
            hand.tick(40)
            beat = hand.now() + LEASE - 1  # a heartbeat after this tick sets at least this
            wait_until("a heartbeat", lambda t=beat: (lease_expiry(store, item_id) or 0) > t)
            stolen.extend(store.claim(run_id, OTHER, 1, LEASE))
    finally:
        finish.set()
        worker.join()
    assert stolen == []
    assert calls == [item_id]
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT item_id, step FROM side_effects")).all()
    assert [tuple(r) for r in rows] == [(item_id, "import")]
    assert [e.trigger for e in store.events(item_id)] == list(FLOW.values())
    assert lease_expiry(store, item_id) is None  # released


def test_the_heartbeat_stops_with_the_batch(store: WorkflowStore, hand: HandClock) -> None:
    run_id = store.create_run("test", "fp", {}, keys(1))
    driver = Driver(store.engine, make_steps(), lease_seconds=LEASE, heartbeat_seconds=0.01)
    [report] = driver.advance(run_id, 1)
    keepers = [t for t in threading.enumerate() if t.name.startswith("lease-keeper")]
    assert keepers == []  # the keeper thread was stopped and joined
    assert report.to_state == "promoted"
    assert lease_expiry(store, report.item_id) is None  # released
