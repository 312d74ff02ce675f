"""Throughput of ``sha256_file`` against its floor and ``sha256sum``.

    .venv/bin/python benchmarks/hash_throughput.py [--size-mib 1024] [--repeat 3]

Writes two different files of ``--size-mib`` MiB in a temp dir (removed at the end), reads them
once to warm the page cache, then prints best-of-``--repeat`` MB/s (1 MB = 10^6 bytes) of:
  floor      hashlib.sha256 over the same bytes already in memory (one update call)
  ours       sha256_file(path)
  reference  the coreutils ``sha256sum`` binary (wall time of the subprocess)
  2 threads  sha256_file on both files at once, one thread each (aggregate MB/s)
Goals: ours ≥ 0.9× floor; two threads ≥ 1.7× one file.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from backend.database.migration.hashing import DEFAULT_BUFFER_SIZE, sha256_file

MIB = 1024 * 1024


def make_file(path: Path, size: int, salt: int) -> None:
    block = bytearray(os.urandom(16 * MIB))
    with path.open("wb", buffering=0) as fh:
        written, n = 0, 0
        while written < size:
            block[:8] = (salt * 1_000_003 + n).to_bytes(8, "little")  # no two blocks alike
            chunk = memoryview(block)[: min(len(block), size - written)]
            fh.write(chunk)
            written += len(chunk)
            n += 1


def read_all(path: Path) -> bytearray:
    data = bytearray(path.stat().st_size)
    with path.open("rb", buffering=0) as fh:
        view, got = memoryview(data), 0
        while n := fh.readinto(view[got:]):
            got += n
    return data


def floor_in_memory(path: Path, repeat: int) -> tuple[float, str]:
    """Best time of hashlib.sha256 over the file's bytes held in memory, and the digest."""
    data = read_all(path)
    seconds = best(repeat, lambda: hashlib.sha256(data).hexdigest())
    return seconds, hashlib.sha256(data).hexdigest()


def best(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def sha256sum(path: Path) -> str:
    out = subprocess.run(["sha256sum", str(path)], check=True, capture_output=True, text=True)
    return out.stdout.split()[0]


def two_threads(a: Path, b: Path) -> None:
    results: dict[Path, str] = {}

    def work(p: Path) -> None:
        results[p] = sha256_file(p)

    threads = [threading.Thread(target=work, args=(p,)) for p in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if len(results) != 2:
        raise RuntimeError("a hashing thread failed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where to write the temp files")
    args = parser.parse_args(argv)
    size = args.size_mib * MIB
    mb = size / 1e6

    load = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="hashbench-", dir=args.dir))
    try:
        a, b = tmp / "a.bin", tmp / "b.bin"
        make_file(a, size, 1)
        make_file(b, size, 2)
        read_all(b)  # warm the page cache
        floor, expect = floor_in_memory(a, args.repeat)  # also warms it for a
        if sha256_file(a) != expect or sha256sum(a) != expect:
            raise SystemExit("digests disagree")

        ours = best(args.repeat, lambda: sha256_file(a))
        ref = best(args.repeat, lambda: sha256sum(a))
        cpu0, wall0 = time.process_time(), time.perf_counter()
        pair = best(args.repeat, lambda: two_threads(a, b))
        cores = (time.process_time() - cpu0) / (time.perf_counter() - wall0)

        print(f"load average before: {load[0]:.2f}, after: {os.getloadavg()[0]:.2f}")
        print(
            f"file size: {args.size_mib} MiB, buffer {DEFAULT_BUFFER_SIZE // MIB} MiB, "
            f"best of {args.repeat}, {os.cpu_count()} CPUs, page cache warm"
        )
        print(f"floor  hashlib.sha256 in memory : {mb / floor:8.0f} MB/s")
        print(f"ours   sha256_file              : {mb / ours:8.0f} MB/s")
        print(f"ref    sha256sum                : {mb / ref:8.0f} MB/s")
        print(
            f"ours   2 files, 2 threads       : {2 * mb / pair:8.0f} MB/s aggregate "
            f"({cores:.2f} cores busy on average)"
        )
        print(f"ratio  ours / floor             : {floor / ours:8.2f}x   (goal >= 0.90)")
        print(f"ratio  ours / sha256sum         : {ref / ours:8.2f}x")
        print(
            f"ratio  2 threads / 1 file       : {(2 * mb / pair) / (mb / ours):8.2f}x   "
            "(goal >= 1.70)"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
