"""The audit (``model-migrate verify``) against the stage-1 migration it checks: time and memory.

    .venv/bin/python benchmarks/audit.py [--models 10000] [--images 0] [--keep DIR]

Builds a legacy library of ``--models`` rows without images (in a child process, so this one
stays small), runs stage 1 into a fresh library as a whole CLI process (``model-migrate
legacy``), then ``model-migrate verify`` (human output) and ``verify --json`` (every row, to
/dev/null), each its own process. Prints each process's wall time and peak RSS (its
``ru_maxrss`` from ``os.wait4``, the rusage that ``resource.getrusage`` reports; Linux counts
the parent's RSS at fork in it, hence the small parent) against the goals of issue 16:
``verify`` ≤ 0.3× the stage-1 time and ≤ 250 MiB RSS at 100,000 models (memory flat: it streams
legacy and library rows in keyset pages). With ``--images N`` a second library of N models with
one 512×768 JPEG each shows the cost of the tier checks (header only, then ``--deep``).
With ``--keep DIR`` the libraries are built in DIR and left there (a later run with the same
DIR and sizes reuses the legacy libraries, and migrates them into fresh data folders), so a
verify can be run again by hand (``MODEL_MIGRATE_DATA_DIR=DIR/data-plain``, e.g. to profile).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from goals import goal, machine

RSS_GOAL_MIB = 250
RATIO_GOAL = 0.3
ROOT = Path(__file__).resolve().parent.parent


def run_cli(args: list[str], data_dir: Path) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, exit code) of one ``model-migrate`` process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODEL_MIGRATE_")}
    env["MODEL_MIGRATE_DATA_DIR"] = str(data_dir)
    start = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", *args], cwd=ROOT, env=env, stdout=sink
        )
        _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def build(root: Path, models: int, image_size: tuple[int, int] | None, seed: int) -> None:
    """Write a sample legacy library under ``root`` (legacy.sqlite3, images/) in a child;
    a library already there (``--keep``) is used as it is."""
    if (root / "legacy.sqlite3").is_file():
        return
    code = (
        "import sys; from pathlib import Path;"
        " from backend.sample.legacy_factory import make_sample_library;"
        f" make_sample_library(Path(sys.argv[1]), models={models}, image_size={image_size!r},"
        f" include_cases=False, seed={seed})"
    )
    subprocess.run([sys.executable, "-c", code, str(root)], cwd=ROOT, check=True)


def measure(root: Path, rows: int, data_dir: Path, label: str, *, deep: bool) -> None:
    """Stage 1, then verify; print times, RSS and the ratios with their goals."""
    shutil.rmtree(data_dir, ignore_errors=True)
    stage1, stage1_rss, code = run_cli(
        ["legacy", str(root / "legacy.sqlite3"), str(root / "images"), "--json"], data_dir
    )
    print(f"{label}: {rows} legacy rows")
    print(f"  stage 1 (legacy)      : {stage1:8.2f} s  {stage1_rss:7.1f} MiB RSS  exit {code}")
    runs = [("verify", ["verify"]), ("verify --json", ["verify", "--json"])]
    if deep:
        runs.append(("verify --deep", ["verify", "--deep"]))
    for name, args in runs:
        wall, rss, code = run_cli(args, data_dir)
        ratio = wall / stage1
        print(
            f"  {name:<22}: {wall:8.2f} s  {rss:7.1f} MiB RSS  exit {code}"
            f"  = {ratio:.3f}x stage 1 (goal ≤ {RATIO_GOAL}x: {_met(ratio <= RATIO_GOAL)});"
            f" RSS goal ≤ {RSS_GOAL_MIB} MiB at 100k: {_met(rss <= RSS_GOAL_MIB)}"
        )
        if name == "verify" and not deep:
            goal(f"verify vs stage 1 at {rows:,} models", ratio, RATIO_GOAL, "×", at_least=False)
            goal(f"verify RSS at {rows:,} models", rss, RSS_GOAL_MIB, "MiB", at_least=False)


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--images", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="build in DIR and leave it there")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mm-audit-") as tmp:
        root = Path(tmp) if args.keep is None else args.keep.resolve()
        start = time.perf_counter()
        plain, images = root / f"plain-{args.models}", root / f"with-images-{args.images}"
        build(plain, args.models, None, 0)
        print(f"built the legacy library in {time.perf_counter() - start:.1f} s")
        measure(plain, args.models, root / "data-plain", "no images", deep=False)
        if args.images:
            build(images, args.images, (512, 768), 1)
            measure(images, args.images, root / "data-images", "with images", deep=True)
    print(machine())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
