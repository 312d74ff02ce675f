"""Run every issue-16 benchmark one after the other and print their GOAL lines as one table.

    .venv/bin/python benchmarks/run_all.py [--postgres URL] [--quick]

Each script's own output is printed as it runs; the table at the end (Markdown, for the
README's performance section) holds one row per goal. ``--quick`` uses small sizes to check
that everything runs; the README figures come from a full run.

The scripts and every process they start (CLI commands, worker processes) run as an installed
program does: with this project's bytecode compiled first and cached (``__pycache__``, ignored
by git) even when the environment sets ``PYTHONDONTWRITEBYTECODE``, which would make each
process compile the project's modules again at start-up. (Not a private
``PYTHONPYCACHEPREFIX``: Python then ignores the bytecode pip installed for every library, and
the first process measured would compile all of them.)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def plan(postgres: str | None, quick: bool) -> list[list[str]]:
    """The scripts and their arguments, in the order they run."""
    models = ["--models", "2000"] if quick else []
    stage1 = ["stage1.py", *models, *(["--images", "40"] if quick else [])]
    if postgres:
        stage1 += ["--postgres", postgres]
    return [
        stage1,
        ["stage2.py", *models],
        ["stage2.py", "--big-files", *(["--size-mib", "64"] if quick else [])],
        ["audit.py", "--models", "2000" if quick else "100000"],
        ["cli_startup.py", *(["--items", "2000"] if quick else [])],
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--postgres", metavar="URL", help="also measure on PostgreSQL")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    args = parser.parse_args(argv)
    goals: list[str] = []
    failed: list[str] = []
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    print("bytecode compiled and cached (PYTHONDONTWRITEBYTECODE not passed on)")
    sources = [str(HERE.parent / "backend"), str(HERE.parent / "workflows")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *sources], env=env, check=True)
    for script, *script_args in plan(args.postgres, args.quick):
        if not (HERE / script).exists():
            failed.append(f"{script}: not found")
            continue
        print(f"\n=== {script} {' '.join(script_args)}", flush=True)
        proc = subprocess.Popen(
            [sys.executable, str(HERE / script), *script_args],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            if line.startswith("GOAL |"):
                goals.append(line.strip())
        if proc.wait() != 0:
            failed.append(f"{script}: exit {proc.returncode}")
    print("\n| goal | measured | target | |\n|---|---|---|---|")
    for line in goals:
        _, name, measured, target, verdict = (part.strip() for part in line.split("|"))
        print(f"| {name} | {measured} | {target} | {verdict} |")
    for problem in failed:
        print(f"not measured: {problem}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
