"""One run per source, guaranteed by the database: "find or create the run" from many
processes and threads at once ends with one run (issue 15, item 1)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, func, select, text, update

from backend.database import schema
from backend.database.migration.images import TIERS, tier_file_name
from backend.database.session import make_engine
from backend.sample.legacy_factory import make_sample_library
from tests.helpers.crash_cli import cli, finish, snapshot_diff, url_for
from tests.helpers.library_snapshot import snapshot_library
from tests.helpers.service import make_service
from tests.helpers.stage_libraries import run_stage1
from workflows.fence import ITEMS, RUNS
from workflows.store import WorkflowStore

CALLERS = 10


def together(count: int, call: Callable[[int], tuple[int, bool]]) -> list[tuple[int, bool]]:
    """``call(i)`` from ``count`` threads released at the same moment; their results."""
    barrier = threading.Barrier(count)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        barrier.wait()
        try:
            result = call(index)
        except BaseException as exc:  # re-raised below by the main thread
            with lock:
                errors.append(exc)
            return
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


def run_count(engine: Engine, kind: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(RUNS.c.kind == kind)).scalar_one())


def stores(url: str, count: int) -> list[WorkflowStore]:
    """One store per caller, each on its own engine (as separate processes would be)."""
    return [WorkflowStore(make_engine(url)) for _ in range(count)]


def test_concurrent_create_or_find_makes_one_run_with_its_items(engine: Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    callers = stores(url, CALLERS)
    items = [(str(i), None) for i in range(50)]
    try:
        results = together(
            CALLERS,
            lambda i: callers[i].create_or_find_run("legacy", "fp-1", {"n": i}, items),
        )
    finally:
        for store in callers:
            store.engine.dispose()
    assert len({run_id for run_id, _ in results}) == 1
    assert sorted(created for _, created in results) == [False] * (CALLERS - 1) + [True]
    assert run_count(engine, "legacy") == 1
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ITEMS)).scalar_one() == 50


def test_a_legacy_source_has_one_run_ever(engine: Engine) -> None:
    store = WorkflowStore(engine)
    first, created = store.create_or_find_run("legacy", "fp", {}, [("1", None)])
    with engine.begin() as conn:  # every item ended
        conn.execute(update(ITEMS).values(status="promoted"))
    again, created_again = store.create_or_find_run("legacy", "fp", {}, [("1", None)])
    assert (created, again, created_again) == (True, first, False)
    other, created_other = store.create_or_find_run("legacy", "fp-2", {}, [("1", None)])
    assert created_other and other != first


def test_concurrent_joins_share_the_open_promotion_run(engine: Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    callers = stores(url, CALLERS)
    try:
        results = together(
            CALLERS,
            lambda i: callers[i].join_open_run(
                "promotion", "pending:none", {}, [(str(k), None) for k in range(i, i + 5)]
            ),
        )
    finally:
        for store in callers:
            store.engine.dispose()
    assert len({run_id for run_id, _ in results}) == 1
    assert run_count(engine, "promotion") == 1
    with engine.connect() as conn:
        keys = list(conn.execute(select(ITEMS.c.source_key)).scalars())
    assert sorted(keys, key=int) == [str(k) for k in range(CALLERS + 4)]


def test_a_new_promotion_run_opens_once_the_previous_one_ended(engine: Engine) -> None:
    store = WorkflowStore(engine)
    first, _ = store.join_open_run("promotion", "pending:none", {}, [("1", None)])
    second, joined_created = store.join_open_run("promotion", "pending:none", {}, [("2", None)])
    with engine.begin() as conn:
        conn.execute(update(ITEMS).values(status="conflicted"))  # waiting: still open
    third, _ = store.join_open_run("promotion", "pending:none", {}, [("3", None)])
    with engine.begin() as conn:
        conn.execute(update(ITEMS).values(status="promoted"))  # all ended: closed
    fourth, created = store.join_open_run("promotion", "pending:none", {}, [("1", None)])
    other, other_created = store.join_open_run("promotion", "pending:merge", {}, [("1", None)])
    assert (second, third, joined_created) == (first, first, False)
    assert created and fourth != first
    assert other_created and other not in (first, fourth)


def test_two_legacy_commands_started_together_make_one_run(tmp_path: Path) -> None:
    lib = make_sample_library(
        tmp_path / "legacy", models=60, images_per_model=2, image_size=(48, 72), vary_images=True
    )
    clean = tmp_path / "clean"
    run_stage1(lib, clean, url_for(clean))
    data = tmp_path / "data"
    # an existing library: its schema is made before the two commands start
    make_service(data, url_for(data)).close()

    procs = [cli(["legacy", str(lib.db_path), str(lib.images_dir)], data) for _ in range(2)]
    exits = [finish(proc) for proc in procs]

    engine = make_engine(url_for(data))
    try:
        runs = run_count(engine, "legacy")
    finally:
        engine.dispose()
    raced = snapshot_library(data, url_for(data))
    baseline = snapshot_library(clean, url_for(clean))
    assert exits[0] == exits[1]
    assert runs == 1
    assert raced == baseline, snapshot_diff(raced, baseline)
    tiers = {name for name, _ in raced.files if not name.startswith("pending/")}
    for sha256, *_rest, meta in raced.models:
        count = meta["images_count"]
        expected = {tier_file_name(sha256, s, t) for s in range(count) for t, _f, _q in TIERS}
        assert {n for n in tiers if n.startswith(f"{sha256}_")} == expected


def test_upgrade_keeps_duplicated_runs_and_gives_the_key_to_the_newest(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        schema.upgrade(engine, "0003_event_run")
        with engine.begin() as conn:  # what the old race left behind: two runs per source
            for kind, fingerprint in [("legacy", "fp")] * 2 + [("promotion", "pending:none")] * 2:
                conn.execute(
                    text(
                        "INSERT INTO migration_runs (kind, source_fingerprint, options, "
                        "created_at, updated_at) VALUES (:k, :f, '{}', 0, 0)"
                    ),
                    {"k": kind, "f": fingerprint},
                )
            conn.execute(
                text(
                    "INSERT INTO migration_items (run_id, kind, source_key, status, attempts, "
                    "max_attempts, crashes, next_attempt_at, warnings, artifacts, version, "
                    "updated_at) VALUES (3, 'promotion', '1', 'conflicted', 0, 5, 0, 0, '[]', "
                    "'{}', 0, 0)"
                )
            )
        schema.upgrade(engine)
        with engine.connect() as conn:
            holders = conn.execute(select(RUNS.c.id, RUNS.c.open_key).order_by(RUNS.c.id)).all()
        store = WorkflowStore(engine)
        legacy, _ = store.create_or_find_run("legacy", "fp", {}, [])
        promotion, _ = store.join_open_run("promotion", "pending:none", {}, [("2", None)])
    finally:
        engine.dispose()
    assert [tuple(h) for h in holders] == [
        (1, None),
        (2, "fp"),
        (3, "pending:none"),
        (4, None),
    ]
    assert (legacy, promotion) == (2, 3)
