"""One service shared by several request threads (as under `model-migrate serve`)."""

from __future__ import annotations

import threading
from pathlib import Path

from backend.sample.legacy_factory import make_legacy_library
from tests.helpers.service import make_service


def test_two_threads_advancing_one_run_never_fail_or_double_process(tmp_path: Path) -> None:
    library = make_legacy_library(tmp_path / "legacy")
    service = make_service(tmp_path / "data")
    try:
        run = service.start_legacy_run(library.db_path, library.images_dir)
        errors: list[BaseException] = []

        def drive() -> None:
            try:
                for _ in range(200):
                    result = service.advance(run.id, 3)
                    if result.status.finished:
                        return
            except BaseException as exc:  # collected and re-raised by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=drive) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        status = service.run_status(run.id)
        assert status.finished
        assert status.counts["failed"] == 0
        assert status.counts["promoted"] + status.counts["staged"] + status.counts[
            "conflicted"
        ] == len(library.rows)
        page = service.list_items(run.id, limit=1000)
        for item in page.items:
            triggers = [e.trigger for e in service.item_detail(item.id).events]
            assert len(triggers) == len(set(triggers)), (item.id, triggers)
    finally:
        service.close()
