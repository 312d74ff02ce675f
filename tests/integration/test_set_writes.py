"""The set-based bulk writes (one statement per table over a JSON parameter on PostgreSQL,
``executemany`` on SQLite) store exactly what the rows say, on both databases."""

from __future__ import annotations

import os
import socket

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.database.migration.library import LibraryRepository
from backend.database.migration.records import ModelRecord
from workflows.errors import LeaseLost
from workflows.fence import EVENTS, ITEMS, Fired, lock_fences, write_fired
from workflows.machine import fire
from workflows.store import WorkflowStore
from workflows.tables import writer

OWNER = f"{socket.gethostname()}:{os.getpid()}:sets"
ODD = 'quote " backslash \\ tab\t newline\n ünïcödé 🎨 {"not": "json"}'


def _claimed(store: WorkflowStore, count: int) -> tuple[int, list]:  # type: ignore[type-arg]
    run_id = store.create_run("legacy", "fp", {}, [(str(n), None) for n in range(count)])
    return run_id, store.claim(run_id, OWNER, count, 60)


def test_write_fired_stores_every_row_and_event(engine: Engine) -> None:
    store = WorkflowStore(engine)
    run_id, items = _claimed(store, 3)
    entries = []
    for n, item in enumerate(items):
        item.artifacts = {"note": ODD, "nested": {"list": [1, 2.5, None, True]}, "n": n}
        item.warnings = [{"code": "odd", "message": ODD}]
        item.sha256 = None if n == 0 else f"{n:064x}"
        fired = []
        for trigger in ("import_model", "process_images")[: n + 1]:
            from_state, to_state = fire(item, trigger)
            fired.append(Fired(trigger, from_state, to_state, 0, {"why": ODD} if n else None))
        entries.append((item, fired))
    with Session(writer(engine)) as session, session.begin():
        conn = session.connection()
        write_fired(conn, OWNER, entries, lock_fences(conn, OWNER, items))

    stored = {i.id: i for i in store.items(run_id)}
    for item, fired in entries:
        row = stored[item.id]
        assert (row.state, row.sha256, row.artifacts, row.warnings) == (
            item.state,
            item.sha256,
            item.artifacts,
            item.warnings,
        )
        assert row.version == item.version
        events = store.events(item.id)
        assert [(e.seq, e.trigger, e.from_state, e.to_state, e.detail) for e in events] == [
            (seq, f.trigger, f.from_state, f.to_state, f.detail or {})
            for seq, f in enumerate(fired, start=1)
        ]
        with engine.connect() as conn:
            runs = conn.execute(select(EVENTS.c.run_id).where(EVENTS.c.item_id == item.id))
            assert set(runs.scalars()) == {run_id}


def test_write_fired_refuses_a_group_whose_fence_moved(engine: Engine) -> None:
    store = WorkflowStore(engine)
    _, items = _claimed(store, 2)
    entries = [(item, [Fired("import_model", *fire(item, "import_model"), 0)]) for item in items]
    with Session(writer(engine)) as session, session.begin():
        conn = session.connection()
        seqs = lock_fences(conn, OWNER, items)
        conn.execute(ITEMS.update().where(ITEMS.c.id == items[1].id).values(version=99))
        with pytest.raises(LeaseLost, match="1 fenced items changed"):
            write_fired(conn, OWNER, entries, seqs)


def _model(sha: str, path: str, name: str, tags: list[str]) -> ModelRecord:
    return ModelRecord(sha256=sha, path=path, name=name, type="lora", created_at=1, tags=tags)


def test_new_models_first_row_wins_and_tags_link_by_name(engine: Engine) -> None:
    first = _model("a" * 64, "/m/a.safetensors", ODD, ["Anime", ODD])
    same_hash = _model("a" * 64, "/m/other.safetensors", "second", ["x"])
    fresh = _model("c" * 64, "/m/c.safetensors", "fresh", ["anime"])
    with Session(writer(engine)) as session, session.begin():
        repo = LibraryRepository(session)
        inserted = repo.insert_models_if_new([first, same_hash, fresh])
        repo.add_tags_to_models((r.sha256, r.tags) for r in (first, fresh))
    assert inserted == {"a" * 64, "c" * 64}
    with Session(engine) as session:
        repo = LibraryRepository(session)
        stored = repo.get_model("a" * 64)
        assert stored is not None
        assert (stored.path, stored.name, stored.meta) == (first.path, ODD, first.meta)
        assert repo.model_tags("a" * 64) == sorted(["anime", ODD.strip().lower()])
        assert repo.model_tags("c" * 64) == ["anime"]


def test_links_of_new_models_skip_the_conflict_check_on_postgresql_only(engine: Engine) -> None:
    old = _model("d" * 64, "/m/d.safetensors", "old", ["kept"])
    new = _model("e" * 64, "/m/e.safetensors", "new", ["Kept", " style ", "style"])
    with Session(writer(engine)) as session, session.begin():
        repo = LibraryRepository(session)
        repo.insert_models_if_new([old])
        repo.add_tags_to_models([(old.sha256, old.tags)])
    with Session(writer(engine)) as session, session.begin():
        repo = LibraryRepository(session)
        assert repo.insert_models_if_new([new]) == {new.sha256}
        repo.add_tags_to_models([(new.sha256, new.tags)], new_models=True)
    with Session(engine) as session:
        assert LibraryRepository(session).model_tags(new.sha256) == ["kept", "style"]
    # A link that exists already: the plain insert is what PostgreSQL ran for new models.
    again = [(old.sha256, ["kept"])]
    with Session(writer(engine)) as session:
        repo = LibraryRepository(session)
        if engine.dialect.name == "postgresql":
            with pytest.raises(IntegrityError):
                repo.add_tags_to_models(again, new_models=True)
        else:
            repo.add_tags_to_models(again, new_models=True)
            session.commit()
    with Session(engine) as session:
        assert LibraryRepository(session).model_tags(old.sha256) == ["kept"]


def test_a_group_write_drops_the_lease_of_finished_items_only(engine: Engine) -> None:
    store = WorkflowStore(engine)
    _, (done, moving) = _claimed(store, 2)
    path = ("import_model", "process_images", "sync_tags", "promote")
    entries = [
        (done, [Fired(t, *fire(done, t), 0) for t in path]),
        (moving, [Fired("import_model", *fire(moving, "import_model"), 0)]),
    ]
    with Session(writer(engine)) as session, session.begin():
        conn = session.connection()
        write_fired(conn, OWNER, entries, lock_fences(conn, OWNER, [done, moving]))
    with engine.connect() as conn:
        rows = conn.execute(
            select(ITEMS.c.id, ITEMS.c.status, ITEMS.c.lease_owner, ITEMS.c.lease_expires_at)
        ).all()
    leases = {row.id: (row.status, row.lease_owner, row.lease_expires_at is None) for row in rows}
    assert leases == {
        done.id: ("promoted", None, True),
        moving.id: ("imported", OWNER, False),
    }
