"""Ten parallel ``POST /api/migration/runs`` for one source start one run (issue 15, item 1)."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask

from backend.sample.legacy_factory import LegacyLibrary
from tests.api.test_runs import RUNS, drive, start_legacy
from tests.api.test_v2_endpoints import paths

CALLERS = 10


def post_together(app: Flask, body: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """POST ``body`` to the runs endpoint from CALLERS threads released at once."""
    barrier = threading.Barrier(CALLERS)
    answers: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()

    def call() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post(RUNS, json=body)
        with lock:
            answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=call) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_parallel_legacy_starts_make_one_run(app: Flask, legacy: LegacyLibrary) -> None:
    answers = post_together(app, {"kind": "legacy", **paths(legacy)})

    assert [status for status, _ in answers] == [201] * CALLERS
    assert len({body["id"] for _, body in answers}) == 1
    assert sorted(body["resumed"] for _, body in answers) == [False] + [True] * (CALLERS - 1)
    runs = app.test_client().get(RUNS).get_json()["runs"]
    assert [r["kind"] for r in runs] == ["legacy"]


def test_parallel_promotion_starts_make_one_run(app: Flask, legacy: LegacyLibrary) -> None:
    client = app.test_client()
    drive(client, start_legacy(client, legacy)["id"])
    pending = client.get("/api/migration/pending_models").get_json()["models"]
    assert pending

    answers = post_together(app, {"kind": "promotion"})

    assert [status for status, _ in answers] == [201] * CALLERS
    assert len({body["id"] for _, body in answers}) == 1
    runs = client.get(RUNS).get_json()["runs"]
    assert sorted(r["kind"] for r in runs) == ["legacy", "promotion"]
    promotion = next(r for r in runs if r["kind"] == "promotion")
    assert promotion["total"] == len(pending)
