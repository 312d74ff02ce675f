"""kill -9 mid `model-migrate promote --all`, and two promotions at once: each model once."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from backend.database.migration import drive as drive_module
from backend.database.migration.steps import publish as step_support
from tests.helpers.crash_cli import cli, finish, snapshot_diff, url_for
from tests.helpers.library_snapshot import (
    LibrarySnapshot,
    orphan_problems,
    snapshot_library,
    snapshot_tree,
)
from tests.helpers.service import make_service
from tests.helpers.stage_libraries import CopyLibrary, make_copy_library, run_stage1

pytestmark = pytest.mark.slow

BATCH = 3
PROMOTE = ["promote", "--all", "--strategy", "merge", "--workers", "1", "--json"]
MAX_RERUNS = 6


@dataclass
class Baseline:
    built: CopyLibrary
    legacy_tree: dict[str, str]
    stage1_dir: Path
    clean: LibrarySnapshot
    clean_code: int
    checkpoints: list[str]


def fresh_copy(stage1_dir: Path, target: Path) -> Path:
    shutil.copytree(stage1_dir, target)
    return target


def count_checkpoints(data_dir: Path) -> list[str]:
    names: list[str] = []
    mp = pytest.MonkeyPatch()
    mp.setattr(step_support, "checkpoint", names.append)
    mp.setattr(drive_module, "checkpoint", names.append)
    try:
        service = make_service(data_dir, batch_size=BATCH)
        try:
            service.promote_batch(None, "merge")
        finally:
            service.close()
    finally:
        mp.undo()
    return names


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Baseline]:
    root = tmp_path_factory.mktemp("stage2crash")
    built = make_copy_library(root / "legacy", unique_rows=6)
    tree = snapshot_tree(built.lib.root)
    stage1 = root / "stage1"
    run_stage1(built.lib, stage1)
    clean_dir = fresh_copy(stage1, root / "clean")
    code = finish(cli(PROMOTE, clean_dir, batch_size=BATCH))
    clean = snapshot_library(clean_dir, url_for(clean_dir))
    names = count_checkpoints(fresh_copy(stage1, root / "counted"))
    yield Baseline(built, tree, stage1, clean, code, names)
    assert snapshot_tree(built.lib.root) == tree, "the legacy library was modified"


def promoted_per_pending(data_dir: Path) -> dict[str, int]:
    engine = create_engine(url_for(data_dir))
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT source_key, COUNT(*) FROM migration_items"
                " WHERE kind = 'promotion' AND status = 'promoted' GROUP BY source_key"
            )
        ).all()
    engine.dispose()
    return {str(k): int(n) for k, n in rows}


def test_clean_promotion(baseline: Baseline) -> None:
    clean = baseline.clean
    assert baseline.clean_code == 0
    assert clean.pending == ()
    assert not [n for n in clean.file_names() if n.startswith("pending/")]
    original = baseline.built.original.hash_hex
    assert clean.model(original)["meta"]["images_count"] == 2  # merged copy appended its image
    assert len(clean.models) == 1 + len(baseline.built.unique)
    assert orphan_problems(clean) == []
    assert {"image_rendered", "tier_published", "batch_committed"} <= set(baseline.checkpoints)


def test_kill_nine_mid_promotion_then_resume(baseline: Baseline, tmp_path: Path) -> None:
    names = baseline.checkpoints
    points = sorted({1 + (i * (len(names) - 1)) // 11 for i in range(12)})
    points += [i + 1 for i, n in enumerate(names) if n == "batch_committed"]
    points = sorted(set(points))
    failures: list[str] = []
    for n in points:
        data = fresh_copy(baseline.stage1_dir, tmp_path / f"kill{n}")
        assert finish(cli(PROMOTE, data, kill_at=n, batch_size=BATCH)) == -9, (
            f"checkpoint {n} did not kill"
        )
        for _ in range(MAX_RERUNS):
            code = finish(cli(PROMOTE, data, batch_size=BATCH))
            if code != -9:
                break
        snap = snapshot_library(data, url_for(data))
        where = f"kill at {n} ({names[n - 1]})"
        if code != baseline.clean_code:
            failures.append(f"{where}: exit {code}")
        if snap != baseline.clean:
            failures.append(
                f"{where}: differs from the clean run: {snapshot_diff(snap, baseline.clean)}"
            )
        problems = orphan_problems(snap)
        if problems:
            failures.append(f"{where}: {problems[:4]}")
        twice = {k: v for k, v in promoted_per_pending(data).items() if v != 1}
        if twice:
            failures.append(f"{where}: promoted more than once: {twice}")
    assert failures == [], "\n".join(failures)
    assert len(points) >= 12


def test_two_promotions_at_once_promote_each_model_once(baseline: Baseline, tmp_path: Path) -> None:
    data = fresh_copy(baseline.stage1_dir, tmp_path / "both")
    engine = create_engine(url_for(data))
    with engine.connect() as conn:
        pending_ids = {
            str(i) for i in conn.execute(text("SELECT id FROM pending_import")).scalars()
        }
    engine.dispose()
    first, second = (
        cli(PROMOTE, data, batch_size=BATCH),
        cli(PROMOTE, data, batch_size=BATCH),
    )
    codes = [finish(first), finish(second)]
    snap = snapshot_library(data, url_for(data))
    assert codes == [0, 0]
    assert snap == baseline.clean, snapshot_diff(snap, baseline.clean)
    assert promoted_per_pending(data) == {pid: 1 for pid in pending_ids}
    assert orphan_problems(snap) == []
