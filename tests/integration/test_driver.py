"""The batch driver on a real database: steps, grouping, errors, backoff, fencing, heartbeat."""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tests.helpers.workflow import FLOW, dead_pid, keys, make_steps
from workflows.driver import (
    GIVE_BACK_SECONDS,
    MIN_WAIT_SECONDS,
    POLL_OTHERS_SECONDS,
    RECLAIM_SECONDS,
    Driver,
)
from workflows.errors import StepError, TransientError
from workflows.records import RunStatus, WorkItem
from workflows.steps import ApplyFn, Steps
from workflows.store import WorkflowStore

T0 = "2030-01-01 00:00:00"
OTHER = f"{socket.gethostname()}:{os.getpid()}:other"


@pytest.fixture
def store(engine: Engine) -> Iterator[WorkflowStore]:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE side_effects (item_id INTEGER NOT NULL, step TEXT)"))
    yield WorkflowStore(engine)


def side_rows(engine: Engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT item_id, step FROM side_effects ORDER BY item_id, step"))
        return [(r[0], r[1]) for r in rows]


def write_side(session: Session, item: WorkItem) -> None:
    session.execute(
        text("INSERT INTO side_effects (item_id, step) VALUES (:i, :s)"),
        {"i": item.id, "s": item.state},
    )


def write_then_import(session: Session, item: WorkItem) -> str:
    write_side(session, item)
    return "import_model"


def with_override(state: str, step: object, kind: str = "test") -> Steps:
    steps = {k: dict(v) for k, v in make_steps(kind).items()}
    steps[kind][state] = step  # type: ignore[assignment]
    return steps


@pytest.mark.parametrize("grouped", [True, False], ids=["grouped", "per_item"])
def test_run_until_done_promotes_every_item_with_gap_free_history(
    store: WorkflowStore, grouped: bool
) -> None:
    run_id = store.create_run("test", "fp", {}, keys(25))
    progress: list[RunStatus] = []
    driver = Driver(store.engine, make_steps(on_apply=write_side), group_commits=grouped)
    status = driver.run_until_done(run_id, batch_size=10, on_progress=progress.append)
    assert status.finished and status.counts["promoted"] == 25 and status.done == 25
    assert [p.done for p in progress] == [10, 20, 25]
    assert len(side_rows(store.engine)) == 25 * 4
    for item in store.items(run_id, limit=100):
        events = store.events(item.id)
        assert [e.seq for e in events] == [1, 2, 3, 4]
        assert [e.trigger for e in events] == list(FLOW.values())
        assert all(e.attempt == 1 for e in events)
        assert item.version == 5  # claim + four transitions
    assert store.claim(run_id, OTHER, 100, 60) == []


def test_advance_reports_each_claimed_item(store: WorkflowStore) -> None:
    run_id = store.create_run("test", "fp", {}, keys(3))
    reports = Driver(store.engine, make_steps()).advance(run_id, batch_size=2)
    assert [(r.source_key, r.from_state, r.to_state) for r in reports] == [
        ("k000000", "pending", "promoted"), ("k000001", "pending", "promoted"),
    ]  # fmt: skip
    assert reports[0].transitions == list(FLOW.values())
    assert reports[0].error_code is None
    assert store.status(run_id).counts["pending"] == 1


def test_apply_may_fire_several_triggers_with_kwargs(store: WorkflowStore) -> None:
    def step(item: WorkItem) -> ApplyFn:
        item.artifacts["seen"] = True
        return lambda _s, it: ["import_model", ("process_images", {"images": 2})]

    run_id = store.create_run("test", "fp", {}, keys(1))
    [report] = Driver(store.engine, with_override("pending", step)).advance(run_id, 5)
    assert report.transitions == ["import_model", "process_images", "sync_tags", "promote"]
    events = store.events(report.item_id)
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert events[1].detail == {"images": 2}
    assert store.get_item(report.item_id).artifacts == {"seen": True}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (StepError("invalid_record", "bad row"), "invalid_record", "bad row"),
        (FileNotFoundError(2, "No such file", "/x.safetensors"), "source_missing", "/x.safe"),
        (KeyError("boom"), "internal_error", "KeyError('boom')"),
    ],
    ids=["step_error", "missing_file", "bug"],
)
def test_permanent_errors_fail_at_once(
    store: WorkflowStore, error: Exception, code: str, message: str
) -> None:
    def step(item: WorkItem) -> ApplyFn:
        if item.source_key == "k000001":
            raise error
        return lambda _s, _i: "process_images"

    run_id = store.create_run("test", "fp", {}, keys(3))
    reports = Driver(store.engine, with_override("imported", step)).advance(run_id, 10)
    assert [r.to_state for r in reports] == ["promoted", "failed", "promoted"]
    assert reports[1].error_code == code and message in (reports[1].error or "")
    failed = store.get_item(reports[1].item_id)
    assert failed is not None
    assert (failed.failed_from_state, failed.last_error_code, failed.attempts) == (
        "imported", code, 0,
    )  # fmt: skip
    assert [e.trigger for e in store.events(failed.id)] == ["import_model", "fail"]
    assert store.retry_item(failed.id).state == "imported"


def test_bad_trigger_from_apply_is_an_internal_error(store: WorkflowStore) -> None:
    run_id = store.create_run("test", "fp", {}, keys(1))
    steps = with_override("pending", lambda item: lambda _s, _i: "promote")
    [report] = Driver(store.engine, steps).advance(run_id, 5)
    assert (report.to_state, report.error_code) == ("failed", "internal_error")
    assert "cannot promote from pending" in (report.error or "")


def test_one_items_failure_rolls_back_only_its_savepoint(store: WorkflowStore) -> None:
    def apply_then_maybe_raise(session: Session, item: WorkItem) -> str:
        write_side(session, item)
        if item.source_key == "k000001":
            raise StepError("invalid_record", "after writing")
        return "import_model"

    run_id = store.create_run("test", "fp", {}, keys(3))
    steps = with_override("pending", lambda item: apply_then_maybe_raise)
    reports = Driver(store.engine, steps).advance(run_id, 10)
    assert [r.to_state for r in reports] == ["promoted", "failed", "promoted"]
    written = {item_id for item_id, _ in side_rows(store.engine)}
    assert written == {reports[0].item_id, reports[2].item_id}


def test_transient_fault_after_side_effect_is_retried_without_duplicates(
    store: WorkflowStore,
) -> None:
    faults: list[int] = []

    def flaky_apply(session: Session, item: WorkItem) -> str:
        write_side(session, item)
        if item.id not in faults:
            faults.append(item.id)
            raise TransientError("lost the disk for a moment")
        return "process_images"

    run_id = store.create_run("test", "fp", {}, keys(4))
    sleeps: list[float] = []
    driver = Driver(
        store.engine,
        with_override("imported", lambda item: flaky_apply),
        backoff_base=0.0,
        sleep=sleeps.append,
    )
    status = driver.run_until_done(run_id, batch_size=10)
    assert status.counts["promoted"] == 4
    assert len(faults) == 4
    rows = side_rows(store.engine)
    assert len(rows) == len(set(rows)) == 4
    for item in store.items(run_id):
        history = [(e.trigger, e.attempt) for e in store.events(item.id)]
        assert history == [
            ("import_model", 1), ("backoff", 1), ("process_images", 2), ("sync_tags", 1),
            ("promote", 1),
        ]  # fmt: skip


def test_backoff_schedule_then_retries_exhausted(store: WorkflowStore) -> None:
    def always_busy(item: WorkItem) -> ApplyFn:
        raise OSError(16, "Device or resource busy")

    with freeze_time(T0) as frozen:
        run_id = store.create_run("test", "fp", {}, keys(1), max_attempts=5)
        sleeps: list[float] = []

        def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            frozen.tick(seconds)

        steps = with_override("pending", always_busy)
        driver = Driver(store.engine, steps, backoff_base=2.0, backoff_max=10.0, jitter=0.0,
                        sleep=sleep)  # fmt: skip
        status = driver.run_until_done(run_id, batch_size=1)
    assert sleeps == [2.0, 4.0, 8.0, 10.0]
    assert status.counts["failed"] == 1 and status.finished
    [item] = store.items(run_id)
    assert (item.last_error_code, item.attempts) == ("retries_exhausted", 5)
    assert "Device or resource busy" in (item.last_error or "")
    assert [e.trigger for e in store.events(item.id)] == ["backoff"] * 4 + ["fail"]


def test_backoff_jitter_stays_within_bounds(store: WorkflowStore) -> None:
    def busy(item: WorkItem) -> ApplyFn:
        raise TransientError("busy")

    with freeze_time(T0):
        run_id = store.create_run("test", "fp", {}, keys(40))
        driver = Driver(store.engine, with_override("pending", busy), backoff_base=10.0,
                        jitter=0.1, rng=random.Random(7))  # fmt: skip
        driver.advance(run_id, 40)
        delays = [e.detail["next_attempt_at"] - time.time() for i in store.items(run_id)
                  for e in store.events(i.id)]  # fmt: skip
    assert len(delays) == 40
    assert all(9.0 <= d <= 11.0 for d in delays)
    assert max(delays) - min(delays) > 0.5  # the jitter really spreads them


def test_zombie_driver_cannot_commit(store: WorkflowStore) -> None:
    """A's lease expires while its step runs and B takes the item: A's result is dropped."""
    with freeze_time(T0) as frozen:
        run_id = store.create_run("test", "fp", {}, keys(1))
        taken: list[WorkItem] = []

        def slow_step(item: WorkItem) -> ApplyFn:
            frozen.tick(31)
            taken.extend(store.claim(run_id, OTHER, 1, lease_seconds=30))
            return write_then_import

        zombie = Driver(store.engine, with_override("pending", slow_step), lease_seconds=30)
        [report] = zombie.advance(run_id, 1)
    assert [i.crashes for i in taken] == [1]
    assert (report.to_state, report.error_code, report.transitions) == ("pending", "lease_lost", [])
    assert side_rows(store.engine) == []
    assert store.events(report.item_id) == []
    assert store.claim(run_id, "third:1:x", 1, 30) == []  # still B's


def test_heartbeat_between_rounds_keeps_the_lease(store: WorkflowStore) -> None:
    stolen: list[WorkItem] = []
    with freeze_time(T0) as frozen:
        run_id = store.create_run("test", "fp", {}, keys(2))

        def tick(_item: WorkItem) -> None:
            frozen.tick(4)  # 2 items x 4 rounds x 4 s = 32 s > lease of 10 s
            stolen.extend(store.claim(run_id, OTHER, 5, 10))

        status = Driver(store.engine, make_steps(on_step=tick), lease_seconds=10).run_until_done(
            run_id, 5
        )
    assert stolen == []
    assert status.counts["promoted"] == 2


def test_item_recovered_from_a_crash_runs_alone(store: WorkflowStore) -> None:
    with freeze_time(T0) as frozen:
        run_id = store.create_run("test", "fp", {}, keys(4))
        store.claim(run_id, OTHER, 1, 10)
        frozen.tick(11)
        driver = Driver(store.engine, make_steps())
        first = driver.advance(run_id, 10)
        rest = driver.advance(run_id, 10)
    assert [(r.source_key, r.to_state) for r in first] == [("k000000", "promoted")]
    assert [r.source_key for r in rest] == ["k000001", "k000002", "k000003"]
    assert store.get_item(first[0].item_id).crashes == 0  # type: ignore[union-attr]


def test_a_dead_drivers_items_are_claimed_one_by_one_then_full_claims_resume(
    store: WorkflowStore,
) -> None:
    with freeze_time(T0) as frozen:
        run_id = store.create_run("test", "fp", {}, keys(5))
        store.claim(run_id, OTHER, 3, 10)
        frozen.tick(11)  # its lease has run out: k000000..k000002 are suspects when taken over
        driver = Driver(store.engine, make_steps())
        claims: list[tuple[int, bool, list[str]]] = []
        claim = driver.store.claim

        def recording(*args: Any, suspects_only: bool = False) -> list[WorkItem]:
            items = claim(*args, suspects_only=suspects_only)
            claims.append((args[2], suspects_only, [i.source_key for i in items]))
            return items

        driver.store.claim = recording  # type: ignore[method-assign]
        batches = [[r.source_key for r in driver.advance(run_id, 10)] for _ in range(4)]
    assert batches == [["k000000"], ["k000001"], ["k000002"], ["k000003", "k000004"]]
    assert claims == [
        (10, False, ["k000000", "k000001", "k000002", "k000003", "k000004"]),
        (1, True, ["k000001"]),
        (1, True, ["k000002"]),
        (1, True, []),
        (10, False, ["k000003", "k000004"]),
    ]
    assert all(store.get_item(i.id).crashes == 0 for i in store.items(run_id))  # type: ignore[union-attr]


def test_missing_step_fails_the_item(store: WorkflowStore) -> None:
    run_id = store.create_run("other-kind", "fp", {}, keys(1))
    [report] = Driver(store.engine, make_steps()).advance(run_id, 1)
    assert (report.to_state, report.error_code) == ("failed", "internal_error")
    assert "no step for kind 'other-kind'" in (report.error or "")


def test_run_until_done_sleeps_until_earliest_backoff(store: WorkflowStore) -> None:
    calls: list[int] = []

    def busy_once(item: WorkItem) -> ApplyFn:
        calls.append(item.id)
        if len(calls) == 1:
            raise TransientError("busy")
        return lambda _s, _i: "import_model"

    with freeze_time(T0) as frozen:
        run_id = store.create_run("test", "fp", {}, keys(1))
        sleeps: list[float] = []

        def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            frozen.tick(seconds)

        driver = Driver(store.engine, with_override("pending", busy_once), backoff_base=3.0,
                        jitter=0.0, sleep=sleep)  # fmt: skip
        assert driver.run_until_done(run_id, 10, max_batches=1).remaining == 1
        status = driver.run_until_done(run_id, 10)
    assert sleeps == [3.0]
    assert status.counts["promoted"] == 1


def test_slow_steps_flush_the_group_early(store: WorkflowStore) -> None:
    """A group is committed once preparing took group_seconds, bounding a crash's redo."""
    seen_committed: list[bool] = []
    with freeze_time(T0) as frozen:
        run_id = store.create_run("test", "fp", {}, keys(3))
        ids = [i.id for i in store.items(run_id)]

        def slow(item: WorkItem) -> None:
            if item.state == "pending" and item.id != ids[0]:
                previous = store.get_item(ids[ids.index(item.id) - 1])
                seen_committed.append(previous is not None and previous.state == "imported")
            frozen.tick(2)

        driver = Driver(store.engine, make_steps(on_step=slow), group_seconds=1.0)
        driver.advance(run_id, 3)
    assert seen_committed == [True, True]


def test_on_claim_sees_each_claim_before_its_steps_run(store: WorkflowStore) -> None:
    run_id = store.create_run("test", "fp", {}, keys(5))
    seen: list[str] = []

    def on_claim(items: Sequence[WorkItem]) -> None:
        seen.append("claim:" + ",".join(i.source_key for i in items))

    def on_step(item: WorkItem) -> None:
        if item.state == "pending":
            seen.append(f"step:{item.source_key}")

    driver = Driver(store.engine, make_steps(on_step=on_step), on_claim=on_claim)
    driver.run_until_done(run_id, batch_size=3)
    assert seen == [
        "claim:k000000,k000001,k000002", "step:k000000", "step:k000001", "step:k000002",
        "claim:k000003,k000004", "step:k000003", "step:k000004",
    ]  # fmt: skip


def test_a_driver_waiting_on_another_ones_lease_looks_again_soon_then_less_often(
    store: WorkflowStore,
) -> None:
    run_id = store.create_run("test", "fp", {}, keys(1))
    assert len(store.claim(run_id, OTHER, 1, 600)) == 1  # a live driver holds it for 10 min
    delays: list[float] = []

    def sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 5:
            store.release(OTHER)  # the other driver lets go

    status = Driver(store.engine, make_steps(), sleep=sleep).run_until_done(run_id, 5)
    assert delays == [MIN_WAIT_SECONDS, 0.04, 0.08, POLL_OTHERS_SECONDS, POLL_OTHERS_SECONDS]
    assert status.finished and status.counts["promoted"] == 1


def test_a_driver_that_gets_work_again_looks_soon_at_the_next_wait(store: WorkflowStore) -> None:
    run_id = store.create_run("test", "fp", {}, keys(2))
    first = store.items(run_id)[0]
    assert len(store.claim(run_id, OTHER, 2, 600)) == 2
    delays: list[float] = []

    def sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 3:
            store.release(OTHER, [first.id])  # one item comes back: work, then wait again
        if len(delays) == 4:
            store.release(OTHER)

    status = Driver(store.engine, make_steps(), sleep=sleep).run_until_done(run_id, 5)
    assert delays == [MIN_WAIT_SECONDS, 0.04, 0.08, MIN_WAIT_SECONDS]
    assert status.finished and status.counts["promoted"] == 2


def test_dead_owners_are_looked_for_first_then_once_per_reclaim_interval(
    store: WorkflowStore,
) -> None:
    run_id = store.create_run("test", "fp", {}, keys(4))
    dead = f"{socket.gethostname()}:{dead_pid()}:gone"
    driver = Driver(store.engine, make_steps())

    def dead_leases() -> int:
        return sum(1 for item in store.items(run_id) if _owner(store, item.id) == dead)

    with freeze_time(T0) as frozen:
        store.claim(run_id, dead, 2, 3600)
        driver.advance(run_id, 10)  # the first batch takes the dead process's leases back
        assert dead_leases() == 0
        store.claim(run_id, dead, 10, 3600)  # another dead worker takes what is left
        held = dead_leases()
        assert held > 0
        assert driver.advance(run_id, 10) == []  # within the interval: not looked for
        assert dead_leases() == held
        frozen.tick(RECLAIM_SECONDS)
        assert driver.advance(run_id, 10) != []
        assert dead_leases() == 0


def _owner(store: WorkflowStore, item_id: int) -> str | None:
    with store.engine.connect() as conn:
        query = text("SELECT lease_owner FROM migration_items WHERE id = :i")
        return conn.execute(query, {"i": item_id}).scalar()


def test_an_overdue_batch_gives_back_half_of_what_it_has_not_started(
    store: WorkflowStore,
) -> None:
    run_id = store.create_run("test", "fp", {}, keys(7))
    ids = [i.id for i in store.items(run_id)]
    with freeze_time(T0) as frozen:
        released: list[tuple[int, str | None]] = []

        def slow(item: WorkItem) -> None:
            if item.id == ids[3] and item.state == "pending":  # the last two are free by now
                released.extend((i, _owner(store, i)) for i in ids[5:])
            frozen.tick(GIVE_BACK_SECONDS / 2)

        driver = Driver(store.engine, make_steps(on_step=slow))
        reports = driver.advance(run_id, 7, give_back=True)
        # Two items prepared (2 s each), then the batch is overdue with five not started:
        # it keeps three and releases the other two at once.
        assert released == [(ids[5], None), (ids[6], None)]
        assert [(r.item_id, r.to_state) for r in reports] == [(i, "promoted") for i in ids[:5]]
        left = [(i.id, i.state, _owner(store, i.id)) for i in store.items(run_id)][5:]
        assert left == [(i, "pending", None) for i in ids[5:]]
        other = Driver(store.engine, make_steps()).advance(run_id, 7, give_back=True)
        assert [r.item_id for r in other] == ids[5:]
        alone = driver.advance(run_id, 5)  # nothing left
        assert alone == []


def test_an_overdue_batch_still_moves_its_first_item(store: WorkflowStore) -> None:
    run_id = store.create_run("test", "fp", {}, keys(3))
    with freeze_time(T0) as frozen:

        def slow_claim(items: Sequence[WorkItem]) -> None:
            frozen.tick(GIVE_BACK_SECONDS * 3)  # overdue before any step ran

        driver = Driver(store.engine, make_steps(), on_claim=slow_claim)
        reports = driver.advance(run_id, 3, give_back=True)
        # a single batch (not a loop) keeps everything it claimed, however long it takes
        whole = driver.advance(store.create_run("test", "fp2", {}, keys(3)), 3)
    # the first item is prepared, then half of the other two goes back
    assert [r.to_state for r in reports] == ["promoted", "promoted"]
    assert [r.to_state for r in whole] == ["promoted"] * 3
