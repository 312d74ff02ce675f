"""kill -9 of `model-migrate legacy` at 20+ checkpoints, resumed: equal to a clean run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from backend.database.migration import drive as drive_module
from backend.database.migration.steps import publish as step_support
from backend.sample.legacy_factory import LegacyLibrary, make_legacy_library
from tests.helpers.crash_cli import cli, finish, snapshot_diff
from tests.helpers.library_snapshot import (
    LibrarySnapshot,
    orphan_problems,
    snapshot_library,
    snapshot_tree,
)
from tests.helpers.service import make_service

pytestmark = pytest.mark.slow

BATCH = "4"
MAX_RERUNS = 6


def run_cli(args: list[str], data_dir: Path, kill_at: int | None = None) -> int:
    return finish(cli(args, data_dir, kill_at))


def resume_until_done(args: list[str], data_dir: Path) -> int:
    for _ in range(MAX_RERUNS):
        code = run_cli(args, data_dir)
        if code in (0, 3):
            return code
    raise AssertionError(f"not done after {MAX_RERUNS} reruns")


@dataclass
class Baseline:
    lib: LegacyLibrary
    legacy_tree: dict[str, str]
    clean: LibrarySnapshot
    clean_code: int
    checkpoints: list[str]


def count_checkpoints(lib: LegacyLibrary, data_dir: Path) -> list[str]:
    """Names of the checkpoints a clean run passes, in order (in-process, same batch size)."""
    names: list[str] = []
    mp = pytest.MonkeyPatch()
    mp.setattr(step_support, "checkpoint", names.append)
    mp.setattr(drive_module, "checkpoint", names.append)
    try:
        service = make_service(data_dir)
        try:
            run = service.start_legacy_run(lib.db_path, lib.images_dir)
            # like the CLI, which always passes its progress reporter
            service.run_until_done(run.id, batch_size=int(BATCH), on_progress=lambda _: None)
        finally:
            service.close()
    finally:
        mp.undo()
    return names


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Baseline]:
    root = tmp_path_factory.mktemp("stage1crash")
    lib = make_legacy_library(root / "legacy")
    tree = snapshot_tree(lib.root)
    clean_dir = root / "clean"
    code = run_cli(legacy_args(lib), clean_dir)
    clean = snapshot_library(clean_dir, f"sqlite:///{clean_dir}/hikaze_model_manager.db")
    names = count_checkpoints(lib, root / "counted")
    yield Baseline(lib, tree, clean, code, names)
    assert snapshot_tree(lib.root) == tree, "the legacy library was modified"


def legacy_args(lib: LegacyLibrary) -> list[str]:
    paths = [str(lib.db_path), str(lib.images_dir)]
    return ["legacy", *paths, "--batch-size", BATCH, "--workers", "1", "--json"]


def kill_points(names: list[str]) -> list[int]:
    """24+ checkpoint numbers (1-based) spread over the run, every tier_published kind included."""
    total = len(names)
    spread = {1 + (i * (total - 1)) // 19 for i in range(20)}
    published = [i + 1 for i, n in enumerate(names) if n == "tier_published"]
    committed = [i + 1 for i, n in enumerate(names) if n == "batch_committed"]
    rendered = [i + 1 for i, n in enumerate(names) if n == "image_rendered"]
    extra = published[:: max(1, len(published) // 6)] + committed[:3] + rendered[::6]
    return sorted(spread | set(extra))


def test_clean_run_passes_enough_checkpoints(baseline: Baseline) -> None:
    names = baseline.checkpoints
    assert baseline.clean_code == 3  # the duplicate-hash row waits for a decision
    assert {"image_rendered", "tier_published", "batch_committed"} <= set(names)
    assert len(kill_points(names)) >= 20
    assert orphan_problems(baseline.clean) == []
    assert len(baseline.clean.models) == len(baseline.lib.rows) - 3


def test_kill_nine_anywhere_then_resume_gives_the_clean_library(
    baseline: Baseline, tmp_path: Path
) -> None:
    points = kill_points(baseline.checkpoints)
    assert len(points) >= 20
    landed: set[str] = set()
    failures: list[str] = []
    for n in points:
        data = tmp_path / f"kill{n}"
        code = run_cli(legacy_args(baseline.lib), data, kill_at=n)
        assert code == -9, f"checkpoint {n} ({baseline.checkpoints[n - 1]}) did not kill"
        landed.add(baseline.checkpoints[n - 1])
        final = resume_until_done(legacy_args(baseline.lib), data)
        snap = snapshot_library(data, f"sqlite:///{data}/hikaze_model_manager.db")
        if final != baseline.clean_code:
            failures.append(f"kill at {n}: exit {final}")
        if snap != baseline.clean:
            diff = snapshot_diff(snap, baseline.clean)
            failures.append(f"kill at {n} ({baseline.checkpoints[n - 1]}): {diff}")
        problems = orphan_problems(snap)
        if problems:
            failures.append(f"kill at {n}: {problems[:5]}")
        leftovers = [
            p
            for p in (data / "images").rglob("*")
            if p.is_file() and (".staging" in p.parts or p.name.endswith(".tmp"))
        ]
        if leftovers:
            failures.append(f"kill at {n}: leftovers {leftovers[:3]}")
    assert failures == []
    assert {"image_rendered", "tier_published", "batch_committed"} <= landed
    assert snapshot_tree(baseline.lib.root) == baseline.legacy_tree
