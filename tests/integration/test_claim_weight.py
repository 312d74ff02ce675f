"""Claims sized by expected work: a weighted claim stops at its budget, except for one item
that alone exceeds it, so heavy items are shared between workers."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from sqlalchemy import Engine, Integer, cast

from backend.database.migration.claims import claim_weight
from backend.database.migration.library import LibraryRepository
from tests.helpers.service import make_service
from workflows.claiming import ClaimWeight
from workflows.fence import ITEMS
from workflows.store import WorkflowStore

HOST = socket.gethostname()
OWNERS = [f"{HOST}:{os.getpid()}:w{n}" for n in range(8)]


def test_weighted_claims_stay_within_the_budget_unless_one_item_exceeds_it(
    engine: Engine,
) -> None:
    store = WorkflowStore(engine)
    weights = [100, 101, 102, 500, 50, 0, 200]
    run_id = store.create_run("test", "fp", {}, [(str(w), None) for w in weights])
    by_weight = ClaimWeight(weight=cast(ITEMS.c.source_key, Integer), budget=250)
    claims = []
    for owner in OWNERS:
        claimed = store.claim(run_id, owner, 10, 60, by_weight)
        if not claimed:
            break
        claims.append([int(i.source_key) for i in claimed])
    assert claims == [[100, 101], [102], [500], [50, 0, 200]]
    for claim in claims:
        assert sum(claim) <= 250 or len(claim) == 1
    assert store.claim(run_id, OWNERS[-1], 10, 60, by_weight) == []


def test_the_count_limit_still_holds_under_a_weight(engine: Engine) -> None:
    store = WorkflowStore(engine)
    run_id = store.create_run("test", "fp", {}, [(str(n), None) for n in range(5)])
    light = ClaimWeight(weight=cast(ITEMS.c.source_key, Integer) * 0, budget=1)
    assert len(store.claim(run_id, OWNERS[0], 3, 60, light)) == 3


def _files(folder: Path, count: int, size: int) -> None:
    folder.mkdir(parents=True)
    for n in range(count):
        (folder / f"m{n}.safetensors").write_bytes(bytes([n]) * size)


def test_a_promotion_claim_takes_files_up_to_the_byte_budget(tmp_path: Path, db_url: str) -> None:
    _files(tmp_path / "models" / "loras", 4, 64 * 1024)
    service = make_service(tmp_path / "data", db_url)
    service.store.create_run("legacy", "other", {}, [("invalid-id:x", None)])  # no number
    try:
        service.scan([tmp_path / "models"])
        run = service.start_promotion_run(None)
        store = service.store
        two_files = claim_weight(budget=2 * 64 * 1024)
        first = store.claim(None, OWNERS[0], 100, 60, two_files)  # any run
        second = store.claim(run.id, OWNERS[1], 100, 60, claim_weight(budget=1))
        rest = store.claim(run.id, OWNERS[2], 100, 60, two_files)
    finally:
        service.close()
    assert [len(first), len(second), len(rest)] == [3, 1, 1]  # every worker gets files
    assert first[0].source_key == "invalid-id:x"  # a legacy item weighs nothing
    keys = [i.source_key for i in first[1:] + second + rest]
    assert len(set(keys)) == 4


def test_a_pending_model_with_a_known_hash_weighs_nothing(tmp_path: Path) -> None:
    _files(tmp_path / "models" / "loras", 3, 64 * 1024)
    service = make_service(tmp_path / "data")
    try:
        service.scan([tmp_path / "models"])
        first, second, _third = (p.id for p in service.pending_models())
        with service.wiring.write_sessions() as session, session.begin():
            repo = LibraryRepository(session)
            repo.set_pending_sha256(first, "a" * 64)  # hashed by the v2 app, say
            repo.set_pending_sha256(second, "b" * 64)
        run = service.start_promotion_run(None)
        claimed = service.store.claim(run.id, OWNERS[0], 100, 60, claim_weight(budget=1))
    finally:
        service.close()
    assert [int(i.source_key) for i in claimed] == [first, second]
