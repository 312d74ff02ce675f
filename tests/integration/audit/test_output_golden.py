"""`model-migrate verify` prints exactly the stored output (human and ``--json``) for sample
libraries with every ugly case, migrated, decided and damaged: a rewrite of the audit for speed
must not change one byte of what it says.

What varies between runs is normalized first: the temporary folder, the audit's duration, the
times of ``resolve`` decisions and the padding of the human tables. To accept a deliberate change
of the output, run this file with ``MODEL_MIGRATE_UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from backend.cli.verify import verify
from backend.database.migration.images import tier_file_name
from backend.sample.legacy_factory import LegacyLibrary, make_sample_library
from tests.helpers.service import items_by_legacy_id, make_service, migrate

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("MODEL_MIGRATE_UPDATE_GOLDEN") == "1"


def _sql(data: Path, *statements: str) -> None:
    engine = create_engine(f"sqlite:///{data / 'hikaze_model_manager.db'}")
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def _sha(lib: LegacyLibrary, case: str) -> str:
    return next(r for r in lib.rows if r.case == case).hash_hex.lower()


def _decided_and_damaged(root: Path) -> tuple[LegacyLibrary, Path]:
    """Image-less cases: the duplicate merged, one staged row promoted, then fields, tags, a
    model and a pending row damaged, an unused tag, a stray file and a model no legacy row
    explains added, and a legacy row deleted after the run."""
    lib = make_sample_library(root / "legacy", models=40, image_size=None, seed=5)
    data = root / "data"
    service = make_service(data)
    try:
        run_id = migrate(service, lib)
        items = items_by_legacy_id(service, run_id)
        copy = lib.by_case("duplicate_hash")[1]
        service.resolve(items[copy.legacy_id].id, "merge")  # type: ignore[attr-defined]
        service.run_until_done(run_id)
        pending = {p.path: p.id for p in service.pending_models()}
        promoted = lib.by_case("garbage_hash")[0]
        assert service.promote_batch([pending[promoted.path]]).success
    finally:
        service.close()
    valid, unicode = _sha(lib, "valid"), _sha(lib, "unicode_tags")
    _sql(
        data,
        "UPDATE models SET meta_json = json_set(meta_json, '$.description', 'edited')"
        f" WHERE sha256 = '{valid}'",
        f"DELETE FROM model_tags WHERE model_hash = '{unicode}'",
        f"DELETE FROM models WHERE sha256 = '{_sha(lib, 'unknown_keys')}'",
        "INSERT INTO tags (name) VALUES ('nobody-uses-me')",
        "UPDATE pending_import SET name = 'renamed'"
        " WHERE id = (SELECT MIN(id) FROM pending_import)",
        "INSERT INTO models (sha256, path, name, type, size_bytes, created_at, meta_json)"
        f" VALUES ('{'ab' * 32}', '/elsewhere/x.safetensors', 'x', 'loras', 1, 0,"
        """ '{"images_count": 1}')""",
    )
    with sqlite3.connect(lib.db_path) as legacy:
        legacy.execute("DELETE FROM models WHERE id = ?", (lib.rows[-1].legacy_id,))
    (data / "images" / "stray.txt").write_text("not a tier")
    return lib, data


def _images_with_decisions_pending(root: Path) -> tuple[LegacyLibrary, Path]:
    """Cases with real images, the duplicate left conflicted, tier files deleted and damaged."""
    lib = make_sample_library(
        root / "legacy",
        models=30,
        image_size=(32, 48),
        images_per_model=2,
        vary_images=True,
        seed=7,
    )
    data = root / "data"
    service = make_service(data)
    try:
        migrate(service, lib)
    finally:
        service.close()
    several = _sha(lib, "several_images")
    images = data / "images"
    (images / tier_file_name(several, 0, "low")).unlink()
    (images / tier_file_name(several, 1, "high")).write_bytes(b"garbage")
    (images / tier_file_name(_sha(lib, "valid"), 5, "low")).write_bytes(b"beyond the count")
    return lib, data


SCENARIOS: dict[str, tuple[Callable[[Path], tuple[LegacyLibrary, Path]], list[list[str]]]] = {
    "decided_and_damaged": (_decided_and_damaged, [[], ["--json"]]),
    "images_pending": (_images_with_decisions_pending, [[], ["--json"], ["--deep", "--json"]]),
}


def _normalize(output: str, root: Path) -> str:
    output = output.replace(str(root), "<ROOT>")
    output = re.sub(r'"seconds": ?[0-9.e-]+', '"seconds": 0', output)
    output = re.sub(r" in \d+\.\d\d s$", " in 0.00 s", output, flags=re.M)
    output = re.sub(r'"at": ?[0-9.e+]+', '"at": 0', output)
    output = re.sub(r'"at_iso": ?"[^"]*"', '"at_iso": ""', output)
    return "\n".join(line.rstrip() for line in output.splitlines()) + "\n"


@pytest.fixture
def root() -> Iterator[Path]:
    """A folder whose path has the same length on every run (the human tables cut long paths)."""
    path = Path(tempfile.mkdtemp(prefix="mm-golden-"))
    yield path
    shutil.rmtree(path)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_verify_output_is_the_stored_one(name: str, root: Path) -> None:
    build, variants = SCENARIOS[name]
    _lib, data = build(root)
    runner = CliRunner()
    env = {"MODEL_MIGRATE_DATA_DIR": str(data), "COLUMNS": "160", "NO_COLOR": "1"}
    parts: list[str] = []
    for args in variants:
        result = runner.invoke(verify, args, env=env)
        assert result.exit_code in (1, 3), result.output
        parts.append(f"$ verify {' '.join(args)}  (exit {result.exit_code})\n")
        parts.append(_normalize(result.output, root))
    got = "".join(parts)
    golden = GOLDEN / f"verify_{name}.txt"
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(got, encoding="utf-8")
    assert got == golden.read_text(encoding="utf-8")
