"""WorkflowStore on a real database: runs, claims, leases, fenced transitions, person actions."""

from __future__ import annotations

import os
import socket
import time

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from tests.helpers.workflow import dead_pid, keys
from workflows.errors import InvalidTransition, NotFound
from workflows.machine import fire
from workflows.store import WorkflowStore
from workflows.tables import MigrationItem, MigrationRun, writer

T0 = "2030-01-01 00:00:00"
HOST = socket.gethostname()
OWNER_A = f"{HOST}:{os.getpid()}:aaaa"
OWNER_B = f"{HOST}:{os.getpid()}:bbbb"


@pytest.fixture
def store(engine: Engine) -> WorkflowStore:
    return WorkflowStore(engine)


def _advance(store: WorkflowStore, item_id: int, owner: str, trigger: str, **kw: object) -> bool:
    item = store.get_item(item_id)
    assert item is not None
    from_state, to_state = fire(item, trigger, **kw)
    with Session(writer(store.engine)) as session, session.begin():
        return store.commit_transition(session, item, owner, trigger, from_state, to_state)


def _row(engine: Engine, item_id: int) -> MigrationItem:
    with Session(engine) as session:
        row = session.get(MigrationItem, item_id)
        assert row is not None
        return row


def test_create_run_bulk_inserts_pending_items(store: WorkflowStore) -> None:
    run_id = store.create_run("legacy", "fp1", {"on_conflict": "ask"}, keys(10_000))
    status = store.status(run_id)
    assert status.total == 10_000
    assert status.counts["pending"] == 10_000
    assert set(status.counts) == {
        "pending", "imported", "images_processed", "tags_synced", "promoted", "staged",
        "conflicted", "failed", "ignored", "deleted",
    }  # fmt: skip
    assert store.run(run_id).options == {"on_conflict": "ask"}
    first = store.items(run_id, limit=1)[0]
    assert (first.source_key, first.state, first.version, first.max_attempts) == (
        "k000000", "pending", 0, 5,
    )  # fmt: skip


def test_add_items_skips_existing_source_keys(store: WorkflowStore) -> None:
    run_id = store.create_run("legacy", "fp", {}, keys(3))
    assert store.add_items(run_id, [("k000001", None), ("new", "ab" * 32)]) == 1
    added = store.item_by_source(run_id, "new")
    assert added is not None and added.sha256 == "ab" * 32
    assert store.status(run_id).total == 4
    with pytest.raises(NotFound):
        store.add_items(999, [("x", None)])


def test_find_run_prefers_newest_unfinished(store: WorkflowStore) -> None:
    old = store.create_run("legacy", "fp", {}, keys(1))
    new = store.create_run("legacy", "fp", {}, keys(1))
    store.create_run("promotion", "fp", {}, keys(1))
    assert store.find_run("legacy", "fp") == new
    assert store.find_run("legacy", "other") is None
    # finish `new` (stage its only item) → the unfinished lookup falls back to `old`
    item = store.claim(new, OWNER_A, 10, 60)[0]
    assert _advance(store, item.id, OWNER_A, "stage")
    assert store.find_run("legacy", "fp") == old
    assert store.find_run("legacy", "fp", unfinished_only=False) == new


def test_claim_takes_lowest_ids_once(store: WorkflowStore) -> None:
    run_id = store.create_run("legacy", "fp", {}, keys(5))
    other = store.create_run("legacy", "fp2", {}, keys(5))
    a = store.claim(run_id, OWNER_A, 3, 60)
    b = store.claim(run_id, OWNER_B, 10, 60)
    assert [i.source_key for i in a] == ["k000000", "k000001", "k000002"]
    assert [i.source_key for i in b] == ["k000003", "k000004"]
    assert store.claim(run_id, OWNER_B, 10, 60) == []
    assert all(i.version == 1 and i.crashes == 0 for i in a + b)
    assert {i.run_id for i in store.claim(None, OWNER_B, 10, 60)} == {other}


def test_lease_expiry_takeover_counts_a_crash(store: WorkflowStore) -> None:
    with freeze_time(T0) as frozen:
        run_id = store.create_run("legacy", "fp", {}, keys(1))
        [held] = store.claim(run_id, OWNER_A, 1, lease_seconds=30)
        frozen.tick(29)
        assert store.claim(run_id, OWNER_B, 1, 30) == []
        frozen.tick(2)
        [taken] = store.claim(run_id, OWNER_B, 1, 30)
    assert taken.id == held.id
    assert (taken.crashes, taken.version) == (1, held.version + 1)
    assert _row(store.engine, held.id).lease_owner == OWNER_B
    # the zombie's fenced commit is refused
    assert not _advance(store, held.id, OWNER_A, "import_model")
    assert store.get_item(held.id).state == "pending"  # type: ignore[union-attr]
    assert store.events(held.id) == []


def test_heartbeat_keeps_lease_fresh_and_staleness_loses_it(store: WorkflowStore) -> None:
    with freeze_time(T0) as frozen:
        run_id = store.create_run("legacy", "fp", {}, keys(2))
        store.claim(run_id, OWNER_A, 2, lease_seconds=10)
        for _ in range(5):
            frozen.tick(8)
            assert store.heartbeat(OWNER_A, 10) == 2
        assert store.claim(run_id, OWNER_B, 2, 10) == []
        frozen.tick(11)  # no heartbeat for longer than the lease: stale
        assert len(store.claim(run_id, OWNER_B, 2, 10)) == 2
        assert store.heartbeat(OWNER_A, 10) == 0
        assert store.heartbeat(OWNER_B, 10) == 2


def test_claim_skips_items_in_backoff(store: WorkflowStore) -> None:
    with freeze_time(T0) as frozen:
        run_id = store.create_run("legacy", "fp", {}, keys(1))
        [item] = store.claim(run_id, OWNER_A, 1, 60)
        item.attempts = 1
        assert store.record_backoff(item, OWNER_A, "disk busy", time.time() + 5)
        assert store.claim(run_id, OWNER_B, 1, 60) == []
        assert store.wakeup(run_id, OWNER_B).at == pytest.approx(time.time() + 5)
        frozen.tick(5)
        [again] = store.claim(run_id, OWNER_B, 1, 60)
    assert (again.attempts, again.crashes, again.last_error_code) == (1, 0, "transient")
    [event] = store.events(item.id)
    assert (event.trigger, event.from_state, event.to_state) == ("backoff", "pending", "pending")


def test_release_frees_only_the_owners_leases(store: WorkflowStore) -> None:
    run_id = store.create_run("legacy", "fp", {}, keys(4))
    store.claim(run_id, OWNER_A, 2, 60)
    store.claim(run_id, OWNER_B, 2, 60)
    assert store.release(OWNER_A) == 2
    again = store.claim(run_id, OWNER_B, 10, 60)
    assert [i.source_key for i in again] == ["k000000", "k000001"]
    assert all(i.crashes == 0 for i in again)


def test_reclaim_dead_releases_dead_pids_only(store: WorkflowStore) -> None:
    run_id = store.create_run("legacy", "fp", {}, keys(4))
    dead = f"{HOST}:{dead_pid()}:dead"
    elsewhere = f"some-other-host:{dead_pid()}:far"
    store.claim(run_id, dead, 2, 600)
    store.claim(run_id, OWNER_A, 1, 600)
    store.claim(run_id, elsewhere, 1, 600)
    assert store.reclaim_dead() == 2
    rows = [_row(store.engine, i.id) for i in store.items(run_id)]
    assert [(r.lease_owner, r.crashes) for r in rows] == [
        (None, 1), (None, 1), (OWNER_A, 0), (elsewhere, 0),
    ]  # fmt: skip
    assert store.reclaim_dead(owner_host="some-other-host") == 1
    assert store.reclaim_dead() == 0


def test_crash_loop_after_max_attempts_recovered_leases(store: WorkflowStore) -> None:
    run_id = store.create_run("legacy", "fp", {}, keys(1), max_attempts=3)
    item_id = store.items(run_id)[0].id
    for crash in range(1, 3):
        owner = f"{HOST}:{dead_pid()}:c{crash}"
        assert len(store.claim(run_id, owner, 1, 600)) == 1
        assert store.reclaim_dead() == 1
        assert store.get_item(item_id).state == "pending"  # type: ignore[union-attr]
    store.claim(run_id, f"{HOST}:{dead_pid()}:last", 1, 600)
    assert store.reclaim_dead() == 1
    failed = store.get_item(item_id)
    assert failed is not None
    assert (failed.state, failed.last_error_code, failed.crashes) == ("failed", "crash_loop", 3)
    assert failed.failed_from_state == "pending"
    [event] = store.events(item_id)
    assert (event.trigger, event.error_code) == ("fail", "crash_loop")
    assert store.claim(run_id, OWNER_A, 1, 60) == []


def test_crash_loop_on_expired_lease_takeover(store: WorkflowStore) -> None:
    with freeze_time(T0) as frozen:
        run_id = store.create_run("legacy", "fp", {}, keys(1), max_attempts=2)
        store.claim(run_id, OWNER_A, 1, 10)
        frozen.tick(11)
        assert len(store.claim(run_id, OWNER_B, 1, 10)) == 1  # crash 1
        frozen.tick(11)
        assert store.claim(run_id, OWNER_A, 1, 10) == []  # crash 2 → crash_loop
    [item] = store.items(run_id)
    assert (item.state, item.last_error_code) == ("failed", "crash_loop")
    assert _row(store.engine, item.id).lease_owner is None


def test_commit_transition_is_fenced_and_events_are_gap_free(store: WorkflowStore) -> None:
    run_id = store.create_run("legacy", "fp", {}, keys(1))
    [item] = store.claim(run_id, OWNER_A, 1, 60)
    item.sha256 = "cd" * 32
    item.artifacts = {"images": [1, 2]}
    item.warnings = [{"code": "w1"}]
    with Session(writer(store.engine)) as session, session.begin():
        f, t = fire(item, "import_model")
        assert store.commit_transition(session, item, OWNER_A, "import_model", f, t)
        f, t = fire(item, "process_images")
        assert store.commit_transition(session, item, OWNER_A, "process_images", f, t)
    stale = store.get_item(item.id)
    assert stale is not None
    stale.version -= 1
    fire(stale, "sync_tags")
    with Session(writer(store.engine)) as session, session.begin():
        assert not store.commit_transition(
            session, stale, OWNER_A, "sync_tags", "images_processed", "tags_synced"
        )
        assert not store.commit_transition(
            session, item, OWNER_B, "sync_tags", "images_processed", "tags_synced"
        )
    assert _advance(store, item.id, OWNER_A, "sync_tags")
    stored = store.get_item(item.id)
    assert stored is not None
    assert (stored.state, stored.sha256, stored.version) == ("tags_synced", "cd" * 32, 4)
    assert stored.artifacts == {"images": [1, 2]} and stored.warnings == [{"code": "w1"}]
    events = store.events(item.id)
    assert [e.seq for e in events] == [1, 2, 3]
    assert [(e.from_state, e.to_state) for e in events] == [
        ("pending", "imported"), ("imported", "images_processed"),
        ("images_processed", "tags_synced"),
    ]  # fmt: skip


def test_retry_item_returns_to_failed_from_state(store: WorkflowStore) -> None:
    run_id = store.create_run("legacy", "fp", {}, keys(2))
    claimed = store.claim(run_id, OWNER_A, 2, 60)
    assert _advance(store, claimed[0].id, OWNER_A, "import_model")
    assert _advance(store, claimed[0].id, OWNER_A, "fail")
    with pytest.raises(InvalidTransition, match="cannot retry from pending"):
        store.retry_item(claimed[1].id)
    with pytest.raises(KeyError):
        store.retry_item(10_000)
    store.release(OWNER_A)
    retried = store.retry_item(claimed[0].id)
    assert (retried.state, retried.failed_from_state, retried.attempts) == ("imported", None, 0)
    assert [e.trigger for e in store.events(claimed[0].id)] == ["import_model", "fail", "retry"]
    assert [e.seq for e in store.events(claimed[0].id)] == [1, 2, 3]


def test_retry_run_retries_every_failed_item(store: WorkflowStore) -> None:
    run_id = store.create_run("legacy", "fp", {}, keys(3))
    claimed = store.claim(run_id, OWNER_A, 3, 60)
    for item in claimed[:2]:
        assert _advance(store, item.id, OWNER_A, "fail")
    assert store.status(run_id).counts["failed"] == 2
    assert store.retry_run(run_id) == [claimed[0].id, claimed[1].id]
    assert store.status(run_id).counts == {**store.status(run_id).counts, "pending": 3}
    assert store.retry_run(run_id) == []


def test_resolve_item_stores_strategy(store: WorkflowStore) -> None:
    run_id = store.create_run("promotion", "fp", {}, keys(3))
    claimed = store.claim(run_id, OWNER_A, 3, 60)
    for item in claimed:
        assert _advance(store, item.id, OWNER_A, "conflict")
    store.release(OWNER_A)
    merged = store.resolve_item(claimed[0].id, "merge")
    assert (merged.state, merged.strategy) == ("pending", "merge")
    assert store.resolve_item(claimed[1].id, "delete").state == "deleted"
    with pytest.raises(InvalidTransition, match="unknown strategy"):
        store.resolve_item(claimed[2].id, "shrug")
    with pytest.raises(InvalidTransition, match="cannot resolve from pending"):
        store.resolve_item(claimed[0].id, "ignore")
    assert store.get_item(claimed[2].id).strategy is None  # type: ignore[union-attr]
    [*_, last] = store.events(claimed[0].id)
    assert (last.trigger, last.detail) == ("resolve", {"strategy": "merge"})


def test_items_pagination_and_lookups(store: WorkflowStore) -> None:
    run_id = store.create_run("legacy", "fp", {}, keys(7))
    pages, after = [], None
    while page := store.items(run_id, limit=3, after=after):
        pages.append([i.source_key for i in page])
        after = page[-1].id
    assert [len(p) for p in pages] == [3, 3, 1]
    assert store.items(run_id, state="promoted") == []
    assert store.get_item(10_000) is None
    assert store.item_by_source(run_id, "nope") is None
    assert [r.id for r in store.runs()] == [run_id]
    with pytest.raises(NotFound):
        store.run(run_id + 1)


def test_status_rate_eta_and_finished(store: WorkflowStore) -> None:
    with freeze_time(T0) as frozen:
        run_id = store.create_run("legacy", "fp", {}, keys(4))
        frozen.tick(120)
        claimed = store.claim(run_id, OWNER_A, 4, 600)
        for item in claimed[:3]:
            assert _advance(store, item.id, OWNER_A, "stage")
            frozen.tick(10)
        status = store.status(run_id)
        assert (status.done, status.remaining, status.waiting) == (3, 1, 0)
        assert status.rate == pytest.approx(3 / 60)
        assert status.eta_seconds == pytest.approx(20.0)
        assert status.resumable and not status.finished
        frozen.tick(60)
        assert store.status(run_id).eta_seconds is None
        assert _advance(store, claimed[3].id, OWNER_A, "fail")
        status = store.status(run_id)
    assert (status.finished, status.resumable, status.waiting) == (True, False, 1)
    with Session(store.engine) as session:
        finished_at = session.scalar(select(MigrationRun.finished_at))
    assert finished_at is not None
    store.retry_run(run_id)
    assert store.run(run_id).finished_at is None


def test_failed_fence_lets_the_caller_roll_back_its_writes(store: WorkflowStore) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("CREATE TABLE side_effects (item_id INTEGER NOT NULL)"))
    with freeze_time(T0) as frozen:
        run_id = store.create_run("legacy", "fp", {}, keys(1))
        [zombie] = store.claim(run_id, OWNER_A, 1, 10)
        frozen.tick(11)
        store.claim(run_id, OWNER_B, 1, 10)
        with Session(writer(store.engine)) as session, session.begin():
            savepoint = session.begin_nested()
            session.execute(text("INSERT INTO side_effects VALUES (:i)"), {"i": zombie.id})
            f, t = fire(zombie, "import_model")
            assert not store.commit_transition(session, zombie, OWNER_A, "import_model", f, t)
            savepoint.rollback()
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM side_effects")).scalar_one() == 0
    assert store.get_item(zombie.id).state == "pending"  # type: ignore[union-attr]
    assert store.events(zombie.id) == []
