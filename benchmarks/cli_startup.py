"""CLI start-up (issue 16, goal 7): ``--help`` and ``status RUN --json`` on a 100k-item library.

    .venv/bin/python benchmarks/cli_startup.py [--items 100000] [--repeat 5] [--keep DIR]

Builds a legacy library of ``--items`` image-less rows and migrates it (stage 1, in-process)
once, then prints the best-of-``--repeat`` wall time of each command run as a subprocess (the
installed console script, after one run that is not counted) against its goal, and as a ratio
to the floor: ``python -c pass`` measured in the same run; and, for ``status``, to the
libraries it needs: SQLAlchemy Core with its SQLite dialect and pydantic imported (collector
paused) and nothing else. The CPU time (user + sys) of the fastest run is printed beside it:
on a shared machine the wall time includes waiting for a core, the CPU time does not.

The goal lines measure the program as installed: Python's compiled bytecode is cached (in a
private ``PYTHONPYCACHEPREFIX``, so the checkout is not written to). The same commands are then
timed as this checkout runs them: with ``PYTHONDONTWRITEBYTECODE=1`` in the environment and no
``__pycache__`` in the tree, the project's own modules are compiled on every start.
``--keep DIR`` builds into DIR and reuses it on the next run.
Goals: ``--help`` ≤ 250 ms, ``status RUN --json`` ≤ 300 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from goals import goal, machine

from backend.bootstrap import build_service
from backend.config import Settings
from backend.sample.legacy_factory import make_sample_library

SCRIPT = Path(sys.executable).with_name("model-migrate")
STACK = (
    "import gc; gc.disable(); import sqlalchemy, sqlalchemy.dialects.sqlite;"
    " from pydantic import BaseModel; gc.freeze()"
)


def build(root: Path, items: int) -> int:
    """The id of a finished stage-1 run of ``items`` rows under ``root`` (built if missing)."""
    marker = root / "run.json"
    if marker.is_file():
        return int(json.loads(marker.read_text(encoding="utf-8"))["run_id"])
    start = time.perf_counter()
    legacy = make_sample_library(root / "legacy", models=items, image_size=None)
    service = build_service(Settings(data_dir=root / "data"))
    try:
        run = service.start_legacy_run(legacy.db_path, legacy.images_dir)
        status = service.run_until_done(run.id, workers=1)
    finally:
        service.close()
    print(f"built a run of {status.total:,} items in {time.perf_counter() - start:.0f} s")
    marker.write_text(json.dumps({"run_id": run.id}), encoding="utf-8")
    return run.id


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def best_of(command: list[str], env: dict[str, str], repeat: int) -> tuple[float, float]:
    """Wall and CPU time in ms of the fastest of ``repeat`` runs of ``command`` (exit 0),
    after one that is not counted (it fills the bytecode cache, if there is one)."""
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    runs = []
    for _ in range(repeat):
        cpu = _children_cpu()
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        runs.append((wall * 1000, (_children_cpu() - cpu) * 1000))
    return min(runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build into (and reuse) this folder")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mm-cli-") as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        run_id = build(root, args.items)
        checkout = {k: v for k, v in os.environ.items() if not k.startswith("MODEL_MIGRATE_")}
        checkout["MODEL_MIGRATE_DATA_DIR"] = str(root / "data")
        installed = {k: v for k, v in checkout.items() if k != "PYTHONDONTWRITEBYTECODE"}
        installed["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        print(machine())
        floor, floor_cpu = best_of([sys.executable, "-c", "pass"], installed, args.repeat)
        print(f"floor, python -c pass: {floor:.0f} ms wall, {floor_cpu:.0f} ms cpu")
        stack, stack_cpu = best_of([sys.executable, "-c", STACK], installed, args.repeat)
        print(f"the stack, {STACK!r}: {stack:.0f} ms wall, {stack_cpu:.0f} ms cpu")
        commands = (
            ("model-migrate --help", ["--help"], 250),
            (f"status RUN --json, {args.items:,} items", ["status", str(run_id), "--json"], 300),
        )
        for name, args_, target in commands:
            wall, cpu = best_of([str(SCRIPT), *args_], installed, args.repeat)
            stack_ratio = f", {wall / stack:.2f}× the stack" if "status" in name else ""
            print(
                f"{name}: {wall:.0f} ms wall, {cpu:.0f} ms cpu = {wall / floor:.1f}× the floor"
                + stack_ratio
            )
            goal(f"CLI {name}", wall, target, "ms", at_least=False)
        flag = os.environ.get("PYTHONDONTWRITEBYTECODE", "unset")
        for name, args_, _target in commands:
            wall, cpu = best_of([str(SCRIPT), *args_], checkout, args.repeat)
            print(
                f"{name}, as this checkout runs it (PYTHONDONTWRITEBYTECODE={flag}):"
                f" {wall:.0f} ms wall, {cpu:.0f} ms cpu"
            )
        print(machine())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
