"""Stage-1 throughput on a 10,000-model legacy library, with ratios measured in the same run.

    .venv/bin/python benchmarks/stage1.py [--models 10000] [--images 1000] [--skip-workers]

1. models/s without images: a library of ``--models`` rows and no preview images.
2. the same number of rows where the first ``--images`` rows have one 1024×1536 JPEG: the
   wall time of the migration against the floor — the sum, over the same images, of the
   plainest tier pipeline (decode + three resizes + three WebP encodes; benchmarks/image_tiers).
3. the speed-up of ``workers=2`` over ``workers=1`` on that library.
Goals: ≥ 2,000 models/s without images, ≤ 1.2× the image floor, ≥ 1.7× with 2 workers.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from image_tiers import floor

from backend.bootstrap import build_service
from backend.config import Settings
from backend.sample.legacy_factory import LegacyLibrary, make_sample_library


def migrate(library: LegacyLibrary, data_dir: Path, workers: int) -> tuple[float, dict[str, int]]:
    """Wall time of a whole stage-1 run into a fresh library, and its counts per state."""
    shutil.rmtree(data_dir, ignore_errors=True)
    service = build_service(Settings(data_dir=data_dir))
    try:
        start = time.perf_counter()
        run = service.start_legacy_run(library.db_path, library.images_dir)
        status = service.run_until_done(run.id, workers=workers)
        elapsed = time.perf_counter() - start
    finally:
        service.close()
    return elapsed, {k: v for k, v in status.counts.items() if v}


def image_floor(library: LegacyLibrary, out: Path) -> tuple[float, int]:
    """Seconds the plainest pipeline needs for every image of the library, and how many."""
    out.mkdir(parents=True, exist_ok=True)
    images = sorted(p for p in library.images_dir.iterdir() if p.is_file())
    start = time.perf_counter()
    for image in images:
        floor(image, out, 4)
    return time.perf_counter() - start, len(images)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--images", type=int, default=1_000)
    parser.add_argument("--skip-workers", action="store_true")
    parser.add_argument("--skip-images", action="store_true", help="only the image-less part")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mm-stage1-") as tmp:
        root = Path(tmp)
        plain = make_sample_library(
            root / "plain", models=args.models, image_size=None, include_cases=False
        )
        wall, counts = migrate(plain, root / "data-plain", 1)
        print(
            f"no images : {args.models} models in {wall:.2f} s = "
            f"{args.models / wall:,.0f} models/s  {counts}  (goal ≥ 2,000/s)"
        )
        if args.skip_images:
            return 0
        t0 = time.perf_counter()
        with_images = make_sample_library(
            root / "images",
            models=args.models,
            image_size=(1024, 1536),
            images_for_first=args.images,
            include_cases=False,
            seed=1,
        )
        print(f"built the image library in {time.perf_counter() - t0:.1f} s")

        floor_s, n_images = image_floor(with_images, root / "floor")
        wall1, counts1 = migrate(with_images, root / "data-w1", 1)
        print(
            f"images    : {n_images} images, floor {floor_s:.1f} s, migration {wall1:.1f} s "
            f"= {wall1 / floor_s:.2f}× floor  {counts1}  (goal ≤ 1.2×)"
        )
        if not args.skip_workers:
            wall2, counts2 = migrate(with_images, root / "data-w2", 2)
            print(
                f"workers=2 : {wall2:.1f} s vs {wall1:.1f} s = {wall1 / wall2:.2f}× speed-up "
                f"{counts2}  (goal ≥ 1.7×)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
