"""schemathesis against the live server (``model-migrate serve`` on 127.0.0.1).

Every operation of /api/openapi.json gets bounded, derandomized examples (positive and
negative); no response may be a 500 or break the document. The server runs with import roots,
so generated paths cannot make it walk the whole file system.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from backend.sample.legacy_factory import make_legacy_library
from tests.helpers.live_server import live_server, request_json

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 20
REJECTED_STATUSES = ["400", "401", "403", "404", "405", "409", "413", "415", "422"]
"""415: a POST whose generated body is missing is sent without Content-Type: application/json."""
WITHOUT_INPUT = {"GET /api/health", "GET /api/migration/pending_models", "GET /api/migration/runs"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A live server on a free loopback port, with a migrated sample library."""
    root = tmp_path_factory.mktemp("live")
    roots = root / "roots"
    library = make_legacy_library(
        roots / "legacy", cases=("valid", "garbage_hash", "duplicate_hash", "missing_image")
    )
    log = root / "server.log"
    with live_server(root / "data", log, roots=roots, cwd=root) as base:
        request_json(
            f"{base}/api/migration/migrate_legacy_db",
            {"legacy_db_path": str(library.db_path), "legacy_images_dir": str(library.images_dir)},
        )
        yield base
    assert "Traceback" not in log.read_text(), log.read_text()


def load_schema(base: str) -> schemathesis.BaseSchema:
    config = schemathesis.Config.from_dict(
        {
            "base-url": base,
            "checks": {
                # Schema-valid values can still be semantically wrong (a path that is no v1
                # database, a folder that does not exist): the API answers those with 422.
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "401", "403", "404", "409", "422"]
                },
                # A list over maxItems can also be a body over the 1 MiB cap: 413 rejects it too.
                "negative_data_rejection": {"expected-statuses": REJECTED_STATUSES},
            },
        }
    )
    return schemathesis.openapi.from_url(f"{base}/api/openapi.json", config=config)


def exercise(operation: Any, mode: GenerationMode, counts: Counter[str]) -> None:
    """Run MAX_EXAMPLES derandomized cases of one operation in one generation mode."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        counts[f"{operation.label} {mode.value}"] += 1
        response = case.call_and_validate()
        assert response.status_code < 500

    run()


def test_api_matches_its_document(server: str) -> None:
    # The pytest plugin's lazy loader (schemathesis.pytest.from_fixture) breaks on pytest 9
    # (it rewrites Function._nodeid), so the operations are driven from Python here.
    schema = load_schema(server)
    operations = [result.ok() for result in schema.get_all_operations()]
    counts: Counter[str] = Counter()
    failures: list[str] = []

    for operation in operations:
        negative = operation.label not in WITHOUT_INPUT  # nothing to make invalid there
        for mode in [GenerationMode.POSITIVE] + [GenerationMode.NEGATIVE] * negative:
            try:
                exercise(operation, mode, counts)
            except Exception as exc:  # collect every operation's failure, then report all
                failures.append(f"{operation.label} [{mode.value}]: {exc}")

    assert not failures, "\n\n".join(failures)
    # from_url leaves out the operation serving the document itself (GET /api/openapi.json).
    assert len(operations) == 18
    labels = {op.label for op in operations}
    assert {"GET /api/migration/items/{item_id}/conflict", "GET /api/migration/preflight"} <= labels
    assert {op.label for op in operations} >= WITHOUT_INPUT
    with_input = len(operations) - len(WITHOUT_INPUT)
    assert sum(counts.values()) >= 2 * with_input * MAX_EXAMPLES
    print(f"schemathesis: {len(operations)} operations, {sum(counts.values())} cases")
