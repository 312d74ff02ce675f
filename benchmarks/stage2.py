"""Stage-2 throughput: pending models with small files, scanned then promoted.

    .venv/bin/python benchmarks/stage2.py [--models 2000] [--file-kib 64] [--repeat 2]

Writes ``--models`` distinct small model files, registers them as pending rows with
``scan`` (not timed), then times ``promote_batch`` of all of them into an empty library
(hashing, insert, tags, promote, every transition an event). The reference is the v2 app's
own promotion code, measured on this machine in issue 16: 351 models/s.
Goal: ≥ 2,000 models/s (≥ 5× the v2 code).

With ``--big-files N`` it also promotes N files of ``--big-mib`` MiB (page cache warm) with one
worker and with two, against the floor ``hashlib.sha256`` over the same bytes in memory.
Goals: one worker ≥ 0.85× the floor; two workers ≥ 1.7× one.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

from backend.bootstrap import build_service
from backend.config import Settings

V2_REFERENCE = 351.0
GOAL = 2_000.0


def write_models(folder: Path, count: int, size: int) -> None:
    """``count`` model files of ``size`` bytes with distinct content."""
    folder.mkdir(parents=True)
    block = os.urandom(size)
    for n in range(count):
        (folder / f"model_{n:05d}.safetensors").write_bytes(n.to_bytes(8, "little") + block)


def promote_once(
    models: Path, data_dir: Path, workers: int = 1
) -> tuple[float, int, dict[str, int]]:
    """Seconds to promote every scanned model, how many succeeded, and the run's counts."""
    shutil.rmtree(data_dir, ignore_errors=True)
    service = build_service(Settings(data_dir=data_dir))
    try:
        service.scan([models])
        start = time.perf_counter()
        result = service.promote_batch(None, workers=workers)
        elapsed = time.perf_counter() - start
        assert result.run_id is not None
        counts = {k: v for k, v in service.run_status(result.run_id).counts.items() if v}
    finally:
        service.close()
    return elapsed, len(result.success), counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=2_000)
    parser.add_argument("--file-kib", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--big-files", type=int, default=0)
    parser.add_argument("--big-mib", type=int, default=1024)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mm-stage2-") as tmp:
        root = Path(tmp)
        write_models(root / "models" / "loras", args.models, args.file_kib * 1024)
        best = float("inf")
        for _ in range(args.repeat):
            wall, promoted, counts = promote_once(root / "models", root / "data")
            best = min(best, wall)
        rate = args.models / best
        print(
            f"stage 2   : {args.models} pending models of {args.file_kib} KiB promoted in "
            f"{best:.2f} s (best of {args.repeat}) = {rate:,.0f} models/s  "
            f"{promoted} promoted {counts}"
        )
        print(
            f"ratio     : {rate / V2_REFERENCE:.2f}× the v2 code's {V2_REFERENCE:.0f}/s "
            f"(goal ≥ {GOAL:,.0f}/s = {GOAL / V2_REFERENCE:.1f}×)"
        )
        if args.big_files:
            big_files(root / "big", args.big_files, args.big_mib)
    return 0


def big_files(root: Path, count: int, mib: int) -> None:
    """Hashing throughput of promotion on big files: 1 and 2 workers against the floor."""
    folder = root / "models" / "checkpoints"
    folder.mkdir(parents=True)
    chunk = os.urandom(16 * 1024 * 1024)
    for n in range(count):
        with open(folder / f"big_{n}.safetensors", "wb") as fh:
            fh.write(n.to_bytes(8, "little"))
            for _ in range(mib // 16):
                fh.write(chunk)
    total = sum(p.stat().st_size for p in folder.iterdir())
    data = (folder / "big_0.safetensors").read_bytes()
    start = time.perf_counter()
    hashlib.sha256(data).hexdigest()
    floor = len(data) / (time.perf_counter() - start) / 1e6
    del data
    for p in folder.iterdir():  # warm the page cache
        p.read_bytes()
    one, _, counts1 = promote_once(root / "models", root / "data1", workers=1)
    two, _, counts2 = promote_once(root / "models", root / "data2", workers=2)
    rate1, rate2 = total / one / 1e6, total / two / 1e6
    print(f"big files : {count} × {mib} MiB; floor hashlib in memory {floor:,.0f} MB/s")
    print(f"1 worker  : {rate1:,.0f} MB/s = {rate1 / floor:.2f}× floor (goal ≥ 0.85)  {counts1}")
    print(f"2 workers : {rate2:,.0f} MB/s = {one / two:.2f}× one (goal ≥ 1.7)  {counts2}")


if __name__ == "__main__":
    raise SystemExit(main())
